import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import type { Cache } from './cache.js';
import { type NewTargetHash, loadTargetHash, targetDigestOfFile } from './digest.js';
import { CorruptEntryError } from './errors.js';
import { exists, isNotFound } from './fsutil.js';
import type { Target } from './info.js';
import { ENTRY_DATA } from './layout.js';
import { readInfo, removeEntry } from './entries.js';
import { NO_PROGRESS, type Progress } from './progress.js';
import { walkEntries } from './walk.js';

export interface VerifyOptions {
  /** Only entries whose job name matches (see globToRegExp). */
  pattern?: RegExp;
  /** Remove corrupt entries through the LRU. */
  fix?: boolean;
  progress?: Progress;
}

export interface VerifyResult {
  checked: number;
  bytes: number;
  corrupt: Array<{ id: string; job?: string; problem: string }>;
  removed: number;
}

/** Re-hash every file of every (matching) entry against its info. */
export async function verify(cache: Cache, opts: VerifyOptions): Promise<VerifyResult> {
  const r: VerifyResult = { checked: 0, bytes: 0, corrupt: [], removed: 0 };
  const progress = opts.progress ?? NO_PROGRESS;
  const newHash = await loadTargetHash();
  for (const { jobPath, id } of walkEntries(cache.root)) {
    let problem: string | undefined;
    let job: string | undefined;
    let bytes = 0;
    try {
      const got = readInfo(cache, id);
      if (!got) continue; // evicted meanwhile
      job = got.info.job;
      if (opts.pattern && !opts.pattern.test(job)) continue;
      const checked = rehash(join(cache.root, id, ENTRY_DATA), got.info.targets, newHash);
      if (checked === undefined) continue;
      if (typeof checked === 'string') problem = checked;
      else bytes = checked;
    } catch (e) {
      if (!(e instanceof CorruptEntryError)) throw e;
      if (opts.pattern) continue; // no job name to match against; repair removes it
      problem = e.message;
    }
    if (!exists(join(cache.root, id))) continue; // evicted while we read it: not corrupt
    r.checked++;
    r.bytes += bytes;
    progress.grow(r.checked);
    progress.tick(1, bytes);
    if (problem === undefined) continue;
    r.corrupt.push({ id, job, problem });
    if (opts.fix) {
      await removeEntry(cache, cache.shardOf(jobPath), id, 'corrupt');
      r.removed++;
    }
  }
  return r;
}

/** Bytes checked, a problem, or undefined if the entry went away meanwhile. */
function rehash(data: string, targets: readonly Target[], newHash: NewTargetHash): number | string | undefined {
  let bytes = 0;
  for (const t of targets) {
    if (t.kind !== 'file') continue;
    const path = join(data, ...t.path.split('/'));
    try {
      const st = lstatSync(path);
      if (!st.isFile()) return `data/${t.path} is not a regular file`;
      if (st.size !== t.size) return `data/${t.path} is ${st.size} bytes, its info says ${t.size}`;
      const digest = targetDigestOfFile(path, newHash);
      if (digest !== t.digest) return `data/${t.path} does not match its recorded digest (${digest}, expected ${t.digest})`;
    } catch (e) {
      if (!isNotFound(e)) throw e;
      if (!exists(data)) return undefined;
      return `data/${t.path} is missing`;
    }
    bytes += t.size;
  }
  return bytes;
}
