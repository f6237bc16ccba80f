import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import type { Cache } from './cache.js';
import { DepHasher, recordDeps } from './deps.js';
import { type NewTargetHash, loadTargetHash, shortHex, targetDigestOfFile } from './digest.js';
import { LockTimeoutError, UploadError } from './errors.js';
import { exists, fsyncPath, mkdirp, publishChanges, removeTree, uniqueName, writeNew, applyPerm, permBits } from './fsutil.js';
import { type Info, type Target, depsListHex, encodeInfo, entrySize, sameTargets } from './info.js';
import { jobToPath } from './jobpath.js';
import { ADMIN_DIR, ENTRY_DATA, ENTRY_INFO, type Which, entryName, hintName } from './layout.js';
import type { Reservation } from './records.js';
import type { ShardTxn } from './lru.js';
import { defaultRepoKey } from './repo.js';
import { type FoundTarget, collectTargets, copyHashing } from './workspace.js';
import { entryMatchesDeps, findMatch, listCandidates } from './entries.js';
import { formatSize } from './size.js';
import { nowMs } from './clock.js';

export interface UploadRequest {
  job: string;
  /** Files, symlinks or dirs (recursively), relative to the cwd. */
  targets: readonly string[];
  deps?: readonly string[];
  inputs?: Record<string, string>;
  /** Default: the settings' repo key, else `<repo root> <HEAD sha>`. */
  repoKey?: string;
  /** Seconds the job took (what a hit will save). */
  exeTime?: number;
}

export interface UploadResult {
  uploaded: boolean;
  job: string;
  entry?: string;
  which?: Which;
  /** Why nothing was stored: an equal entry was already there (or appeared meanwhile), or the client may not write (read-only/off mode). */
  reason?: 'exists' | 'disabled';
  files: number;
  bytes: number;
  evicted: number;
  elapsedMs: number;
  warnings: string[];
}

// Room for the info record, reserved before we know its exact size.
const infoEstimate = (deps: number, targets: number) => 4096 + deps * 160 + targets * 200;

/**
 * Reserve room under the lock, build the entry in LMAKE/tmp outside it, then publish it under the
 * lock as the key's `first` (if none) or `last` (replacing the previous last). The job's own files
 * are only read.
 */
export async function upload(cache: Cache, req: UploadRequest, hasher = new DepHasher(cache.digests)): Promise<UploadResult> {
  const t0 = nowMs();
  const warnings: string[] = [];
  const jobPath = jobToPath(req.job);
  const shard = cache.shardOf(jobPath);
  const { root } = cache.repo();
  const repoKey = req.repoKey ?? cache.settings.repoKey ?? (await defaultRepoKey(cache.cwd));
  const found = collectTargets(root, cache.cwd, req.targets);
  const deps = recordDeps(hasher, root, cache.cwd, req.deps ?? []);
  hasher.save();
  const want = { job: req.job, inputs: req.inputs ?? {} };
  const base = { job: req.job, files: found.filter((t) => t.kind === 'file').length, evicted: 0, warnings };
  const done = (r: Partial<UploadResult> & { uploaded: boolean; bytes: number }): UploadResult => ({ ...base, ...r, elapsedMs: nowMs() - t0 });

  const reserveBytes = found.reduce((n, t) => n + t.size, 0) + infoEstimate(deps.length, found.length);
  if (reserveBytes > cache.budget) {
    throw new UploadError(
      'ETOOLARGE',
      `entry for ${req.job} needs ${formatSize(reserveBytes)}, more than a shard's budget of ${formatSize(cache.budget)} (size ${formatSize(cache.settings.size)} / ${cache.settings.shards} shards); nothing stored`,
    );
  }

  const seen = listCandidates(cache, jobPath);
  const already = findMatch(cache, jobPath, seen, (info) => entryMatchesDeps(info, want, deps), (w) => warnings.push(w));
  if (already) {
    checkDeterministic(found, already.info.targets, already.id, await loadTargetHash(), warnings);
    return done({ uploaded: false, reason: 'exists', entry: already.id, bytes: 0 });
  }

  const token = uniqueName();
  const tmp = join(ADMIN_DIR, 'tmp', token);
  const res: Reservation = { token, host: hostname(), pid: process.pid, bytes: reserveBytes, start: Date.now(), tmp };
  const evictedBefore = await cache.updateShard(shard, `reserve ${req.job}`, (txn) => {
    const ev = txn.makeRoom(reserveBytes, Date.now());
    txn.reserve(res);
    return ev.length;
  });

  // Drop our build dir and give the reserved bytes back (unless gc already reclaimed them).
  // gc reclaims reservations older than its grace period, and with them their build dirs.
  const reclaimed = () => new UploadError('ERECLAIMED', `upload of ${req.job} took longer than gc's grace period and its reservation was reclaimed; nothing stored`);
  const abandon = async (e: unknown) => {
    removeTree(join(cache.root, tmp));
    const held = await cache.updateShard(shard, `unreserve ${req.job}`, (txn) => txn.releaseIfHeld(res));
    return held ? e : reclaimed();
  };
  let info: Info, text: string;
  try {
    ({ info, text } = await buildEntry(cache, join(cache.root, tmp), found, await loadTargetHash(), { job: req.job, repoKey, inputs: want.inputs, deps, exeTime: req.exeTime ?? 0 }));
    mkdirp(cache.policy, join(cache.root, jobPath));
  } catch (e) {
    throw await abandon(e);
  }

  const size = entrySize(info, text);
  const keyHex = shortHex(repoKey);
  const publish = cache.updateShard(shard, `upload ${req.job}`, (txn) => {
    if (!txn.releaseIfHeld(res)) return { reclaimed: true as const };
    const fresh = listCandidates(cache, jobPath).filter((n) => !seen.includes(n) || n.startsWith(`key-${keyHex}-`));
    const dup = findMatch(cache, jobPath, fresh, (i) => entryMatchesDeps(i, want, deps), (w) => warnings.push(w));
    if (dup) return { dup };
    const which: Which = exists(join(cache.root, jobPath, entryName(keyHex, 'first'))) ? 'last' : 'first';
    const id = `${jobPath}/${entryName(keyHex, which)}`;
    // out of the list before making room, so eviction cannot pick (and unlink) it a second time
    if (which === 'last' && exists(join(cache.root, id))) replaceEntry(txn, id);
    const evicted = txn.makeRoom(size, Date.now()).length;
    txn.rename(tmp, id);
    const now = Date.now();
    txn.pushNewest(id, size, now, now);
    txn.symlink(join(jobPath, hintName(depsListHex(deps.map((d) => d[0])))), entryName(keyHex, which));
    return { id, which, evicted };
  });
  const outcome = await publish.catch(async (e: unknown) => {
    throw e instanceof LockTimeoutError ? e : await abandon(e).catch(() => e);
  });
  if ('reclaimed' in outcome) {
    removeTree(join(cache.root, tmp));
    throw reclaimed();
  }
  if ('dup' in outcome && outcome.dup) {
    removeTree(join(cache.root, tmp));
    if (!sameTargets(info.targets, outcome.dup.info.targets)) warnings.push(nondeterministic(req.job, outcome.dup.id));
    return done({ uploaded: false, reason: 'exists', entry: outcome.dup.id, bytes: 0 });
  }
  const { id, which, evicted } = outcome as { id: string; which: Which; evicted: number };
  return done({ uploaded: true, entry: id, which, bytes: size, evicted: evictedBefore + evicted });
}

