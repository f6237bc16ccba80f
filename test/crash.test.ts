/**
 * Crashes (issue 5.2): clients SIGKILLed at random instants while they download, upload, run and gc. After
 * each round a fresh client gets correct hits, the killed download's workspace holds whole files
 * only, and the invariants hold with no repair: whoever takes a dead holder's lock next finishes its
 * journaled update. DIRCACHE_SOAK=1 runs 500 rounds.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Cache } from '../src/cache.js';
import { download } from '../src/download.js';
import { jobToPath } from '../src/jobpath.js';
import { adminPaths, shardPaths } from '../src/layout.js';
import { upload } from '../src/upload.js';
import { cli, cliSpawn, initCache, tempDir, writeFiles } from './helpers.js';
import { NO_LEFTOVERS, cacheProblems, expectCleanByAdminTools, hasCommand, leftovers } from './invariants.js';
import { depText, jobFiles, variantOf } from './fixtures/cache-jobs.mjs';

const FIXTURES = path.join(import.meta.dirname, 'fixtures');
const SOAK = process.env.DIRCACHE_SOAK === '1';
const ROUNDS = SOAK ? 500 : 50;
const JOBS = 8;
const VARIANTS = 4;
// A dead holder with an owner record on this host is broken at once, so 10 minutes of stale never
// delays the deterministic test. A holder killed between creating the lock and writing its owner
// record leaves an empty lock, which only `stale` breaks: the random rounds use a short one.
const LOCK_ENV = { DIRCACHE_LOCK_STALE: '10m', DIRCACHE_LOCK_TIMEOUT: '20s', DIRCACHE_DIGEST_CACHE: '' };
const ROUND_ENV = { ...LOCK_ENV, DIRCACHE_LOCK_STALE: '2s' };

let seed = 12345;
const rand = (n: number) => {
  seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
  return seed % n;
};

/** Start a node script, resolve once it printed `marker`; the caller kills it. */
function startUntil(script: string, args: string[], marker: string, env: Record<string, string> = {}) {
  const p = spawn(process.execPath, [path.join(FIXTURES, script), ...args], { env: { ...process.env, ...LOCK_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stderr.on('data', (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: string | null; out: string; err: string }>((r) => p.on('close', (code, signal) => r({ code, signal, out, err })));
  const ready = new Promise<void>((resolve, reject) => {
    p.stdout.on('data', (d) => {
      out += d;
      if (out.includes(marker)) resolve();
    });
    void exited.then((e) => reject(new Error(`${script} ended before "${marker}": ${JSON.stringify(e)}`)));
  });
  return { p, ready, exited };
}

/** A job name of the given shard. */
function jobInShard(cache: Cache, prefix: string, shard: number): string {
  for (let i = 0; ; i++) if (cache.shardOf(jobToPath(`${prefix}-${i}`)) === shard) return `${prefix}-${i}`;
}

/** Every target file of every job in a workspace is a whole file of some variant, or absent. */
function expectWholeFiles(ws: string): void {
  for (let j = 0; j < JOBS; j++) {
    for (const rel of Object.keys(jobFiles(j, 0))) {
      const f = path.join(ws, rel);
      if (!fs.existsSync(f)) continue;
      expect(variantOf(j, rel, fs.readFileSync(f, 'utf8'), VARIANTS), `${rel} in ${ws} is partial or wrong`).toBeGreaterThanOrEqual(0);
    }
  }
}

/** A fresh client uploads a new job in every shard and gets it back byte for byte elsewhere. */
async function freshClientWorks(root: string, dir: string, round: number, env: Record<string, string>): Promise<void> {
  const a = path.join(dir, `fresh-a-${round}`);
  const b = path.join(dir, `fresh-b-${round}`);
  fs.mkdirSync(a);
  fs.mkdirSync(b);
  const ca = Cache.open({ cache: root, cwd: a, env });
  const cb = Cache.open({ cache: root, cwd: b, env });
  for (let s = 0; s < ca.settings.shards; s++) {
    const job = jobInShard(ca, `fresh/r${round}`, s);
    const files = { 'in.c': `in ${job}\n`, 'out.o': `object of ${job}\n`.repeat(50) };
    writeFiles(a, files);
    writeFiles(b, { 'in.c': files['in.c'] });
    const u = await upload(ca, { job, targets: ['out.o'], deps: ['in.c'] });
    expect(u.uploaded).toBe(true);
    const d = await download(cb, { job, deps: ['in.c'] });
    expect(d.hit).toBe(true);
    expect(fs.readFileSync(path.join(b, 'out.o'), 'utf8')).toBe(files['out.o']);
  }
  // and whatever the killed clients stored is right when it hits
  const j = rand(JOBS);
  const v = rand(VARIANTS);
  writeFiles(b, { [`src/j${j}.c`]: depText(j, v) });
  if ((await download(cb, { job: `stress/j${j}.o`, deps: [`src/j${j}.c`] })).hit) {
    for (const [rel, content] of Object.entries(jobFiles(j, v))) expect(fs.readFileSync(path.join(b, rel), 'utf8')).toBe(content);
  }
  fs.rmSync(a, { recursive: true });
  fs.rmSync(b, { recursive: true });
}

describe('crashes', () => {
  it(`${ROUNDS} rounds of SIGKILL during download, upload, run and gc: correct hits after, whole files, invariants without repair`, async () => {
    const dir = tempDir();
    const root = initCache(path.join(dir, 'cache'), '3M', ['--shards', '2']);
    const workspaces = [0, 1].map((i) => path.join(dir, `ws${i}`));
    for (const ws of workspaces) fs.mkdirSync(ws);
    const seen = { locksLeft: 0, emptyLocksLeft: 0, journalsLeft: 0, reservationsLeft: 0, gcKilled: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      // 'sync' makes every metadata write slower, so more kills land inside a commit
      const fileSync = round % 3 === 0 ? 'sync' : 'dir';
      // one client killed per round; the other workspace's stale files are what the next one finds
      const ws = workspaces[round % 2]!;
      // odd rounds also go through `run`; every fourth round a gc squeezing the cache is killed too
      const worker = [root, ws, String(round + 1), '0', String(JOBS), String(VARIANTS), round % 2 ? 'run' : 'transfer'];
      const kids = [startUntil('cache-worker.mjs', worker, 'go', { ...ROUND_ENV, DIRCACHE_FILE_SYNC: fileSync })];
      await Promise.all(kids.map((k) => k.ready));
      const gc = round % 4 === 3 ? cliSpawn(['gc', '--cache', root, '--size', '1M', '--quiet'], { env: { ...ROUND_ENV, DIRCACHE_FILE_SYNC: fileSync } }) : undefined;
      const gcExited = gc && new Promise<string | null>((r) => gc.on('close', (_code, signal) => r(signal)));
      for (const k of kids) {
        await sleep(rand(150));
        k.p.kill('SIGKILL');
      }
      gc?.kill('SIGKILL');
      for (const k of kids) {
        const e = await k.exited;
        expect(e.err).toBe('');
        expect(e.out).not.toContain('WRONG');
        expect(e.signal).toBe('SIGKILL');
      }
      if (gcExited) seen.gcKilled += (await gcExited) === 'SIGKILL' ? 1 : 0;
      for (let s = 0; s < 2; s++) {
        const lock = shardPaths(root, s).lock;
        if (fs.existsSync(lock)) seen[fs.readFileSync(lock, 'utf8') ? 'locksLeft' : 'emptyLocksLeft']++;
        if (fs.existsSync(shardPaths(root, s).journal)) seen.journalsLeft++;
      }
      for (const ws of workspaces) expectWholeFiles(ws);
      await freshClientWorks(root, dir, round, ROUND_ENV);
      expect(cacheProblems(root)).toEqual([]);
      const left = leftovers(root);
      seen.reservationsLeft = left.reserved.length;
      // what a crash may leave is only what gc clears
      expect(left.other.filter((o) => !o.startsWith('hint-tmp '))).toEqual([]);
    }
    console.log(`crash rounds: ${JSON.stringify(seen)}, leftovers for gc: ${JSON.stringify(leftovers(root))}`);
    if (hasCommand('gc')) expectCleanByAdminTools(root);
    else expect(leftovers(root).other.filter((o) => !o.startsWith('hint-tmp '))).toEqual(NO_LEFTOVERS.other);
    fs.rmSync(dir, { recursive: true, force: true });
  }, SOAK ? 3_600_000 : 300_000);

  it("gc's background cleanup killed mid-deletion: nothing to repair, and the next gc deletes what it left", async () => {
    const dir = tempDir();
    const root = initCache(path.join(dir, 'cache'), '10M', ['--shards', '2']);
    const ws = path.join(dir, 'ws');
    fs.mkdirSync(ws);
    const cache = Cache.open({ cache: root, cwd: ws, env: LOCK_ENV });
    for (let i = 0; i < 20; i++) {
      writeFiles(ws, { 'in.c': `in ${i}\n`, 'out.o': `object ${i}\n` });
      expect((await upload(cache, { job: `obj/${i}.o`, targets: ['out.o'], deps: ['in.c'] })).uploaded).toBe(true);
    }
    // enough trash besides the evicted entries that deleting it is still going on when we kill it
    const trash = adminPaths(root).trash;
    for (let i = 0; i < 1000; i++) writeFiles(path.join(trash, `old-${i}`), { 'data/a': 'a', 'data/b': 'b', 'data/c/d': 'd', info: 'i' });

    const r = cli(['gc', '--cache', root, '--size', '1', '--json'], { env: LOCK_ENV });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const { entries, trashPending, cleanupPid } = r.json();
    expect(entries).toBe(20);
    expect(trashPending).toBe(1020);
    // gc has exited; its cleanup is a process of its own, deleting
    while (fs.readdirSync(trash).length === trashPending) await sleep(5);
    expect(fs.readFileSync(`/proc/${cleanupPid}/cmdline`, 'utf8')).toContain('--cleanup-only');
    process.kill(cleanupPid, 'SIGKILL');
    const left = fs.readdirSync(trash).length;
    console.log(`cleanup killed with ${left} of ${trashPending} trash dirs left`);

    expect(cacheProblems(root)).toEqual([]);
    const dry = cli(['repair', '--dry-run', '--json', '--cache', root]);
    expect(dry.json().problems).toEqual([]);
    expect(dry.code).toBe(0);
    expectCleanByAdminTools(root);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a holder killed halfway through a journaled commit: the next client finishes it, no repair needed', async () => {
    const dir = tempDir();
    const root = initCache(path.join(dir, 'cache'), '2M');
    const ws = path.join(dir, 'ws');
    fs.mkdirSync(ws);
    writeFiles(ws, { 'old.c': 'old\n', 'old.o': 'old object\n', 'in.c': 'int x;\n', 'out.txt': 'the half-committed result\n' });
    const cache = Cache.open({ cache: root, cwd: ws, env: LOCK_ENV });
    expect((await upload(cache, { job: 'old', targets: ['old.o'], deps: ['old.c'] })).uploaded).toBe(true);

    const kid = startUntil('half-commit.mjs', [root, ws, 'half', 'in.c'], 'half');
    await kid.ready;
    kid.p.kill('SIGKILL');
    expect((await kid.exited).signal).toBe('SIGKILL');
    const sp = shardPaths(root, 0);
    expect(fs.existsSync(sp.lock)).toBe(true);
    expect(fs.existsSync(sp.journal)).toBe(true);
    expect(cacheProblems(root).length).toBeGreaterThan(0); // published on disk, not yet in the LRU

    // a plain hit takes the dead holder's lock at once (stale is 10 minutes) and redoes its journal
    const other = path.join(dir, 'other');
    fs.mkdirSync(other);
    writeFiles(other, { 'in.c': 'int x;\n' });
    const d = await download(Cache.open({ cache: root, cwd: other, env: LOCK_ENV }), { job: 'half', deps: ['in.c'] });
    expect(d.hit).toBe(true);
    expect(fs.readFileSync(path.join(other, 'out.txt'), 'utf8')).toBe('the half-committed result\n');
    expect(cacheProblems(root)).toEqual([]);
    expect(leftovers(root)).toEqual(NO_LEFTOVERS);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
