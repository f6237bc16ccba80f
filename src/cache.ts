import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type CacheConfig, type FileSync, type Perm, type Source, readCacheConfig, readRepoFile, resolveSettings } from './config.js';
import { type DigestStore, digestStore } from './deps.js';
import { ConfigError, DircacheError } from './errors.js';
import { type FsPolicy, explainAccess, refreshDirs, removeTrees } from './fsutil.js';
import { jobShardIndex } from './jobpath.js';
import { replayJournal } from './journal.js';
import { adminPaths, shardPaths } from './layout.js';
import { acquireLock, type HeldLock } from './lock.js';
import { ShardTxn } from './lru.js';
import { findRepoRoot } from './repo.js';
import { parseDuration } from './size.js';
import { parseVersionFile } from './version.js';

export interface OpenOptions {
  /** Cache dir; else DIRCACHE_DIR, the repo's .dircache.json, in that order. */
  cache?: string;
  perm?: Perm;
  fileSync?: FileSync;
  repoKey?: string;
  /** Where the job runs (default process.cwd()): finds the repo root and its .dircache.json. */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export interface Settings {
  cache: string;
  perm: Perm;
  fileSync: FileSync;
  repoKey?: string;
  size: number;
  shards: number;
  lockStale: number;
  lockTimeout: number;
  sources: Record<string, Source>;
}

/** An open cache: its settings, and the shard-locking every operation goes through. */
export class Cache {
  readonly root: string;
  readonly policy: FsPolicy;
  readonly budget: number;
  constructor(
    readonly settings: Settings,
    readonly config: CacheConfig,
    readonly cwd: string,
    /** This user's remembered dep digests (src/deps.ts). */
    readonly digests: DigestStore | undefined = undefined,
  ) {
    this.root = settings.cache;
    this.policy = { root: this.root, perm: settings.perm, fileSync: settings.fileSync };
    this.budget = Math.floor(settings.size / settings.shards);
  }

  private repoAt: { root: string; inGit: boolean } | undefined;
  /** The repo the cwd is in, looked up once per Cache: a build does not move its .git. */
  repo(): { root: string; inGit: boolean } {
    return (this.repoAt ??= findRepoRoot(this.cwd));
  }

  static open(opts: OpenOptions = {}): Cache {
    const env = opts.env ?? process.env;
    const cwd = resolve(opts.cwd ?? process.cwd());
    const repoFile = readRepoFile(findRepoRoot(cwd).root);
    const flags = { cache: opts.cache, perm: opts.perm, file_sync: opts.fileSync, repo_key: opts.repoKey };
    const pre = resolveSettings({ flags, env, repoFile, cwd });
    if (!pre.values.cache) {
      throw new ConfigError('no cache dir given: use --cache DIR, set DIRCACHE_DIR, or add "cache" to the repo\'s .dircache.json', 'ENOCACHE');
    }
    const root = resolve(cwd, pre.values.cache);
    const config = readCacheConfig(root);
    const version = readVersion(root);
    const { values, sources } = resolveSettings({ flags, env, repoFile, cacheConfig: config, cwd });
    const lockStale = env.DIRCACHE_LOCK_STALE ? parseDuration(env.DIRCACHE_LOCK_STALE) : config.lock_stale;
    const lockTimeout = env.DIRCACHE_LOCK_TIMEOUT ? parseDuration(env.DIRCACHE_LOCK_TIMEOUT) : config.lock_timeout;
    const settings: Settings = {
      cache: root,
      perm: values.perm,
      fileSync: values.file_sync,
      repoKey: values.repo_key,
      size: config.size,
      shards: version.shards,
      lockStale,
      lockTimeout,
      sources: { ...sources, cache: sources.cache, size: 'config.py', shards: 'config.py' },
    };
    return new Cache(settings, config, cwd, digestStore(env));
  }

  shardOf(jobPath: string): number {
    return jobShardIndex(jobPath, this.settings.shards);
  }

  /**
   * Hold a shard's lock for `fn`. If we had to break a dead holder's lock, its half-done update is
   * redone from its journal first, so nobody ever sees it.
   */
  async withShardLock<T>(shard: number, what: string, fn: (held: HeldLock) => T | Promise<T>, alwaysReplay = false): Promise<T> {
    const paths = shardPaths(this.root, shard);
    let held: HeldLock;
    try {
      held = await acquireLock(paths.lock, { stale: this.settings.lockStale, timeout: this.settings.lockTimeout, what });
    } catch (e) {
      if (e instanceof DircacheError) throw e;
      explainAccess(e, paths.lock, 'lock');
    }
    try {
      if (alwaysReplay || held.brokeFrom !== undefined) replayJournal(this.policy, paths.journal);
      return await fn(held);
    } finally {
      await held.release();
    }
  }

  /**
   * Run one LRU update under the shard's lock. A journal left by a dead holder is always redone
   * first: whoever broke its lock may not be us (another waiter can take the lock in the middle of a
   * break). Hits skip that read: their single write does not depend on the rest of the shard.
   * The trash the update made is deleted after the lock is released, unless `keepTrash` (gc leaves
   * its trash to a cleanup that it starts once, at the end).
   */
  async updateShard<T>(shard: number, what: string, fn: (txn: ShardTxn) => T, keepTrash = false): Promise<T> {
    let trashed: string[] = [];
    const out = await this.withShardLock(shard, what, () => {
      refreshDirs(this.policy, shardPaths(this.root, shard).head);
      const txn = new ShardTxn(this.policy, shard, this.budget);
      const r = fn(txn);
      txn.commit();
      trashed = txn.trashed;
      return r;
    }, true);
    if (!keepTrash) await removeTrees(trashed.map((t) => resolve(this.root, t)));
    return out;
  }
}

function readVersion(root: string) {
  const file = adminPaths(root).version;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new ConfigError(`${file} is missing: ${root} is not a complete dircache cache; run dircache repair, or dircache init on a new dir`);
    explainAccess(e, file, 'read');
  }
  return parseVersionFile(text, file);
}
