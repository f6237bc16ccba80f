// Rows: CLI hit vs bare Node start; peak RSS of upload/download of a big target; file operations
// done while a hit holds its shard's lock (strace).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BIN, QUICK, cliEnv, dircache, dircacheMaxRss, fmtMB, fmtMs, median, row, run, scratch, writeFilled } from './lib.mjs';
import { HIT_DEPS, clearTarget, newCache, newWorkspace, seedJob, settleDeps } from './setup.mjs';

const depArgs = HIT_DEPS.flatMap((d) => ['--dep', d]);

function wall(cmd, args, opts) {
  const t0 = performance.now();
  run(cmd, args, opts);
  return performance.now() - t0;
}

export async function measureCliHit() {
  const root = newCache('cli');
  const ws = newWorkspace('cli-ws');
  await seedJob(root, ws, 'obj/hit.o');
  await settleDeps(ws);
  const env = cliEnv();
  const runs = QUICK ? 5 : 61;
  const node = [], hit = [];
  for (let i = -2; i < runs; i++) {
    const a = wall(process.execPath, ['-e', ''], { env });
    clearTarget(ws);
    const b = wall(process.execPath, [BIN, 'download', '--cache', root, '--job', 'obj/hit.o', ...depArgs, '-q'], { env, cwd: ws });
    if (i >= 0) node.push(a), hit.push(b);
  }
  const n = median(node), h = median(hit);
  return [row({
    id: 'cli-hit', what: 'CLI `dircache download` hit, one 4 KiB target', value: fmtMs(h), baseline: `\`node -e ''\`: ${fmtMs(n)}`,
    ratio: h / n, goal: '<= 1.5x', pass: h / n <= 1.5, raw: { node: n, hit: h },
  })];
}

export async function measureBigRss() {
  const bytes = QUICK ? 64 << 20 : 2 ** 31;
  const root = newCache('rss');
  const ws = newWorkspace('rss-ws', bytes, 'out/big.bin');
  const up = dircacheMaxRss(['upload', '--cache', root, '--job', 'big', '--target', 'out/big.bin', ...depArgs, '--repo-key', 'bench 0', '-q'], { cwd: ws });
  fs.rmSync(path.join(ws, 'out/big.bin'));
  const down = dircacheMaxRss(['download', '--cache', root, '--job', 'big', ...depArgs, '-q'], { cwd: ws });
  if (fs.statSync(path.join(ws, 'out/big.bin')).size !== bytes) throw new Error('big download restored the wrong size');
  fs.rmSync(path.dirname(root), { recursive: true, force: true });
  fs.rmSync(ws, { recursive: true, force: true });
  const size = QUICK ? '64 MiB' : '2 GiB';
  return [
    row({ id: 'rss-upload', what: `peak RSS of \`dircache upload\` of one ${size} target`, value: fmtMB(up), goal: '<= 150 MB', pass: up <= 150e6 }),
    row({ id: 'rss-download', what: `peak RSS of \`dircache download\` of one ${size} target`, value: fmtMB(down), goal: '<= 150 MB', pass: down <= 150e6 }),
  ];
}

/**
 * strace one CLI hit and count the file syscalls between the lock's exclusive create and its
 * unlink. Returns the count and the calls themselves (for docs/benchmarks.md).
 */
export async function measureLockOps() {
  const root = newCache('strace');
  const ws = newWorkspace('strace-ws');
  await seedJob(root, ws, 'obj/hit.o');
  const out = path.join(scratch('strace-out'), 'trace');
  try {
    run('strace', ['-f', '-qq', '-e', 'trace=file,desc', '-o', out, process.execPath, BIN, 'download', '--cache', root, '--job', 'obj/hit.o', ...depArgs, '-q'], { env: cliEnv(), cwd: ws });
  } catch (e) {
    return [row({ id: 'lock-ops', what: 'file operations done while holding the lock, per hit', value: 'not measured', note: `strace failed: ${e.message.split('\n')[0]}` })];
  }
  const lines = fs.readFileSync(out, 'utf8').split('\n');
  const lock = path.join(root, 'LMAKE', 'shards');
  const start = lines.findIndex((l) => l.includes(lock) && /O_EXCL/.test(l) && !/= -1/.test(l));
  const end = lines.findIndex((l, i) => i > start && /unlink(at)?\(/.test(l) && l.includes(lock) && l.includes('/lock"'));
  if (start < 0 || end < 0) return [row({ id: 'lock-ops', what: 'file operations done while holding the lock, per hit', value: 'not measured', note: 'lock create/unlink not found in the trace' })];
  // calls on the cache (paths under it, or fds opened on one) are round trips on NFS; the rest is
  // local (the pid's start time from /proc, V8's heap reservations, yargs's locale lookup)
  const cacheFds = new Set();
  const onCache = [];
  let local = 0;
  for (const raw of lines.slice(start, end + 1)) {
    const l = raw.replace(/^\d+\s+/, '').replaceAll(root, '<cache>');
    const fd = /^\w+\((\d+)[,)]/.exec(l)?.[1];
    if (l.includes('<cache>')) {
      onCache.push(l);
      const opened = /^openat\(.*= (\d+)$/.exec(l)?.[1];
      if (opened) cacheFds.add(opened);
      else if (/^close\(/.test(l)) cacheFds.delete(fd);
    } else if (fd && cacheFds.has(fd)) {
      onCache.push(l);
      if (/^close\(/.test(l)) cacheFds.delete(fd);
    } else if (!/^(mmap|munmap|<\.\.\.)/.test(l)) local++;
  }
  const counts = {};
  for (const c of onCache.map((l) => l.replace(/\(.*$/, ''))) counts[c] = (counts[c] ?? 0) + 1;
  return [row({
    id: 'lock-ops', what: 'file operations on the cache while holding the lock, per hit', value: `${onCache.length} syscalls`,
    note: `${Object.entries(counts).map(([c, n]) => `${n} ${c}`).join(', ')}; plus ${local} local calls (not on the cache)`, trace: onCache,
  })];
}
