import { join } from 'node:path';
import type { Cache } from './cache.js';
import { DircacheError } from './errors.js';
import { ADMIN_DIR } from './layout.js';
import { type EntryLru } from './records.js';
import { ShardTxn } from './lru.js';
import { cleanup, moveToTrash, startCleanup } from './cleanup.js';
import { NO_PROGRESS, type Progress } from './progress.js';
import { listAdminDir, orphanTmpDirs, ownerMayBeAlive, readReservations } from './walk.js';

export interface GcOptions {
  /** Bring the whole cache down to this many bytes (at most its size); default its size. */
  target?: number;
  /** Also evict entries neither placed nor read for this long (ms). */
  olderThan?: number;
  /** Leftovers whose owner cannot be checked are removed once this old (ms). */
  graceMs: number;
  dryRun?: boolean;
  /** Do the cleanup (trash, stale hints) before returning, instead of in a detached process. */
  wait?: boolean;
  progress?: Progress;
}

export interface GcResult {
  dryRun: boolean;
  /** Entries evicted and the bytes they held. */
  entries: number;
  bytes: number;
  evicted: string[];
  /** Reservations of dead uploads released, and their bytes. */
  reservations: number;
  reservedBytes: number;
  /** Tmp dirs no upload owns, moved to the trash. */
  tmp: number;
  /** Trash dirs (evicted entries, tmp dirs, earlier updates' leftovers) deleted, or left to the cleanup. */
  trash: number;
  /** Trash dirs the cleanup process (pid cleanupPid) has yet to delete: 0 with `wait`. */
  trashPending: number;
  cleanupPid?: number;
  /** Removed hints to entries that are gone, and hint temp links of dead processes: counted with `wait` or dryRun only. */
  hints: number;
  hintTmp: number;
  warnings: string[];
}

/** Most bytes evicted per hold of a shard's lock, so clients get their turn during a long gc. */
const SLICE_BYTES = 256 * 2 ** 20;
/** Most entries looked at per hold by --older-than. */
const SLICE_ENTRIES = 2000;

/**
 * Shard after shard (one lock at a time, in short holds): release dead uploads' reservations, evict
 * entries older than `olderThan`, evict down to the target; evicted entries and tmp dirs nobody owns
 * are only renamed into the trash. Then a detached process does the cleanup (src/cleanup.ts: delete
 * the trash, remove stale hint links), or this call does with `wait`: it costs far more than
 * evicting, and nobody needs to wait for it. What a live client is writing is never touched.
 */
export async function gc(cache: Cache, opts: GcOptions): Promise<GcResult> {
  const r: GcResult = { dryRun: !!opts.dryRun, entries: 0, bytes: 0, evicted: [], reservations: 0, reservedBytes: 0, tmp: 0, trash: 0, trashPending: 0, hintTmp: 0, hints: 0, warnings: [] };
  const progress = opts.progress ?? NO_PROGRESS;
  const shards = cache.settings.shards;
  const shardTarget = Math.min(cache.budget, Math.floor((opts.target ?? cache.settings.size) / shards));
  const countEvicted = (txn: ShardTxn, ids: string[]) => {
    for (const id of ids) r.bytes += txn.get(id).size;
    r.entries += ids.length;
    r.evicted.push(...ids);
  };
  for (let shard = 0; shard < shards; shard++) {
    await releaseDeadReservations(cache, shard, opts, r);
    const slice = <T>(what: string, fn: (txn: ShardTxn) => T) => inShard(cache, shard, `gc: ${what}`, !!opts.dryRun, fn);
    try {
      if (opts.olderThan !== undefined) {
        const cutoff = Date.now() - opts.olderThan;
        const limit = opts.dryRun ? Infinity : SLICE_ENTRIES;
        for (let more = true; more; ) {
          more = await slice('evict old entries', (txn) => {
            const got = evictOlder(txn, cutoff, limit);
            countEvicted(txn, got.evicted);
            return got.more;
          });
        }
      }
      const sliceBytes = opts.dryRun ? Infinity : SLICE_BYTES;
      for (let more = true; more; ) {
        more = await slice('evict to size', (txn) => {
          const reserved = readReservations(cache.root, shard).reduce((n, x) => n + (x.res?.bytes ?? 0), 0);
          const goal = Math.max(shardTarget, reserved);
          const floor = Math.max(goal, txn.head.total - sliceBytes);
          if (txn.head.total <= floor) return false;
          // makeRoom evicts while total + need > budget, i.e. down to `floor`
          countEvicted(txn, txn.makeRoom(txn.budget - floor, Date.now()));
          return txn.head.total > goal;
        });
      }
    } catch (e) {
      if (!(e instanceof DircacheError && e.code === 'ECACHEFULL')) throw e;
      r.warnings.push(`shard ${shard}: its head total counts bytes that no entry or reservation holds; run dircache repair`);
    }
    progress.tick(1);
  }
  trashOrphanTmp(cache, opts, r);
  if (opts.wait || opts.dryRun) {
    Object.assign(r, await cleanup(cache, opts));
  } else {
    r.trash = r.trashPending = listAdminDir(cache.root, 'trash').length;
    r.cleanupPid = startCleanup(cache, opts.graceMs);
    if (r.cleanupPid === undefined) r.warnings.push('could not start the cleanup process; run dircache gc --cleanup-only');
  }
  return r;
}

