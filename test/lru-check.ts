/**
 * Test-side invariant check of a cache's LRU, read straight from disk: each shard's list is linked
 * consistently both ways, the head's count and total add up (entries + live reservations), the total
 * keeps to the shard's budget, and every entry dir on disk is in exactly one list, its own shard's.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'vitest';
import { readCacheConfig } from '../src/config.js';
import { jobShardIndex } from '../src/jobpath.js';
import { ADMIN_DIR, ENTRY_LRU, adminPaths, jobPathOfEntry, parseEntryName, shardPaths } from '../src/layout.js';
import { type EntryLru, decodeEntryLru, decodeHead, decodeReservation } from '../src/records.js';
import { parseVersionFile } from '../src/version.js';

export interface ShardState {
  /** Entry ids from the newest end to the oldest. */
  list: string[];
  recs: Map<string, EntryLru>;
  total: number;
  reserved: number;
}

/** Walk one shard's list both ways and check it against its head; returns what it found. */
export function checkShard(root: string, shard: number, budget?: number): ShardState {
  const sp = shardPaths(root, shard);
  const head = decodeHead(fs.readFileSync(sp.head, 'utf8'), sp.head);
  const recs = new Map<string, EntryLru>();
  const list: string[] = [];
  let prev: string | null = null;
  for (let id = head.newest; id !== null; ) {
    expect(recs.has(id), `shard ${shard}: ${id} appears twice in the list (cycle)`).toBe(false);
    const file = path.join(root, id, ENTRY_LRU);
    const r = decodeEntryLru(fs.readFileSync(file, 'utf8'), file);
    expect(r.newer, `shard ${shard}: ${id}.newer`).toBe(prev);
    recs.set(id, r);
    list.push(id);
    prev = id;
    id = r.older;
  }
  expect(head.oldest, `shard ${shard}: head.oldest`).toBe(prev);
  expect(head.entries, `shard ${shard}: head.entries`).toBe(list.length);
  let reserved = 0;
  for (const name of fs.readdirSync(sp.reserved)) {
    const file = path.join(sp.reserved, name);
    reserved += decodeReservation(fs.readFileSync(file, 'utf8'), file).bytes;
  }
  const sizes = [...recs.values()].reduce((n, r) => n + r.size, 0);
  expect(head.total, `shard ${shard}: head total = entries ${sizes} + reservations ${reserved}`).toBe(sizes + reserved);
  if (budget !== undefined) expect(head.total, `shard ${shard}: total within budget`).toBeLessThanOrEqual(budget);
  return { list, recs, total: head.total, reserved };
}

/** Every entry dir under the root (outside LMAKE/), by id. */
export function entryDirs(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const d of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      if (!d.isDirectory() || (rel === '' && d.name === ADMIN_DIR)) continue;
      const id = rel ? `${rel}/${d.name}` : d.name;
      if (parseEntryName(d.name)) out.push(id);
      else walk(id);
    }
  };
  walk('');
  return out.sort();
}

/** Check every shard of a cache; returns each shard's state. No journal may be left behind. */
export function checkCache(root: string): ShardState[] {
  const a = adminPaths(root);
  const { shards } = parseVersionFile(fs.readFileSync(a.version, 'utf8'), a.version);
  const budget = Math.floor(readCacheConfig(root).size / shards);
  const states: ShardState[] = [];
  const linked: string[] = [];
  for (let i = 0; i < shards; i++) {
    expect(fs.existsSync(shardPaths(root, i).journal), `shard ${i}: journal left behind`).toBe(false);
    const s = checkShard(root, i, budget);
    for (const id of s.list) expect(jobShardIndex(jobPathOfEntry(id), shards), `${id} is in shard ${i}`).toBe(i);
    states.push(s);
    linked.push(...s.list);
  }
  expect(linked.sort(), 'entries on disk = entries in the lists').toEqual(entryDirs(root));
  return states;
}
