import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Cache } from './cache.js';
import { CorruptEntryError } from './errors.js';
import { isNotFound, lookupFresh, readTextIfExists, readlinkIfExists, uniqueName } from './fsutil.js';
import { type Dep, type Info, decodeInfo, sameInputs } from './info.js';
import { ADMIN_DIR, ENTRY_INFO, HINT_PREFIX, parseEntryName } from './layout.js';
import { type DepHasher, depsMatch } from './deps.js';

/** Reading a job's entries: candidates, their info, whether one matches a workspace. */

/** The entry the deps hint points at (a hint only: the caller still checks it matches). */
export function hintedEntry(cache: Cache, jobPath: string, hint: string): string | undefined {
  const link = join(cache.root, jobPath, HINT_PREFIX + hint);
  const target = lookupFresh(cache.policy, link, () => readlinkIfExists(link));
  return target && parseEntryName(target) ? target : undefined;
}

/** Entry names in a job dir, `last` before `first` (the fresher result), less those in `skip`. */
export function listCandidates(cache: Cache, jobPath: string, skip: readonly string[] = []): string[] {
  const jobDir = join(cache.root, jobPath);
  const all = lookupFresh(cache.policy, join(jobDir, 'x'), () => {
    try {
      return readdirSync(jobDir);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  });
  const names = (all ?? []).filter((n) => parseEntryName(n) && !skip.includes(n));
  return names.sort((a, b) => Number(b.endsWith('-last')) - Number(a.endsWith('-last')));
}

/** An entry's info, or undefined if it is gone; a damaged one throws CorruptEntryError. */
export function readInfo(cache: Cache, id: string): { info: Info; text: string } | undefined {
  const path = join(cache.root, id, ENTRY_INFO);
  // the job dir was revalidated to find this entry, and an entry never changes once published
  const text = lookupFresh(cache.policy, path, () => readTextIfExists(path, true), false);
  if (text === undefined) return undefined;
  return { info: decodeInfo(text, path), text };
}

export interface Wanted {
  job: string;
  inputs: Record<string, string>;
}

/** Would this entry hit in the workspace at `root`? (its recorded deps decide) */
export function entryMatches(hasher: DepHasher, root: string, info: Info, want: Wanted): boolean {
  return info.job === want.job && sameInputs(info.inputs, want.inputs) && depsMatch(hasher, root, info.deps);
}

/** Same as entryMatches, against deps digests already recorded (an upload's own). */
export function entryMatchesDeps(info: Info, want: Wanted, deps: readonly Dep[]): boolean {
  if (info.job !== want.job || !sameInputs(info.inputs, want.inputs)) return false;
  const mine = new Map(deps);
  return info.deps.every(([k, d]) => mine.has(k) && mine.get(k) === d);
}

/**
 * The first matching entry among the candidates; damaged ones are reported through `warn` and
 * skipped (repair removes them).
 */
export function findMatch(
  cache: Cache,
  jobPath: string,
  names: readonly string[],
  matches: (info: Info) => boolean,
  warn: (msg: string) => void,
): { id: string; info: Info; text: string } | undefined {
  for (const name of names) {
    const id = `${jobPath}/${name}`;
    let got;
    try {
      got = readInfo(cache, id);
    } catch (e) {
      if (!(e instanceof CorruptEntryError)) throw e;
      warn(`skipping damaged entry: ${e.message}`);
      continue;
    }
    if (got && matches(got.info)) return { id, ...got };
  }
  return undefined;
}

/** Remove an entry through its shard's LRU, so the head total stays right. */
export async function removeEntry(cache: Cache, shard: number, id: string, why: string): Promise<number> {
  return cache.updateShard(shard, `remove ${id} (${why})`, (txn) => {
    try {
      return txn.remove(id);
    } catch (e) {
      if (!(e instanceof CorruptEntryError) && !isNotFound(e)) throw e;
      // not (or no longer) linked: nothing counted for it; just take it out of sight
      txn.rename(id, join(ADMIN_DIR, 'trash', uniqueName()));
      return 0;
    }
  });
}
