import { join } from 'node:path';
import { readCacheConfig } from './config.js';
import { CorruptEntryError } from './errors.js';
import { readText, readTextIfExists } from './fsutil.js';
import { unsafeRelativePath } from './info.js';
import { jobShardIndex } from './jobpath.js';
import { ENTRY_LRU, adminPaths, jobPathOfEntry, parseEntryName } from './layout.js';
import { readHead } from './lru.js';
import { type EntryLru, type Head, decodeEntryLru } from './records.js';
import { parseVersionFile } from './version.js';
import { readReservations, walkEntries } from './walk.js';

/**
 * Read-only invariant checks of a cache's LRUs (design §4.4): each shard's list is consistent both
 * ways, its head counts what the list holds plus the reservations, stays within budget, and every
 * entry on disk is in its shard's list. Meant for a quiet cache (tests, repair under the lock):
 * clients working meanwhile show up as passing problems.
 */

/** A shard's list as its links say, newest first, as far as they can be followed. */
export interface ShardList {
  head?: Head;
  order: string[];
  records: Map<string, EntryLru>;
  problems: string[];
}

/** An id read from a link must name an entry dir under the root, never escape it. */
function isEntryId(id: string): boolean {
  const slash = id.lastIndexOf('/');
  return slash > 0 && !unsafeRelativePath(id) && parseEntryName(id.slice(slash + 1)) !== undefined;
}

export function readShardList(root: string, shard: number): ShardList {
  const out: ShardList = { order: [], records: new Map(), problems: [] };
  try {
    out.head = readHead(root, shard);
  } catch (e) {
    out.problems.push(headProblem(e));
    return out;
  }
  const read = (id: string): EntryLru | undefined => {
    let r = out.records.get(id);
    if (r) return r;
    if (!isEntryId(id)) {
      out.problems.push(`link to '${id}', which is not an entry name`);
      return undefined;
    }
    const path = join(root, id, ENTRY_LRU);
    const text = readTextIfExists(path);
    if (text === undefined) {
      out.problems.push(`${id}: listed but its lru record is missing`);
      return undefined;
    }
    try {
      r = decodeEntryLru(text, id);
    } catch (e) {
      if (!(e instanceof CorruptEntryError)) throw e;
      out.problems.push(e.message);
      return undefined;
    }
    out.records.set(id, r);
    return r;
  };
  const follow = (start: string | null, dir: 'older' | 'newer'): string[] => {
    const seen: string[] = [];
    const visited = new Set<string>();
    const back = dir === 'older' ? 'newer' : 'older';
    let prev: string | null = null;
    for (let id = start; id; ) {
      if (visited.has(id)) {
        out.problems.push(`the list loops back to ${id}`);
        break;
      }
      const r = read(id);
      if (!r) break;
      if (r[back] !== prev) out.problems.push(`${id}: its ${back} link is ${r[back] ?? 'none'} but the list reaches it from ${prev ?? 'the head'}`);
      seen.push(id);
      visited.add(id);
      prev = id;
      id = r[dir];
    }
    return seen;
  };
  out.order = follow(out.head.newest, 'older');
  if ((out.order.at(-1) ?? null) !== out.head.oldest) out.problems.push(`head says the oldest is ${out.head.oldest ?? 'none'} but the list from the newest ends at ${out.order.at(-1) ?? 'none'}`);
  const backwards = follow(out.head.oldest, 'newer').reverse();
  if (backwards.join('\0') !== out.order.join('\0')) out.problems.push('the list read from the oldest is not the list read from the newest, reversed');
  out.problems = [...new Set(out.problems)]; // a broken link is met from both ends
  return out;
}

function headProblem(e: unknown): string {
  if (e instanceof CorruptEntryError) return e.message;
  if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'LRU head is missing';
  throw e;
}

/** Problems of one shard, given the entries found on disk for it. */
export function checkShard(root: string, shard: number, shards: number, budget: number, onDisk: readonly string[]): string[] {
  const list = readShardList(root, shard);
  const problems = [...list.problems];
  const reserved = readReservations(root, shard);
  for (const r of reserved) if (r.error) problems.push(`reservation ${r.token}: ${r.error}`);
  if (list.head) {
    const h = list.head;
    const entryBytes = list.order.reduce((n, id) => n + list.records.get(id)!.size, 0);
    const resBytes = reserved.reduce((n, r) => n + (r.res?.bytes ?? 0), 0);
    if (h.entries !== list.order.length) problems.push(`head counts ${h.entries} entries, the list holds ${list.order.length}`);
    if (h.total !== entryBytes + resBytes) problems.push(`head total is ${h.total} bytes, entries hold ${entryBytes} and reservations ${resBytes}`);
    if (h.total > budget) problems.push(`head total ${h.total} exceeds the shard's budget of ${budget} bytes`);
  }
  const disk = new Set(onDisk);
  const listed = new Set(list.order);
  for (const id of list.order) {
    if (jobShardIndex(jobPathOfEntry(id), shards) !== shard) problems.push(`${id}: listed in shard ${shard} but belongs to another shard`);
    if (!disk.has(id)) problems.push(`${id}: listed but not on disk`);
  }
  for (const id of onDisk) if (!listed.has(id)) problems.push(`${id}: on disk but not in the LRU`);
  return problems;
}

export interface CheckResult {
  ok: boolean;
  /** One line each, prefixed by the shard. */
  problems: string[];
  shards: number;
}

/** Check every shard of the cache at `root`. */
export function checkCache(root: string): CheckResult {
  const versionFile = adminPaths(root).version;
  const { shards } = parseVersionFile(readText(versionFile), versionFile);
  const budget = Math.floor(readCacheConfig(root).size / shards);
  const onDisk: string[][] = Array.from({ length: shards }, () => []);
  for (const { jobPath, id } of walkEntries(root)) onDisk[jobShardIndex(jobPath, shards)]!.push(id);
  const problems: string[] = [];
  for (let s = 0; s < shards; s++) for (const p of checkShard(root, s, shards, budget, onDisk[s]!)) problems.push(`shard ${s}: ${p}`);
  return { ok: problems.length === 0, problems, shards };
}
