// Shared bench helpers: the built library, scratch dirs, timing, child processes, result rows.
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const BIN = path.join(REPO, 'bin', 'dircache');
export const QUICK = process.env.BENCH_QUICK === '1';

/** A module of the built library (dist/), e.g. lib('download'). */
export const lib = (name) => import(path.join(REPO, 'dist', `${name}.js`));
export const distHas = (name) => fs.existsSync(path.join(REPO, 'dist', `${name}.js`));

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median wall time (ms) of `runs` calls of fn, after `warm` unmeasured ones; `before` runs untimed before each. */
export async function timeMedian(fn, runs, warm = 1, before = () => {}) {
  for (let i = 0; i < warm; i++) before(), await fn(-1 - i);
  const ts = [];
  for (let i = 0; i < runs; i++) {
    before();
    const t0 = performance.now();
    await fn(i);
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

const scratches = [];
/** A fresh dir under the bench's scratch root (removed at exit). */
export function scratch(prefix) {
  if (!scratches.length) scratches.push(fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'dircache-bench-'))));
  return fs.mkdtempSync(path.join(scratches[0], `${prefix}-`));
}
export function cleanScratch() {
  for (const d of scratches.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

/**
 * The environment a `dircache` child (and the bare-Node baseline) gets: no outer DIRCACHE_*, a
 * private digest cache, and none of the settings that make every Node start load extra CA
 * certificates (NODE_EXTRA_CA_CERTS: ~75 ms per start here), which a build machine seldom has and
 * which would hide the CLI's own start-up cost behind a larger baseline.
 */
export function cliEnv(extra = {}) {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('DIRCACHE_') || k === 'NODE_EXTRA_CA_CERTS' || k === 'NODE_OPTIONS') delete env[k];
  return { ...env, DIRCACHE_DIGEST_CACHE: benchDigests(), ...extra };
}

/** The bench's private digest cache (bench/run.mjs's, inherited by its children), never the user's. */
export const benchDigests = () => process.env.DIRCACHE_DIGEST_CACHE ?? path.join(os.tmpdir(), `dircache-bench-digests-${process.pid}`);

/** The environment the bench's library caches (Cache.open) get: only that digest cache. */
export const libEnv = () => ({ DIRCACHE_DIGEST_CACHE: benchDigests() });

/** Run a command to completion; throws with its stderr unless its exit code is in `ok`. */
export function run(cmd, args, opts = {}, ok = [0]) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error) throw r.error;
  if (!ok.includes(r.status)) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${(r.stderr || '').slice(-2000)}`);
  return r;
}

export function dircache(args, opts = {}, ok = [0]) {
  return run(process.execPath, [BIN, ...args], { env: cliEnv(opts.env), cwd: opts.cwd }, ok);
}

/** Peak RSS (bytes) of one `dircache` run, read by the process itself (bench/maxrss.mjs). */
export function dircacheMaxRss(args, opts = {}) {
  const out = path.join(os.tmpdir(), `dircache-bench-rss-${process.pid}`);
  run(process.execPath, [path.join(REPO, 'bench', 'maxrss.mjs'), out, ...args], { env: cliEnv(opts.env), cwd: opts.cwd });
  const kb = Number(fs.readFileSync(out, 'utf8'));
  fs.rmSync(out, { force: true });
  return kb * 1024;
}

/** A file of `bytes` pseudo-random bytes (one random MiB repeated: content need not be unique). */
export function writeFilled(file, bytes) {
  const chunk = randomFillSync(Buffer.alloc(Math.min(bytes, 1 << 20)));
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, 'w');
  try {
    for (let left = bytes; left > 0; left -= chunk.length) fs.writeSync(fd, chunk, 0, Math.min(left, chunk.length));
  } finally {
    fs.closeSync(fd);
  }
}

/** One table row. `ratio` is value/baseline; `pass` is judged by the caller against the goal. */
export function row(r) {
  return { baseline: '—', ratio: undefined, pass: undefined, note: '', ...r };
}

export const fmtMs = (ms) => (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : ms < 100 ? `${ms.toFixed(2)} ms` : `${ms.toFixed(0)} ms`);
export const fmtMB = (b) => `${(b / 2 ** 20).toFixed(1)} MiB`;
export const fmtRate = (x, unit) => `${x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1)} ${unit}`;
export const log = (...a) => process.stderr.write(`[bench] ${a.join(' ')}\n`);
