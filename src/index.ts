import { resolve } from 'node:path';
import { Cache, type OpenOptions } from './cache.js';
import { type DownloadRequest, type DownloadResult, download } from './download.js';
import { type GcOptions, type GcResult, gc } from './gc.js';
import { type Mode, type RunRequest, type RunResult, canDownload, canUpload, parseMode, run } from './run.js';
import { type Counters, type StatsReport, cacheStats, recordStats } from './stats.js';
import { type UploadRequest, type UploadResult, upload } from './upload.js';

/**
 * The library API. The CLI is a thin layer on it: same semantics, same errors (DircacheError with a
 * stable `code`), same stats.
 */

export interface ClientOptions extends OpenOptions {
  /** Default: DIRCACHE_MODE from `env`, else read-write. */
  mode?: Mode;
}

export interface DircacheClient {
  readonly mode: Mode;
  /** Where jobs run: target and dep paths are relative to it. */
  readonly cwd: string;
  /** The open cache (opened on first use when mode is off, so `off` needs no cache at all). */
  cache(): Cache;
  /** Restore a job's targets on a hit. In write-only or off mode: a miss without looking. */
  download(req: DownloadRequest): Promise<DownloadResult>;
  /** Store a job's targets. In read-only or off mode: nothing stored, `reason: 'disabled'`. */
  upload(req: UploadRequest): Promise<UploadResult>;
  /** Download, else run the command and upload; see RunRequest. */
  run(req: RunRequest): Promise<RunResult>;
  /** All clients' counters summed, with the cache's size, quota and entry count. */
  stats(): StatsReport;
  /** Evict down to a target or by age and clear leftovers, as `dircache gc`. */
  gc(opts: GcOptions): Promise<GcResult>;
}

export function openCache(opts: ClientOptions = {}): DircacheClient {
  const mode = opts.mode ?? parseMode((opts.env ?? process.env).DIRCACHE_MODE);
  const cwd = resolve(opts.cwd ?? process.cwd());
  let opened = mode === 'off' ? undefined : Cache.open({ ...opts, cwd });
  const cache = () => (opened ??= Cache.open({ ...opts, cwd }));

  const count = async (delta: Partial<Counters>, warnings: string[]) => {
    const w = await recordStats(cache(), delta);
    if (w) warnings.push(w);
  };

  const client: DircacheClient = {
    mode,
    cwd,
    cache,
    async download(req) {
      if (!canDownload(mode)) return { hit: false, job: req.job, files: 0, bytes: 0, exeTime: 0, elapsedMs: 0, warnings: [] };
      const r = await download(cache(), req);
      await count(r.hit ? { hits: 1, bytesOut: r.bytes, timeSaved: r.exeTime } : { misses: 1 }, r.warnings);
      return r;
    },
    async upload(req) {
      if (!canUpload(mode)) return { uploaded: false, reason: 'disabled', job: req.job, files: 0, bytes: 0, evicted: 0, elapsedMs: 0, warnings: [] };
      const r = await upload(cache(), req);
      if (r.uploaded) await count({ uploads: 1, bytesIn: r.bytes }, r.warnings);
      return r;
    },
    run: (req) => run(client, req),
    stats: () => cacheStats(cache()),
    gc: (o) => gc(cache(), o),
  };
  return client;
}

export { Cache, type OpenOptions } from './cache.js';
export type { DownloadRequest, DownloadResult } from './download.js';
export type { UploadRequest, UploadResult } from './upload.js';
export type { GcOptions, GcResult } from './gc.js';
export { type Mode, type RunRequest, type RunResult, COMMAND_INPUT } from './run.js';
export type { Counters, ClientStats, StatsReport } from './stats.js';
export { parseDepfile } from './depfile.js';
export { initCache, type InitOptions, type InitResult } from './init.js';
export * from './errors.js';
