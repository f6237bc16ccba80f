// Rows: in-process hit; the same hit in a 100,000-entry cache vs a 100-entry one; 8 processes vs 1.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { fillCache } from './fill.mjs';
import { QUICK, REPO, cliEnv, fmtMs, fmtRate, lib, log, median, row, timeMedian } from './lib.mjs';
import { SHARDS, clearTarget, hit, hitCache, newCache, newWorkspace, seedJob, settleDeps } from './setup.mjs';

const BIG = QUICK ? 2000 : 100_000;
const HITS = QUICK ? 50 : 400;

export async function measureHits(shared) {
  const small = await hitCache(100, 'hit100');
  log(`filling a cache with ${BIG} entries`);
  const t0 = performance.now();
  const big = await hitCache(BIG, `hit${BIG}`);
  const fillSecs = (performance.now() - t0) / 1000;
  shared.bigCache = big.root; // the gc and repair rows reuse it
  shared.bigEntries = BIG + 1;
  shared.fillRate = BIG / fillSecs;

  await settleDeps(big.ws);
  // interleave the two caches so drift on a shared machine hits both alike
  const a = [], b = [], replacing = [];
  const newFile = (ws) => () => clearTarget(ws);
  for (let round = 0; round < 5; round++) {
    a.push(await timeMedian(() => hit(small.cache, 'obj/hit.o'), HITS / 5, 10, newFile(small.ws)));
    b.push(await timeMedian(() => hit(big.cache, 'obj/hit.o'), HITS / 5, 10, newFile(big.ws)));
    replacing.push(await timeMedian(() => hit(small.cache, 'obj/hit.o'), HITS / 5, 10));
  }
  const t100 = median(a), tBig = median(b), tReplacing = median(replacing);
  return [
    row({
      id: 'hit', what: 'in-process hit, one 4 KiB target (library API)', value: fmtMs(t100), goal: '< 1 ms', pass: t100 < 1, raw: t100,
      note: `the target is absent from the workspace before each hit (untimed), as after a clean build; replacing an existing target instead: ${fmtMs(tReplacing)}`,
    }),
    row({
      id: 'hit-big', what: `same hit with ${BIG.toLocaleString('en-US')} entries in the cache`, value: fmtMs(tBig),
      baseline: `${fmtMs(t100)} with 100 entries`, ratio: tBig / t100, goal: 'ratio <= 1.2', pass: tBig / t100 <= 1.2,
      note: `cache filled at ${fmtRate(shared.fillRate, 'entries/s')} (bench filler)`,
    }),
  ];
}

/** N worker processes, each hitting its own job for `secs`; returns total hits/s and CPU time per hit (µs). */
async function hitThroughput(root, workspaces, secs) {
  const start = Date.now() + 3000 + 300 * workspaces.length; // every worker has started and warmed up by then
  const runs = workspaces.map(({ ws, job }) => new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [path.join(REPO, 'bench', 'hit-worker.mjs'), root, ws, job, String(start), String(secs * 1000)], { env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`hit worker exited ${code}: ${err}`))));
  }));
  const done = await Promise.all(runs);
  const hits = done.reduce((s, d) => s + d.hits, 0);
  return { rate: hits / secs, cpuPerHit: (done.reduce((s, d) => s + d.cpuMs, 0) / hits) * 1000 };
}

export async function measureParallel() {
  const root = newCache('par');
  await fillCache(root, 100);
  // jobs on distinct shards: what is measured is the hit path, not two jobs queueing for one lock
  const { jobToPath, jobShardIndex } = await lib('jobpath');
  const jobs = [];
  const used = new Set();
  for (let k = 0; jobs.length < 8; k++) {
    const job = `obj/par${k}.o`;
    const shard = jobShardIndex(jobToPath(job), SHARDS);
    if (used.has(shard)) continue;
    used.add(shard);
    const ws = newWorkspace(`par-ws${jobs.length}`);
    await seedJob(root, ws, job);
    jobs.push({ ws, job });
  }
  await settleDeps(jobs.at(-1).ws);
  const secs = QUICK ? 1 : 4;
  const one = [], eight = [];
  for (let round = 0; round < (QUICK ? 1 : 3); round++) {
    one.push(await hitThroughput(root, jobs.slice(0, 1), secs));
    eight.push(await hitThroughput(root, jobs, secs));
  }
  const r1 = median(one.map((r) => r.rate)), r8 = median(eight.map((r) => r.rate));
  const cpu1 = median(one.map((r) => r.cpuPerHit)), cpu8 = median(eight.map((r) => r.cpuPerHit));
  return [row({
    id: 'parallel', what: '8 processes doing hits on distinct jobs', value: fmtRate(r8, 'hits/s'), baseline: `1 process: ${fmtRate(r1, 'hits/s')}`,
    ratio: r8 / r1, goal: 'throughput >= 1.5x', pass: r8 / r1 >= 1.5, note: `median of ${one.length} rounds of ${secs} s after every worker warmed up; the 8 jobs are on 8 distinct shards; each worker removes its target before each hit (timed with it); CPU time per hit (all threads of the workers): ${Math.round(cpu1)} µs with 1 process, ${Math.round(cpu8)} µs with 8`,
  })];
}
