import { basename, join } from 'node:path';
import { setImmediate as yieldToTimers } from 'node:timers/promises';
import type { Cache } from './cache.js';
import { readShardList } from './check.js';
import { shortHex } from './digest.js';
import { CorruptEntryError, DircacheError } from './errors.js';
import { exists, lstatIfExists, readTextIfExists, removeTree, uniqueName } from './fsutil.js';
import { decodeInfo, entrySize } from './info.js';
import { jobShardIndex, jobToPath } from './jobpath.js';
import { type JournalOp, replayJournal, runJournal } from './journal.js';
import { ADMIN_DIR, ENTRY_DATA, ENTRY_INFO, ENTRY_LRU, jobPathOfEntry, parseEntryName, shardPaths } from './layout.js';
import { type EntryLru, type Head, decodeEntryLru, encodeEntryLru, encodeHead } from './records.js';
import { NO_PROGRESS, type Progress } from './progress.js';
import { type TreeItem, countEntries, orphanTmpDirs, ownerMayBeAlive, readHint, readReservations, walkTree } from './walk.js';

export interface RepairOptions {
  dryRun?: boolean;
  /** Reservations and tmp dirs whose owner cannot be checked count as dead once this old (ms). */
  graceMs: number;
  progress?: Progress;
}

export interface RepairResult {
  dryRun: boolean;
  /** One line per problem found (and fixed, unless dryRun). */
  problems: string[];
  /** Valid entries kept, and their bytes. */
  entries: number;
  bytes: number;
}

interface Valid {
  size: number;
  /** last use: orders the rebuilt list */
  key: number;
  access: number;
  rec?: EntryLru;
}

/**
 * Rebuild every shard from what is on disk, under its lock (one shard at a time, the lock kept alive
 * by a heartbeat): valid entries are kept in the order they were last used, everything else in
 * the job dirs is removed, links, head and total are rewritten where they are wrong. Each change goes
 * through the shard's journal, so an interrupted repair is finished by the next lock holder.
 */
export async function repair(cache: Cache, opts: RepairOptions): Promise<RepairResult> {
  const r: RepairResult = { dryRun: !!opts.dryRun, problems: [], entries: 0, bytes: 0 };
  const progress = opts.progress ?? NO_PROGRESS;
  const shards = cache.settings.shards;
  progress.grow(countEntries(cache.root, shards));
  const jobDirs = jobDirsByShard(cache.root, shards);
  for (let shard = 0; shard < shards; shard++) {
    const found = await repairShard(cache, shard, jobDirs.get(shard) ?? new Set(), opts, progress);
    r.problems.push(...found.problems.map((p) => `shard ${shard}: ${p}`));
    r.entries += found.entries;
    r.bytes += found.bytes;
  }
  r.problems.push(...repairGlobal(cache, opts));
  return r;
}

/**
 * The dirs holding something, by shard: one walk of the whole tree, outside any lock. Each shard's
 * repair then lists only its own dirs, under its lock, instead of walking the tree once per shard.
 */
function jobDirsByShard(root: string, shards: number): Map<number, Set<string>> {
  const byShard = new Map<number, Set<string>>();
  let last = '';
  for (const item of walkTree(root)) {
    if (!item.jobPath || item.jobPath === last) continue;
    last = item.jobPath;
    const shard = jobShardIndex(item.jobPath, shards);
    let dirs = byShard.get(shard);
    if (!dirs) byShard.set(shard, (dirs = new Set()));
    dirs.add(item.jobPath);
  }
  return byShard;
}

