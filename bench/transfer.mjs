// Rows: a hit of one big target vs `cp`; an upload of 1000 small targets vs cacache `put`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import cacache from 'cacache';
import { QUICK, fmtMs, lib, libEnv, median, row, run, scratch, timeMedian } from './lib.mjs';
import { hit, newCache, newWorkspace, seedJob } from './setup.mjs';

const { Cache } = await lib('cache');
const { upload } = await lib('upload');

export async function measureBigHit() {
  const bytes = QUICK ? 8 << 20 : 256 << 20;
  const root = newCache('big');
  const ws = newWorkspace('big-ws', bytes, 'out/big.bin');
  const cache = await seedJob(root, ws, 'big', 'out/big.bin');
  const src = path.join(root, (await hit(cache, 'big')).entry, 'data', 'out', 'big.bin');
  const dst = path.join(ws, 'out', 'copy.bin');
  const runs = QUICK ? 3 : 7;
  const ours = [], cp = [];
  for (let i = -1; i < runs; i++) {
    // both write a new file: neither pays for replacing the previous one differently
    fs.rmSync(path.join(ws, 'out/big.bin'), { force: true });
    fs.rmSync(dst, { force: true });
    let t0 = performance.now();
    await hit(cache, 'big');
    const a = performance.now() - t0;
    t0 = performance.now();
    run('cp', [src, dst]);
    const b = performance.now() - t0;
    if (i >= 0) ours.push(a), cp.push(b);
  }
  const o = median(ours), c = median(cp);
  const size = QUICK ? '8 MiB' : '256 MiB';
  return [row({
    id: 'big-hit', what: `hit of one ${size} target, digest verified`, value: fmtMs(o), baseline: `\`cp\` of the same file: ${fmtMs(c)}`,
    ratio: o / c, goal: '<= 1.25x', pass: o / c <= 1.25, note: `${((bytes / 2 ** 20) / (o / 1000)).toFixed(0)} MiB/s`,
  })];
}

export async function measureManyUpload() {
  const n = QUICK ? 100 : 1000;
  const root = newCache('many');
  const ws = scratch('many-ws');
  const blobs = [];
  for (let i = 0; i < n; i++) {
    const b = Buffer.alloc(4096, i % 251);
    b.writeUInt32LE(i, 0);
    blobs.push(b);
    fs.mkdirSync(path.join(ws, 'out', `d${i % 10}`), { recursive: true });
    fs.writeFileSync(path.join(ws, 'out', `d${i % 10}`, `f${i}.o`), b);
  }
  const cache = Cache.open({ cache: root, cwd: ws, env: libEnv() });
  const runs = QUICK ? 2 : 5;
  const ours = [], theirs = [];
  for (let i = -1; i < runs; i++) {
    const job = `many/${i + 1}`;
    let t0 = performance.now();
    const r = await upload(cache, { job, targets: ['out'], repoKey: 'bench 0' });
    const a = performance.now() - t0;
    if (!r.uploaded || r.files !== n) throw new Error(`many-upload stored ${r.files} files`);
    const cc = scratch('cacache');
    t0 = performance.now();
    for (let k = 0; k < n; k++) await cacache.put(cc, `out/d${k % 10}/f${k}.o`, blobs[k]);
    const b = performance.now() - t0;
    if (i >= 0) ours.push(a), theirs.push(b);
  }
  const o = median(ours), t = median(theirs);
  return [row({
    id: 'many-upload', what: `upload of ${n} x 4 KiB targets as one entry`, value: fmtMs(o), baseline: `cacache \`put\` of the same ${n} blobs: ${fmtMs(t)}`,
    ratio: o / t, goal: 'faster than cacache (< 1x)', pass: o < t, note: 'cacache puts awaited one after another, as a build stores its outputs',
  })];
}
