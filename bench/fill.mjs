// Bench-only fast filler: writes N valid entries (info, data, lru record) and the shard heads
// straight to disk with the library's own encoders, instead of N uploads (each upload takes its
// shard's lock twice and journals its update; see docs/benchmarks.md for the measured rate).
// The result is what N uploads into an empty cache would leave: one LRU list per shard, in
// upload order, totals equal to the sum of entry sizes, deps hints in place.
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { lib, libEnv } from './lib.mjs';

const { Cache } = await lib('cache');
const { encodeInfo, entrySize, depsListHex } = await lib('info');
const { encodeEntryLru, encodeHead } = await lib('records');
const { jobToPath } = await lib('jobpath');
const { entryName, hintName, ENTRY_DATA, ENTRY_INFO, ENTRY_LRU, shardPaths } = await lib('layout');
const { loadTargetHash, shortHex } = await lib('digest');

export const fillJob = (i) => `fill/d${i % 1000}/f${i}.o`;

/**
 * Add `n` entries for jobs fillJob(0..n-1) to the empty, initialised cache at `root`. Each has one
 * target `out.o` of `targetBytes` bytes and records one absent dep, so it matches any workspace
 * without that file. Records are computed first (each needs both neighbours), then written by
 * concurrent workers: the disk's latency, not the CPU, is what a filler waits on.
 */
export async function fillCache(root, n, { targetBytes = 64, repoKey = 'bench-filler 0' } = {}) {
  const cache = Cache.open({ cache: root, env: libEnv() });
  const content = Buffer.alloc(targetBytes, 'x');
  const hash = (await loadTargetHash())();
  hash.update(content);
  const digest = hash.digest();
  const name = entryName(shortHex(repoKey), 'first');
  const deps = [['fill/absent.h', null]];
  const hint = hintName(depsListHex(deps.map((d) => d[0])));
  const lists = Array.from({ length: cache.settings.shards }, () => []);
  const t0 = Date.now() - n;
  for (let i = 0; i < n; i++) {
    const job = fillJob(i);
    const jobPath = jobToPath(job);
    const info = {
      job, repoKey, inputs: {}, deps, exeTime: 1, host: 'bench', user: 'bench', created: t0 + i,
      targets: [{ path: 'out.o', kind: 'file', mode: 0o644, size: targetBytes, digest, link: '' }],
    };
    const text = encodeInfo(info);
    lists[cache.shardOf(jobPath)].push({ jobPath, id: `${jobPath}/${name}`, text, size: entrySize(info, text), at: t0 + i });
  }
  const all = [];
  lists.forEach((list, s) => {
    let total = 0;
    list.forEach((e, k) => {
      total += e.size;
      e.lru = encodeEntryLru({ newer: list[k + 1]?.id ?? null, older: list[k - 1]?.id ?? null, size: e.size, placed: e.at, access: e.at });
      all.push(e);
    });
    if (total > cache.budget) throw new Error(`filler: shard ${s} would hold ${total} bytes, over its budget ${cache.budget}`);
    const head = { newest: list.at(-1)?.id ?? null, oldest: list[0]?.id ?? null, total, entries: list.length };
    fs.writeFileSync(shardPaths(root, s).head, encodeHead(head));
  });
  let next = 0;
  const worker = async () => {
    for (let e; (e = all[next++]); ) {
      const dir = path.join(root, e.id);
      await fsp.mkdir(path.join(dir, ENTRY_DATA), { recursive: true });
      await Promise.all([
        fsp.writeFile(path.join(dir, ENTRY_DATA, 'out.o'), content),
        fsp.writeFile(path.join(dir, ENTRY_INFO), e.text),
        fsp.writeFile(path.join(dir, ENTRY_LRU), e.lru),
        fsp.symlink(name, path.join(root, e.jobPath, hint)),
      ]);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return { entries: n, bytes: all.reduce((a, e) => a + e.size, 0) };
}
