/**
 * What the reliability tests check after the dust settles: the LRU invariants of src/check.ts, plus
 * what a quiet cache must also satisfy — every entry's info decodes, its data matches its digests,
 * its LRU size is what the info says, no journal or lock is left behind — and where leftovers sit.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'vitest';
import { checkCache } from '../src/check.js';
import { loadTargetHash, targetDigestOfFile } from '../src/digest.js';
import { readTextIfExists } from '../src/fsutil.js';
import { decodeInfo, entrySize } from '../src/info.js';
import { ENTRY_DATA, ENTRY_INFO, ENTRY_LRU, adminPaths, shardPaths } from '../src/layout.js';
import { decodeEntryLru } from '../src/records.js';
import { listAdminDir, readReservations, walkEntries, walkTree } from '../src/walk.js';
import { cli } from './helpers.js';

const newTargetHash = await loadTargetHash();

/** Every problem found in a cache nobody is using right now; [] when all holds. */
export function cacheProblems(root: string): string[] {
  const { problems, shards } = checkCache(root);
  const out = [...problems];
  for (let s = 0; s < shards; s++) {
    const sp = shardPaths(root, s);
    if (fs.existsSync(sp.journal)) out.push(`shard ${s}: a journal is left: ${fs.readFileSync(sp.journal, 'utf8').slice(0, 200)}`);
    if (fs.existsSync(sp.lock)) out.push(`shard ${s}: its lock is left: ${fs.readFileSync(sp.lock, 'utf8')}`);
  }
  for (const { id } of walkEntries(root)) out.push(...entryProblems(root, id));
  return out;
}

function entryProblems(root: string, id: string): string[] {
  const dir = path.join(root, id);
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, ENTRY_INFO), 'utf8');
  } catch {
    return [`${id}: no info`];
  }
  const info = decodeInfo(text, id); // throws on a torn info: that is a failure too
  const out: string[] = [];
  const lruText = readTextIfExists(path.join(dir, ENTRY_LRU));
  if (lruText === undefined) return [`${id}: no lru record`];
  const lru = decodeEntryLru(lruText, id);
  if (lru.size !== entrySize(info, text)) out.push(`${id}: LRU size ${lru.size}, info says ${entrySize(info, text)}`);
  for (const t of info.targets) {
    if (t.kind !== 'file') continue;
    const f = path.join(dir, ENTRY_DATA, ...t.path.split('/'));
    if (!fs.existsSync(f)) out.push(`${id}: ${t.path} is missing`);
    else if (targetDigestOfFile(f, newTargetHash) !== t.digest) out.push(`${id}: ${t.path} does not match its digest`);
  }
  return out;
}

export interface Leftovers {
  tmp: string[];
  trash: string[];
  reserved: string[];
  /** deps-hint temp symlinks, and anything else in the job dirs that is neither an entry nor a hint */
  other: string[];
}

/** What a crash can leave for gc: build dirs, trash, reservations, half-made hints. */
export function leftovers(root: string): Leftovers {
  const shards = fs.readdirSync(adminPaths(root).shards).length;
  const reserved: string[] = [];
  for (let s = 0; s < shards; s++) for (const r of readReservations(root, s)) reserved.push(`${s}/${r.token}`);
  const other = [...walkTree(root)].flatMap((t) => (t.kind === 'hint-tmp' || t.kind === 'foreign' ? [`${t.kind} ${t.path}`] : []));
  return { tmp: listAdminDir(root, 'tmp'), trash: listAdminDir(root, 'trash'), reserved, other };
}

export const NO_LEFTOVERS: Leftovers = { tmp: [], trash: [], reserved: [], other: [] };

/** Where an optional module lives once built; tests that need it skip their part without. */
export function distModule(name: string): string | undefined {
  const p = path.resolve(import.meta.dirname, '..', 'dist', `${name}.js`);
  return fs.existsSync(p) ? p : undefined;
}

/** Whether the built CLI has a command (repair, gc, stats come in their own time). */
export function hasCommand(name: string): boolean {
  return cli([name, '--help']).code === 0;
}

/** `gc` (when there) clears every leftover and breaks nothing, then `repair --dry-run` (when there) finds nothing. */
export function expectCleanByAdminTools(root: string): void {
  if (hasCommand('gc')) {
    const r = cli(['gc', '--wait', '--cache', root]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(leftovers(root)).toEqual(NO_LEFTOVERS);
    expect(cacheProblems(root)).toEqual([]);
  }
  if (hasCommand('repair')) {
    const r = cli(['repair', '--dry-run', '--json', '--cache', root]);
    expect(r.stdout + r.stderr).not.toMatch(/internal error/);
    expect(r.json().problems).toEqual([]);
    expect(r.code).toBe(0);
  }
}
