// Row: share-wide hits/s, 8 clients over two sshfs mounts of one cache (16 shards), against lmake's
// design D1 (one global lock, relink on every hit) run on the same mounts in the same bench run.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fillCache } from './fill.mjs';
import { QUICK, REPO, cliEnv, fmtRate, log, median, row, run, scratch } from './lib.mjs';
import { newCache } from './setup.mjs';

const HERE = path.join(REPO, 'bench', 'netfs');
const CLIENTS = 8;
const JOBS = QUICK ? 200 : 2000;

function spawnJson(args) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args, { env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`${path.basename(args[0])} exited ${code}: ${err.slice(-1500)}`))));
  });
}

/** CLIENTS processes started together, client i on mount i % 2; returns their results. */
function clients(argsOf, secs) {
  const start = Date.now() + 1500 + 150 * CLIENTS;
  return Promise.all(Array.from({ length: CLIENTS }, (_, i) => spawnJson(argsOf(i, String(start), String(secs * 1000)))));
}

// the test suite's own set-up script: one sshd on loopback, two independent mounts
const SSHFS = path.join(REPO, 'test', 'netfs', 'sshfs.sh');

const skipped = (why) => [row({ id: 'netfs', what: 'share-wide hits/s, 8 clients over two sshfs mounts (16 shards)', value: 'skipped', baseline: "lmake's design D1", goal: '>= 3x', note: why })];

export async function measureNetfs() {
  if (process.env.BENCH_SSHFS === '0') return skipped('skipped: BENCH_SSHFS=0');
  const base = scratch('netfs');
  const exp = path.join(base, 'export');
  const mnts = [path.join(base, 'a'), path.join(base, 'b')];
  try {
    run('bash', [SSHFS, 'up', exp, ...mnts], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    return skipped(`skipped: sshfs could not be set up (${e.message.split('\n').slice(-2).join(' ').trim()})`);
  }
  try {
    const secs = QUICK ? 2 : 10;
    const rounds = QUICK ? 1 : 3;
    // lmake's design, as its simulation documents: init on the export, N clients over the mounts
    run(process.execPath, [path.join(HERE, 'lmake-d1', 'init.mjs'), path.join(exp, 'd1')]);
    const root = newCache('netfs-cache');
    await fillCache(root, JOBS);
    fs.renameSync(root, path.join(exp, 'dc'));
    // rounds alternate between the two, so the rig's drift (D1 alone ranged 20-40 hits/s between runs) hits both alike
    const d1Rates = [], rates = [];
    let d1Bad = 0, misses = 0;
    for (let round = 0; round < rounds; round++) {
      log(`lmake D1: ${CLIENTS} clients for ${secs} s`);
      const d1 = await clients((i, start, dur) => [path.join(HERE, 'lmake-d1', 'client.mjs'), path.join(mnts[i % 2], 'd1'), 'D1', String(i), start, dur, `bench-${i}`], secs);
      d1Rates.push(d1.reduce((s, r) => s + r.hits, 0) / secs);
      d1Bad += d1.reduce((s, r) => s + r.bad + r.aborted, 0);
      log(`dircache: ${CLIENTS} clients for ${secs} s`);
      const ours = await clients((i, start, dur) => [path.join(HERE, 'dc-client.mjs'), path.join(mnts[i % 2], 'dc'), scratch(`netfs-ws${i}`), String(JOBS), start, dur], secs);
      rates.push(ours.reduce((s, r) => s + r.hits, 0) / secs);
      misses += ours.reduce((s, r) => s + r.misses, 0);
    }
    const [rate, d1Rate] = [median(rates), median(d1Rates)];
    return [row({
      id: 'netfs', what: `share-wide hits/s, ${CLIENTS} clients over two sshfs mounts of one cache (16 shards)`, value: fmtRate(rate, 'hits/s'),
      baseline: `lmake's design D1: ${fmtRate(d1Rate, 'hits/s')}`, ratio: rate / d1Rate, goal: '>= 3x', pass: rate / d1Rate >= 3,
      note: `medians of ${rounds} alternating rounds of ${secs} s each (ours ${rates.map((r) => r.toFixed(0)).join(', ')}; D1 ${d1Rates.map((r) => r.toFixed(0)).join(', ')} hits/s), sshfs coherent mode; entries metadata-bound (one 64-byte target)` +
        (misses ? `; ${misses} misses` : '') + (d1Bad ? `; D1 had ${d1Bad} bad/aborted hits` : ''),
    })];
  } finally {
    try {
      run('bash', [SSHFS, 'down', exp, ...mnts], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      log(`sshfs down failed: ${e.message}`);
    }
  }
}