async function repairShard(cache: Cache, shard: number, walked: Set<string>, opts: RepairOptions, progress: Progress) {
  const { root, policy } = cache;
  const problems: string[] = [];
  const ops: JournalOp[] = [];
  const trashed: string[] = [];
  const deadTmp: string[] = [];
  const toTrash = (rel: string) => {
    const t = join(ADMIN_DIR, 'trash', uniqueName());
    ops.push({ op: 'rename', from: rel, to: t });
    trashed.push(t);
  };
  const valid = new Map<string, Valid>();
  await cache.withShardLock(shard, 'repair', async (held) => {
    held.startHeartbeat(Math.max(200, Math.floor(cache.settings.lockStale / 4)));
    const sp = shardPaths(root, shard);
    if (exists(sp.journal)) {
      problems.push('the journal of an update whose holder died is still there');
      if (!opts.dryRun) replayJournal(policy, sp.journal);
    }
    const list = readShardList(root, shard);
    // A job dir made since the walk holds entries only if an upload published them, under this
    // lock, so the list names them.
    const jobDirs = new Set(walked);
    for (const id of list.order) jobDirs.add(jobPathOfEntry(id));
    const hints: Array<Extract<TreeItem, { kind: 'hint' }>> = [];
    let n = 0;
    for (const dir of [...jobDirs].sort()) for (const item of walkTree(root, dir, false)) {
      // the heartbeat is a timer: let it run during a long walk
      if (++n % 256 === 0) await yieldToTimers();
      if (item.kind === 'hint') hints.push(item);
      else if (item.kind === 'hint-tmp') {
        problems.push(`${item.path}: a hint's temp link left by a dead process`);
        ops.push({ op: 'unlink', path: item.path });
      } else if (item.kind === 'foreign') {
        problems.push(`${item.path}: not something dircache makes`);
        toTrash(item.path);
      } else {
        const v = validateEntry(root, item.jobPath, item.id);
        progress.tick(1, typeof v === 'string' ? 0 : v.size);
        if (typeof v === 'string') {
          problems.push(`${item.id}: ${v}`);
          toTrash(item.id);
          continue;
        }
        const rec = list.records.get(item.id) ?? readRecord(root, item.id);
        if (!rec) problems.push(`${item.id}: its lru record is missing or damaged`);
        const key = rec ? Math.max(rec.access, rec.placed) : v.created;
        valid.set(item.id, { size: v.size, key, access: rec?.access ?? key, rec });
      }
    }
    for (const h of hints) {
      const target = readHint(root, h.path);
      if (target === undefined || valid.has(`${h.jobPath}/${target}`)) continue;
      // a hint to an evicted entry is normal (eviction leaves them): removed, but no problem
      if (!parseEntryName(target)) problems.push(`${h.path}: a hint to '${target}', which is not an entry name`);
      else if (exists(join(root, h.jobPath, target))) problems.push(`${h.path}: a hint to the damaged entry ${target}`);
      ops.push({ op: 'unlink', path: h.path });
    }
    let reservedBytes = 0;
    const now = Date.now();
    for (const x of readReservations(root, shard)) {
      const path = join(ADMIN_DIR, 'shards', String(shard), 'reserved', x.token);
      if (x.res && ownerMayBeAlive(x.res, x.res.start, now, opts.graceMs)) {
        reservedBytes += x.res.bytes;
        continue;
      }
      problems.push(x.res ? `reservation ${x.token}: its upload is gone` : `reservation ${x.token}: ${x.error}`);
      ops.push({ op: 'unlink', path });
      if (x.res) deadTmp.push(x.res.tmp);
    }
    const clean =
      list.problems.length === 0 &&
      list.order.length === valid.size &&
      list.order.every((id) => valid.get(id)?.size === list.records.get(id)!.size);
    let head: Head;
    if (clean) {
      head = { ...list.head!, entries: valid.size, total: sum(valid) + reservedBytes };
    } else {
      problems.push(...list.problems);
      head = relink(valid, reservedBytes, ops);
      problems.push(`LRU list rebuilt from ${valid.size} valid entr${valid.size === 1 ? 'y' : 'ies'}`);
    }
    const old = list.head;
    if (!old || encodeHead(old) !== encodeHead(head)) {
      if (clean) problems.push(`LRU head said ${old?.entries} entries and ${old?.total} bytes; the truth is ${head.entries} and ${head.total}`);
      ops.push({ op: 'write', path: join(ADMIN_DIR, 'shards', String(shard), 'lru'), text: encodeHead(head) });
    }
    if (opts.dryRun) return;
    held.assertHeld();
    runJournal(policy, sp.journal, ops);
  });
  if (!opts.dryRun) for (const t of [...trashed, ...deadTmp]) removeTree(join(root, t));
  return { problems, entries: valid.size, bytes: sum(valid) };
}