function replaceEntry(txn: ShardTxn, id: string): void {
  try {
    txn.remove(id);
  } catch {
    // an unlinked (damaged) last: it holds no bytes in the total; just take it out of the way
    txn.rename(id, join(ADMIN_DIR, 'trash', uniqueName()));
  }
}

async function buildEntry(
  cache: Cache,
  dir: string,
  found: readonly FoundTarget[],
  newHash: NewTargetHash,
  meta: Pick<Info, 'job' | 'repoKey' | 'inputs' | 'deps' | 'exeTime'>,
): Promise<{ info: Info; text: string }> {
  const p = cache.policy;
  const data = join(dir, ENTRY_DATA);
  mkdirp(p, data);
  const targets: Target[] = [];
  for (const t of found) {
    const dst = join(data, ...t.path.split('/'));
    if (t.kind === 'dir') {
      mkdirp(p, dst);
    } else if (t.kind === 'file') {
      mkdirp(p, join(dst, '..'));
      const got = await copyHashing(t.abs, dst, 0o644 | permBits(p.perm, 'file'), newHash(), { sizeHint: t.size });
      if (p.fileSync === 'sync') fsyncPath(dst);
      targets.push({ path: t.path, kind: 'file', mode: t.mode, size: got.size, digest: got.digest, link: '' });
      continue;
    }
    targets.push({ path: t.path, kind: t.kind, mode: t.mode, size: 0, digest: '', link: t.link });
  }
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = String(process.getuid?.() ?? '');
  }
  const info: Info = { ...meta, targets, host: hostname(), user, created: Date.now() };
  const text = encodeInfo(info);
  writeNew(p, join(dir, ENTRY_INFO), text);
  applyPerm(p, dir, 'dir');
  publishChanges(p, [join(dir, ENTRY_INFO)]);
  return { info, text };
}

function checkDeterministic(found: readonly FoundTarget[], theirs: readonly Target[], id: string, newHash: NewTargetHash, warnings: string[]): void {
  const ours = found.map((t): Target => ({ ...t, digest: t.kind === 'file' ? targetDigestOfFile(t.abs, newHash) : '' }));
  if (!sameTargets(ours, theirs)) warnings.push(nondeterministic(ours[0]?.path ?? '', id));
}

function nondeterministic(job: string, id: string): string {
  return `job ${job} is not deterministic: its targets differ from those of the equal entry ${id} already cached`;
}