/** One hold of the shard's lock; a dry run computes in memory and writes nothing. */
async function inShard<T>(cache: Cache, shard: number, what: string, dryRun: boolean, fn: (txn: ShardTxn) => T): Promise<T> {
  if (!dryRun) return cache.updateShard(shard, what, fn, true);
  return cache.withShardLock(shard, what, () => fn(new ShardTxn(cache.policy, shard, cache.budget)));
}

/**
 * Evict from the old end entries last used before `cutoff`. The list is in placing order, so the
 * walk stops at the first entry placed since; an old entry read since gets its second chance (as in
 * ShardTxn.makeRoom). Returns whether it stopped at `limit` with more to look at.
 */
function evictOlder(txn: ShardTxn, cutoff: number, limit: number): { evicted: string[]; more: boolean } {
  const evicted: string[] = [];
  const reread: Array<[string, EntryLru]> = [];
  let id = txn.head.oldest;
  for (let seen = 0; id && seen < limit; seen++) {
    const r = txn.get(id);
    if (r.placed >= cutoff) {
      id = null;
      break;
    }
    const next = r.newer;
    if (r.access >= cutoff) {
      txn.unlink(id);
      reread.push([id, r]);
    } else {
      txn.remove(id);
      evicted.push(id);
    }
    id = next;
  }
  txn.relinkInAccessOrder(reread, Date.now());
  return { evicted, more: id !== null };
}

async function releaseDeadReservations(cache: Cache, shard: number, opts: GcOptions, r: GcResult): Promise<void> {
  const now = Date.now();
  const dead = readReservations(cache.root, shard).flatMap((x) => (x.res && !ownerMayBeAlive(x.res, x.res.start, now, opts.graceMs) ? [x.res] : []));
  if (!dead.length) return;
  const released = await inShard(cache, shard, 'gc: release dead reservations', !!opts.dryRun, (txn) =>
    // the owner may have finished since we looked; then its own commit released it
    dead.filter((res) => txn.releaseIfHeld(res)),
  );
  for (const res of released) {
    if (!opts.dryRun) moveToTrash(cache.root, res.tmp);
    r.reservations++;
    r.reservedBytes += res.bytes;
  }
}

/** Rename tmp dirs nobody owns into the trash: deleting them is the cleanup's. */
function trashOrphanTmp(cache: Cache, opts: GcOptions, r: GcResult): void {
  for (const name of orphanTmpDirs(cache.root, cache.settings.shards, Date.now(), opts.graceMs)) {
    if (!opts.dryRun) moveToTrash(cache.root, join(ADMIN_DIR, 'tmp', name));
    r.tmp++;
  }
}
