// npm run bench — every measurement in one run on a scratch dir; prints a table and writes
// docs/benchmarks.md. BENCH_QUICK=1: tiny sizes, a smoke run (report in the temp dir, docs untouched).
// BENCH_SSHFS=0: skip the sshfs row. BENCH_ONLY=make: only the steps whose name contains it
// (report in the temp dir, docs untouched).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { measureAdmin } from './admin.mjs';
import { measureBigRss, measureCliHit, measureLockOps } from './cli.mjs';
import { measureHits, measureParallel } from './hits.mjs';
import { QUICK, REPO, benchDigests, cleanScratch, log } from './lib.mjs';
import { measureMake } from './make.mjs';
import { measureNetfs } from './netfs.mjs';
import { writeReport } from './report.mjs';
import { measureBigHit, measureManyUpload } from './transfer.mjs';

process.env.DIRCACHE_DIGEST_CACHE = benchDigests();
const shared = {};
const steps = [
  ['in-process hits', () => measureHits(shared)],
  ['CLI hit', measureCliHit],
  ['big hit', measureBigHit],
  ['many-file upload', measureManyUpload],
  ['8 processes', measureParallel],
  ['sshfs', measureNetfs],
  ['gc and repair', () => measureAdmin(shared)],
  ['big upload/download RSS', measureBigRss],
  ['lock file operations', measureLockOps],
  ['Make rebuild', measureMake],
];

// an interrupted run still removes its scratch dir (the sshfs row unmounts in its own finally)
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => {
  cleanScratch();
  process.exit(130);
});

const only = process.env.BENCH_ONLY;
const partial = QUICK || !!only;
const rows = [];
const t0 = Date.now();
try {
  for (const [name, fn] of steps.filter(([name]) => !only || name.toLowerCase().includes(only.toLowerCase()))) {
    // each step starts on a quiet disk, not under the writeback of what the last one wrote
    spawnSync('sync');
    log(`${name}…`);
    const s = Date.now();
    try {
      rows.push(...(await fn()));
    } catch (e) {
      rows.push({ id: name, what: name, value: 'failed', baseline: '—', note: String(e.message).split('\n')[0] });
      log(`${name} failed: ${e.stack}`);
    }
    log(`${name}: ${((Date.now() - s) / 1000).toFixed(1)} s`);
  }
  const secs = (Date.now() - t0) / 1000;
  const out = partial ? path.join(os.tmpdir(), 'dircache-benchmarks-partial.md') : path.join(REPO, 'docs', 'benchmarks.md');
  const table = writeReport(rows, { secs, quick: partial, out });
  process.stdout.write(table + '\n');
  log(`wrote ${path.relative(process.cwd(), out)} (${secs.toFixed(0)} s; removing the scratch dir)`);
} finally {
  cleanScratch();
  fs.rmSync(process.env.DIRCACHE_DIGEST_CACHE, { force: true });
}