/** New links for the valid entries, oldest used first; writes only the records that change. */
function relink(valid: Map<string, Valid>, reservedBytes: number, ops: JournalOp[]): Head {
  const sorted = [...valid].sort((a, b) => a[1].key - b[1].key || (a[0] < b[0] ? -1 : 1));
  sorted.forEach(([id, v], i) => {
    // placed = last use, so nobody gets a second chance for a read the order already reflects
    const rec: EntryLru = { newer: sorted[i + 1]?.[0] ?? null, older: sorted[i - 1]?.[0] ?? null, size: v.size, placed: v.key, access: v.access };
    const text = encodeEntryLru(rec);
    if (!v.rec || encodeEntryLru(v.rec) !== text) ops.push({ op: 'write', path: join(id, ENTRY_LRU), text });
  });
  return { newest: sorted.at(-1)?.[0] ?? null, oldest: sorted[0]?.[0] ?? null, total: sum(valid) + reservedBytes, entries: sorted.length };
}

function sum(valid: Map<string, Valid>): number {
  let n = 0;
  for (const v of valid.values()) n += v.size;
  return n;
}

/** Outside any shard: stray files at the root, tmp dirs no upload owns. */
function repairGlobal(cache: Cache, opts: RepairOptions): string[] {
  const { root } = cache;
  const problems: string[] = [];
  const remove = (path: string) => {
    if (!opts.dryRun) removeTree(path);
  };
  for (const item of walkTree(root, '', false)) {
    if (item.kind !== 'foreign') continue; // nothing else is found at the root
    problems.push(`${item.path}: not something dircache makes`);
    remove(join(root, item.path));
  }
  for (const name of orphanTmpDirs(root, cache.settings.shards, Date.now(), opts.graceMs)) {
    problems.push(`${ADMIN_DIR}/tmp/${name}: no upload owns it`);
    remove(join(root, ADMIN_DIR, 'tmp', name));
  }
  return problems;
}

/** Why an entry dir is not a valid entry, or its size and creation time. Full re-hashing is verify's. */
export function validateEntry(root: string, jobPath: string, id: string): { size: number; created: number } | string {
  const text = readTextIfExists(join(root, id, ENTRY_INFO));
  if (text === undefined) return 'no info record (an incomplete entry)';
  let info;
  try {
    info = decodeInfo(text, 'info');
  } catch (e) {
    if (e instanceof CorruptEntryError) return e.message;
    throw e;
  }
  let home: string;
  try {
    home = jobToPath(info.job);
  } catch (e) {
    if (e instanceof DircacheError) return `its job name is invalid: ${e.message}`;
    throw e;
  }
  if (home !== jobPath) return `its info is for job ${JSON.stringify(info.job)}, which lives in ${home}`;
  if (parseEntryName(basename(id))!.keyHex !== shortHex(info.repoKey)) return 'its name does not match the repo key in its info';
  const data = join(root, id, ENTRY_DATA);
  if (!lstatIfExists(data)?.isDirectory()) return 'no data dir (an incomplete entry)';
  for (const t of info.targets) {
    if (t.kind === 'symlink') continue; // kept in info only
    const st = lstatIfExists(join(data, ...t.path.split('/')));
    if (t.kind === 'dir' && !st?.isDirectory()) return `data/${t.path} is not a directory`;
    if (t.kind === 'file' && (!st?.isFile() || st.size !== t.size)) return `data/${t.path} is missing or not ${t.size} bytes`;
  }
  return { size: entrySize(info, text), created: info.created };
}

function readRecord(root: string, id: string): EntryLru | undefined {
  const text = readTextIfExists(join(root, id, ENTRY_LRU));
  if (text === undefined) return undefined;
  try {
    return decodeEntryLru(text, id);
  } catch (e) {
    if (e instanceof CorruptEntryError) return undefined;
    throw e;
  }
}
