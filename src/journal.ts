import { readFileSync, renameSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { sha256Hex } from './digest.js';
import { type FsPolicy, exists, isNotFound, publishChanges, uniqueName, writeAtomic, writeInPlace, removeTree } from './fsutil.js';

/**
 * A redo log for a shard's multi-file metadata update. The holder writes the whole update here
 * (atomically) before touching anything; every op is idempotent, so whoever breaks a dead holder's
 * lock replays the log and the shard is as if the holder had finished. Paths are relative to the root.
 */
export type JournalOp =
  | { op: 'write'; path: string; text: string } // small record, rewritten in place
  | { op: 'rename'; from: string; to: string } // `to` is a name nothing else takes: if it exists, this op was done
  | { op: 'unlink'; path: string }
  | { op: 'symlink'; path: string; target: string }; // replace atomically

const MAGIC = 'dircache-journal 1';

export function encodeJournal(ops: readonly JournalOp[]): string {
  const body = JSON.stringify(ops);
  return `${MAGIC} ${sha256Hex(body)}\n${body}\n`;
}

/** undefined for a torn or foreign file: the holder died before its update began, nothing to redo. */
export function decodeJournal(text: string): JournalOp[] | undefined {
  const m = /^dircache-journal 1 ([0-9a-f]{64})\n(.*)\n$/s.exec(text);
  if (!m || sha256Hex(m[2]!) !== m[1]) return undefined;
  try {
    const ops = JSON.parse(m[2]!) as unknown;
    return Array.isArray(ops) ? (ops as JournalOp[]) : undefined;
  } catch {
    return undefined;
  }
}

export function runJournal(p: FsPolicy, journalPath: string, ops: readonly JournalOp[]): void {
  if (ops.length === 0) return;
  if (ops.length > 1) writeAtomic(p, journalPath, encodeJournal(ops));
  applyOps(p, ops, false);
  if (ops.length > 1) unlinkSync(journalPath);
}

/** After breaking a dead holder's lock: finish its update, if it had begun one. Returns ops redone. */
export function replayJournal(p: FsPolicy, journalPath: string): number {
  let text: string;
  try {
    text = readFileSync(journalPath, 'utf8');
  } catch (e) {
    if (isNotFound(e)) return 0;
    throw e;
  }
  const ops = decodeJournal(text);
  if (ops) applyOps(p, ops, true);
  rmSync(journalPath, { force: true });
  return ops?.length ?? 0;
}

/** `replay`: the ops may have been done already, by a holder that died before removing its journal. */
function applyOps(p: FsPolicy, ops: readonly JournalOp[], replay: boolean): void {
  const renamed: string[] = [];
  for (const op of ops) applyOp(p, op, replay, renamed);
  publishChanges(p, renamed);
}

/** A rename done is added to `renamed` (its destination), to be published with the others. */
function applyOp(p: FsPolicy, op: JournalOp, replay: boolean, renamed: string[]): void {
  const abs = (rel: string) => join(p.root, rel);
  switch (op.op) {
    case 'write':
      try {
        writeInPlace(p, abs(op.path), op.text);
      } catch (e) {
        // the record's dir is gone (a stale network view lost the rename before it): nothing to
        // write into; the list's check and repair see the missing entry
        if (!isNotFound(e) || exists(dirname(abs(op.path)))) throw e;
      }
      return;
    case 'rename':
      // On a replay `from` may name a newer dir (a replaced `last` republished by a later op), so
      // whether `to` exists is what tells us this rename was done. The first time through, `to` is
      // a fresh name (a trash dir's, or an entry's checked under the lock): no lookup needed.
      if (replay && exists(abs(op.to))) return;
      try {
        renameSync(abs(op.from), abs(op.to));
      } catch (e) {
        if (isNotFound(e) && !exists(abs(op.from))) return; // gone before us (evicted, or a dropped tmp)
        throw e;
      }
      renamed.push(abs(op.to));
      return;
    case 'unlink':
      try {
        unlinkSync(abs(op.path));
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
      return;
    case 'symlink': {
      const tmp = join(dirname(abs(op.path)), uniqueName('.hint-'));
      symlinkSync(op.target, tmp);
      try {
        renameSync(tmp, abs(op.path));
      } catch (e) {
        removeTree(tmp);
        if (!isNotFound(e)) throw e; // the job dir went away: the hint has nothing to point at
      }
      return;
    }
  }
}
