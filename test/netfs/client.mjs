/**
 * One cache client for the network filesystem tests: for DURATION_MS it does random downloads,
 * uploads and runs of jobs job0..job{JOBS-1}, each job's target being a copy of its one dep, whose
 * content it picks at random among VERSIONS before every step. Every hit is checked byte for byte.
 * Prints one JSON summary line: counts, wrong hits, errors and warnings seen. It does at least
 * MIN_OPS steps however long they take, so a loaded machine still tests something.
 *
 *   node client.mjs CACHE_DIR WORKSPACE SEED DURATION_MS JOBS VERSIONS
 *
 * Uses the built library (dist/), like any other client process.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'index.js');
const { openCache } = await import(dist);

const [cacheDir, ws, seedArg, durationArg, jobsArg, versionsArg] = process.argv.slice(2);
const jobs = Number(jobsArg);
const versions = Number(versionsArg);
let seed = Number(seedArg) >>> 0;
const rand = (n) => {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; // LCG: reproducible from the seed
  return seed % n;
};

/** Dep content of job j at version v: 32-128 KiB that only (j, v) decide. */
function depContent(j, v) {
  const unit = createHash('sha256').update(`job${j} v${v}`).digest('hex');
  const size = 32768 + (createHash('sha256').update(`size ${j} ${v}`).digest().readUInt32BE(0) % 98304);
  return Buffer.from(`job${j} v${v}\n` + unit.repeat(Math.ceil(size / unit.length))).subarray(0, size);
}

fs.mkdirSync(path.join(ws, 'src'), { recursive: true });
fs.mkdirSync(path.join(ws, 'out'), { recursive: true });
const client = openCache({ cache: cacheDir, cwd: ws });
const repoKey = `client ${seedArg}`;
const sum = { downloads: 0, uploads: 0, runs: 0, hits: 0, misses: 0, uploaded: 0, evicted: 0, wrongHits: [], errors: [], warnings: [] };
const note = (list, text) => {
  if (list.length < 20) list.push(text);
};

const MIN_OPS = 25;
const end = Date.now() + Number(durationArg);
for (let done = 0; Date.now() < end || done < MIN_OPS; done++) {
  const j = rand(jobs);
  const v = rand(versions);
  const job = `job${j}`;
  const dep = `src/${job}.in`;
  const target = `out/${job}.bin`;
  const want = depContent(j, v);
  // a new file each time: the digest memo keys on inode, size and times
  fs.writeFileSync(path.join(ws, dep + '.tmp'), want);
  fs.renameSync(path.join(ws, dep + '.tmp'), path.join(ws, dep));
  fs.rmSync(path.join(ws, target), { force: true });
  const op = rand(10);
  try {
    let r;
    if (op < 5) {
      sum.downloads++;
      r = await client.download({ job, deps: [dep] });
    } else if (op < 8) {
      sum.uploads++;
      fs.copyFileSync(path.join(ws, dep), path.join(ws, target));
      r = await client.upload({ job, targets: [target], deps: [dep], repoKey });
      if (r.uploaded) sum.uploaded++;
      sum.evicted += r.evicted;
    } else {
      sum.runs++;
      r = await client.run({ job, targets: [target], deps: [dep], repoKey, command: ['cp', dep, target] });
      if (r.exitCode !== 0) note(sum.errors, `run ${job}: exit ${r.exitCode}`);
    }
    if (r.hit !== undefined) r.hit ? sum.hits++ : sum.misses++;
    if (r.hit) {
      let got;
      try {
        got = fs.readFileSync(path.join(ws, target));
      } catch (e) {
        got = Buffer.from(`(unreadable: ${e.code})`);
      }
      if (!got.equals(want)) note(sum.wrongHits, `${job} v${v} from ${r.entry ?? '?'}: got ${got.length} bytes starting ${JSON.stringify(got.subarray(0, 12).toString())}`);
    }
    for (const w of r.warnings) note(sum.warnings, `${op < 5 ? 'download' : op < 8 ? 'upload' : 'run'} ${job}: ${w}`);
  } catch (e) {
    note(sum.errors, `${job}: ${e.code ?? ''} ${e.message}`);
  }
}
process.stdout.write(JSON.stringify(sum) + '\n');
