// A cache with one uploaded job to hit, optionally padded with filler entries.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fillCache } from './fill.mjs';
import { lib, libEnv, scratch, writeFilled } from './lib.mjs';

const { Cache } = await lib('cache');
const { initCache } = await lib('init');
const { upload } = await lib('upload');
const { download } = await lib('download');
const { UNTRUSTED_STAMP_MS } = await lib('deps');

// 64 GiB over 16 shards: every shard's budget (4 GiB) holds the largest target the bench stores.
export const CACHE_SIZE = '64G';
export const SHARDS = 16;

export function newCache(prefix = 'cache', opts = {}) {
  const root = path.join(scratch(prefix), 'cache');
  initCache(root, { size: CACHE_SIZE, shards: SHARDS, ...opts });
  return root;
}

/** A workspace with two source files (the deps) and a target of `bytes` bytes. */
export function newWorkspace(prefix = 'ws', bytes = 4096, target = 'out/hit.o') {
  const ws = scratch(prefix);
  fs.mkdirSync(path.join(ws, 'src'));
  fs.writeFileSync(path.join(ws, 'src/a.c'), '#include "a.h"\nint a(void) { return A; }\n');
  fs.writeFileSync(path.join(ws, 'src/a.h'), '#define A 42\n');
  writeFilled(path.join(ws, target), bytes);
  return ws;
}

export const HIT_DEPS = ['src/a.c', 'src/a.h'];

/**
 * Remove the workspace's copy of a target, so that the next hit writes a new file, as after a clean
 * build or in a fresh checkout. Replacing an existing file costs more on ext4, whatever writes it
 * (a rename or truncation over a file makes ext4 allocate the new data at once): the in-process
 * rows report that case apart.
 */
export function clearTarget(ws, target = 'out/hit.o') {
  fs.rmSync(path.join(ws, target), { force: true });
}

/**
 * Wait until a workspace's deps are older than the window in which the digest cache does not trust a
 * file's stamp, as a build's sources are: every timed hit then finds their digests remembered.
 */
export async function settleDeps(ws) {
  const newest = Math.max(...HIT_DEPS.map((d) => fs.statSync(path.join(ws, d)).ctimeMs));
  const wait = newest + UNTRUSTED_STAMP_MS + 100 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}

/** Upload `job` (target `target`) from `ws` into the cache at `root`; returns the open cache. */
export async function seedJob(root, ws, job, target = 'out/hit.o') {
  const cache = Cache.open({ cache: root, cwd: ws, env: libEnv() });
  const r = await upload(cache, { job, targets: [target], deps: HIT_DEPS, repoKey: 'bench 0' });
  if (!r.uploaded) throw new Error(`seed upload of ${job} did not store: ${JSON.stringify(r)}`);
  return cache;
}

/** One library hit; throws on a miss, so a timing is never of a miss. */
export async function hit(cache, job) {
  const r = await download(cache, { job, deps: HIT_DEPS });
  if (!r.hit) throw new Error(`expected a hit on ${job}: ${JSON.stringify(r)}`);
  return r;
}

/** A cache of `filler` entries plus one 4 KiB job, and a workspace that hits it. */
export async function hitCache(filler, prefix) {
  const root = newCache(prefix);
  if (filler) await fillCache(root, filler);
  const ws = newWorkspace(`${prefix}-ws`);
  const cache = await seedJob(root, ws, 'obj/hit.o');
  return { root, ws, cache };
}
