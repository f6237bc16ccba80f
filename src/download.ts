import { join } from 'node:path';
import type { Cache } from './cache.js';
import { DepHasher, depKey } from './deps.js';
import { CorruptEntryError, DircacheError, PermissionError } from './errors.js';
import { isNotFound } from './fsutil.js';
import { depsListHex } from './info.js';
import { jobToPath } from './jobpath.js';
import { ENTRY_DATA } from './layout.js';
import { recordAccess } from './lru.js';
import { entryMatches, findMatch, hintedEntry, listCandidates, removeEntry } from './entries.js';
import { restoreTargets } from './workspace.js';
import { nowMs } from './clock.js';
import { loadTargetHash } from './digest.js';

export interface DownloadRequest {
  job: string;
  /** Only used to find the deps hint; an entry's recorded deps decide. */
  deps?: readonly string[];
  inputs?: Record<string, string>;
}

export interface DownloadResult {
  hit: boolean;
  job: string;
  entry?: string;
  files: number;
  bytes: number;
  /** Run time recorded with the entry: what this hit saved. */
  exeTime: number;
  elapsedMs: number;
  warnings: string[];
}

/**
 * Find an entry whose recorded deps and inputs match this workspace, record the access under the
 * shard's lock (one write), then restore its targets outside the lock, verifying every digest.
 * Misses never take the lock. A damaged entry is a miss with a warning, and is removed.
 */
export async function download(cache: Cache, req: DownloadRequest, hasher = new DepHasher(cache.digests)): Promise<DownloadResult> {
  const t0 = nowMs();
  const warnings: string[] = [];
  const result = (hit: boolean, more: Partial<DownloadResult> = {}): DownloadResult => ({
    hit, job: req.job, files: 0, bytes: 0, exeTime: 0, ...more, elapsedMs: nowMs() - t0, warnings,
  });
  // The restore verifies targets with a wasm hash, which V8 compiles on a helper thread: start it
  // now, while the entry is found and checked, instead of waiting for it then. (The restore
  // awaits it; this catch only keeps a miss from reporting a failure nobody waits for.)
  loadTargetHash().catch(() => {});
  const jobPath = jobToPath(req.job);
  const shard = cache.shardOf(jobPath);
  const { root } = cache.repo();
  const want = { job: req.job, inputs: req.inputs ?? {} };
  const hint = req.deps?.length ? depsListHex(req.deps.map((d) => depKey(root, cache.cwd, d))) : undefined;
  // the hinted entry alone first: the common hit then costs a readlink, not a listing of the job dir
  const hinted = hint ? hintedEntry(cache, jobPath, hint) : undefined;
  function* batches() {
    if (hinted) yield [hinted];
    yield listCandidates(cache, jobPath, hinted ? [hinted] : []);
  }
  try {
    for (let names of batches()) while (names.length) {
      const m = findMatch(cache, jobPath, names, (info) => entryMatches(hasher, root, info, want), (w) => warnings.push(w));
      if (!m) break;
      names = names.slice(names.indexOf(m.id.slice(jobPath.length + 1)) + 1);
      if (!(await recordHit(cache, shard, m.id, req.job, warnings))) continue; // evicted or replaced since we read it
      try {
        const got = await restoreTargets(root, join(cache.root, m.id, ENTRY_DATA), m.info.targets);
        return result(true, { entry: m.id, ...got, exeTime: m.info.exeTime });
      } catch (e) {
        if (isNotFound(e)) continue; // evicted while we copied: the workspace is untouched
        if (e instanceof CorruptEntryError) {
          warnings.push(`entry ${m.id} is corrupt and was removed: ${e.message}`);
          await removeEntry(cache, shard, m.id, 'corrupt');
          return result(false);
        }
        if (e instanceof DircacheError && e.code === 'EUNSAFE') {
          warnings.push(`not restoring ${m.id}: ${e.message}`);
          return result(false);
        }
        throw e;
      }
    }
    return result(false);
  } finally {
    hasher.save();
  }
}

/**
 * Record the access under the shard's lock. A client that may read the share but not write it (a
 * read-only mount, a cache of another group) still gets its hit; the LRU just does not see it.
 */
async function recordHit(cache: Cache, shard: number, id: string, job: string, warnings: string[]): Promise<boolean> {
  try {
    return await cache.withShardLock(shard, `hit ${job}`, () => recordAccess(cache.policy, id, Date.now()));
  } catch (e) {
    if (!(e instanceof PermissionError)) throw e;
    warnings.push(`hit not recorded in the LRU: ${e.message}`);
    return true;
  }
}
