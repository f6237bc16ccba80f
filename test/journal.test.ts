import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Cache } from '../src/cache.js';
import { cleanup } from '../src/cleanup.js';
import type { FsPolicy } from '../src/fsutil.js';
import { initCache } from '../src/init.js';
import { type JournalOp, decodeJournal, encodeJournal, replayJournal, runJournal } from '../src/journal.js';
import { shardPaths } from '../src/layout.js';
import { ShardTxn } from '../src/lru.js';
import { encodeEntryLru, encodeHead } from '../src/records.js';
import { checkCache } from './lru-check.js';
import { snapshot, tempDir } from './helpers.js';

let base: string;
beforeEach(() => {
  base = tempDir('dircache-journal-');
});
afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

const A = 'job/a/key-00000000000000aa-first';
const B = 'job/b/key-00000000000000bb-last';
const TMP = 'LMAKE/tmp/upload-1';
const TRASH = 'LMAKE/trash/old-b';
const HINT = 'job/b/deps_hint-0123456789abcdef';

/** A cache holding A (older) and B (newer), and a new build of B waiting in tmp/. */
function pristine(name: string): FsPolicy {
  const root = path.join(base, name);
  initCache(root, { size: '10M', shards: 1 });
  const p: FsPolicy = { root, perm: 'none', fileSync: 'none' };
  for (const [id, size] of [[A, 10], [B, 20]] as const) {
    fs.mkdirSync(path.join(root, id), { recursive: true });
    fs.writeFileSync(path.join(root, id, 'info'), `old ${id}`);
    const t = new ShardTxn(p, 0, 1000);
    t.pushNewest(id, size, 1, 1);
    t.commit();
  }
  fs.mkdirSync(path.join(root, TMP));
  fs.writeFileSync(path.join(root, TMP, 'info'), 'new b');
  return p;
}

/** What an upload replacing B commits: B to trash, the new B published and linked newest, the hint. */
const replaceB: JournalOp[] = [
  { op: 'rename', from: B, to: TRASH },
  { op: 'rename', from: TMP, to: B },
  { op: 'write', path: `${A}/lru`, text: encodeEntryLru({ newer: B, older: null, size: 10, placed: 1, access: 1 }) },
  { op: 'write', path: `${B}/lru`, text: encodeEntryLru({ newer: null, older: A, size: 25, placed: 2, access: 2 }) },
  { op: 'write', path: 'LMAKE/shards/0/lru', text: encodeHead({ newest: B, oldest: A, total: 35, entries: 2 }) },
  { op: 'symlink', path: HINT, target: 'key-00000000000000bb-last' },
];

/** The state after the update runs to its end without a crash. */
function finished(): Record<string, string> {
  const p = pristine('finished');
  runJournal(p, path.join(base, 'finished-journal'), replaceB);
  return snapshot(p.root);
}

describe('journal', () => {
  it('encodes and decodes; a torn, altered or foreign journal decodes to nothing', () => {
    const text = encodeJournal(replaceB);
    expect(decodeJournal(text)).toEqual(replaceB);
    for (let cut = 0; cut < text.length; cut += 37) expect(decodeJournal(text.slice(0, cut))).toBeUndefined();
    expect(decodeJournal(text.replace('new', 'nEw'))).toBeUndefined();
    expect(decodeJournal(text.replace('total', 'totaL'))).toBeUndefined();
    expect(decodeJournal('hello\n')).toBeUndefined();
  });

  it('a full update leaves the shard consistent: the new B linked, the old one in trash', () => {
    const want = finished();
    expect(want[`${B}/info`]).toBe(`file 644 ${Buffer.from('new b').toString('base64')}`);
    expect(want[`${TRASH}/info`]).toBe(`file 644 ${Buffer.from(`old ${B}`).toString('base64')}`);
    expect(want[HINT]).toBe('link key-00000000000000bb-last');
  });

  it('a holder that crashed at any point after writing its journal is finished by the replay', () => {
    const want = finished();
    for (let done = 0; done <= replaceB.length; done++) {
      const p = pristine(`crash${done}`);
      // the holder applied `done` ops, then died: its journal is still there
      for (const op of replaceB.slice(0, done)) runJournal(p, path.join(base, `j${done}`), [op]);
      const journal = shardPaths(p.root, 0).journal;
      fs.writeFileSync(journal, encodeJournal(replaceB));
      expect(replayJournal(p, journal)).toBe(replaceB.length);
      expect(snapshot(p.root), `crash after ${done} ops`).toEqual(want);
      checkCache(p.root);
    }
  });

  it("gc's cleanup redoes a dead holder's journal before deleting the trash it made, so a later redo cannot trash the new entry", async () => {
    const p = pristine('cleanup');
    // the holder applied every op and died before removing its journal
    for (const op of replaceB) runJournal(p, path.join(base, 'j'), [op]);
    const journal = shardPaths(p.root, 0).journal;
    fs.writeFileSync(journal, encodeJournal(replaceB));
    expect(await cleanup(Cache.open({ cache: p.root, cwd: p.root, env: {} }), { graceMs: 0 })).toMatchObject({ trash: 1 });
    expect(fs.existsSync(journal)).toBe(false);
    replayJournal(p, journal); // what the next client would do, had the journal been left
    const want = finished();
    for (const k of Object.keys(want)) if (k.startsWith(`${TRASH}/`)) delete want[k];
    expect(snapshot(p.root)).toEqual(want);
  });

  it('replay is idempotent: replaying twice (a breaker that died before removing the journal) changes nothing more', () => {
    const want = finished();
    const p = pristine('twice');
    const journal = shardPaths(p.root, 0).journal;
    fs.writeFileSync(journal, encodeJournal(replaceB));
    replayJournal(p, journal);
    fs.writeFileSync(journal, encodeJournal(replaceB));
    replayJournal(p, journal);
    expect(snapshot(p.root)).toEqual(want);
    expect(fs.existsSync(journal)).toBe(false);
  });

  it('a torn journal (the holder died while writing it) is ignored and removed; nothing else changes', () => {
    const p = pristine('torn');
    const journal = shardPaths(p.root, 0).journal;
    const before = snapshot(p.root);
    const text = encodeJournal(replaceB);
    fs.writeFileSync(journal, text.slice(0, Math.floor(text.length / 2)));
    expect(replayJournal(p, journal)).toBe(0);
    expect(snapshot(p.root)).toEqual(before);
    expect(replayJournal(p, journal)).toBe(0); // no journal at all
    checkCache(p.root);
  });

  it('a record write into an entry dir that is gone is skipped, and the ops after it still run', () => {
    const p = pristine('gone');
    const journal = shardPaths(p.root, 0).journal;
    const ops: JournalOp[] = [
      { op: 'rename', from: 'LMAKE/tmp/vanished', to: 'job/c/key-00000000000000cc-first' },
      { op: 'write', path: 'job/c/key-00000000000000cc-first/lru', text: 'never written\n' },
      { op: 'unlink', path: `${TMP}/info` },
    ];
    fs.writeFileSync(journal, encodeJournal(ops));
    expect(replayJournal(p, journal)).toBe(3);
    expect(fs.existsSync(path.join(p.root, 'job/c'))).toBe(false);
    expect(fs.existsSync(path.join(p.root, TMP, 'info'))).toBe(false);
    expect(fs.existsSync(journal)).toBe(false);
  });
});
