/**
 * Test-side use of the invariant checker (src/check.ts): fail the test on any problem it finds or on
 * a journal left behind, and hand back each shard's list for assertions on order and totals.
 */
import * as fs from 'node:fs';
import { expect } from 'vitest';
import { checkCache as check, readShardList } from '../src/check.js';
import { shardPaths } from '../src/layout.js';
import type { EntryLru } from '../src/records.js';
import { readReservations, walkEntries } from '../src/walk.js';

export interface ShardState {
  /** Entry ids from the newest end to the oldest. */
  list: string[];
  recs: Map<string, EntryLru>;
  total: number;
  reserved: number;
}

/** Each shard's list is consistent both ways, its head adds up and keeps its budget, every entry on disk is listed. */
export function checkCache(root: string): ShardState[] {
  const r = check(root);
  expect(r.problems).toEqual([]);
  return Array.from({ length: r.shards }, (_, i) => {
    expect(fs.existsSync(shardPaths(root, i).journal), `shard ${i}: journal left behind`).toBe(false);
    const l = readShardList(root, i);
    const reserved = readReservations(root, i).reduce((n, x) => n + (x.res?.bytes ?? 0), 0);
    return { list: l.order, recs: l.records, total: l.head!.total, reserved };
  });
}

/** Every entry dir under the root, by id, sorted. */
export function entryDirs(root: string): string[] {
  return [...walkEntries(root)].map((e) => e.id).sort();
}
