import * as fs from 'node:fs';
import * as path from 'node:path';
import { hostname } from 'node:os';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { checkCache } from '../src/check.js';
import { cli, cliSpawn, snapshot } from './helpers.js';
import { NO_LEFTOVERS, leftovers } from './invariants.js';
import { admin, download, downloadOutcome, entryOf, headOf, listed, makeFixture, setHead, upload } from './admin-fixture.js';

const jobs = (f: ReturnType<typeof makeFixture>) => listed(f).map((e) => e.job);

/** A 150 MiB upload stopped (SIGSTOP) once it has reserved room and is building its entry in LMAKE/tmp. */
async function pausedBigUpload() {
  const f = makeFixture('400M');
  upload(f, 'small');
  const lm = path.join(f.cache, 'LMAKE');
  fs.writeFileSync(path.join(f.ws, 'big.bin'), Buffer.alloc(150 * 2 ** 20, 7));
  const child = cliSpawn(['upload', '--cache', f.cache, '--job', 'big', '--target', 'big.bin', '--repo-key', 'k'], { cwd: f.ws });
  const exited = new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const reservedDir = path.join(lm, 'shards', '0', 'reserved');
  const building = () => fs.readdirSync(reservedDir).some((t) => fs.existsSync(path.join(lm, 'tmp', t)));
  while (!building()) await sleep(1);
  child.kill('SIGSTOP');
  return { f, lm, reservedDir, child, exited, stderr: () => stderr };
}

// real CLI runs, many per test: allow for a loaded machine
describe('dircache gc', { timeout: 300_000 }, () => {
  it('evicts down to a lower size, keeping exactly the most recently used entries that fit', () => {
    const f = makeFixture();
    for (const j of ['j1', 'j2', 'j3', 'j4', 'j5']) upload(f, j);
    expect(download(f, 'j1')).toBe('hit');
    expect(download(f, 'j2')).toBe('hit');
    const size = listed(f)[0]!.size;
    const r = admin(f, 'gc', '--size', String(3 * size + 100), '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ entries: 2, bytes: 2 * size, dryRun: false });
    expect(r.json().evicted.sort()).toEqual([expect.stringMatching(/^j3\//), expect.stringMatching(/^j4\//)]);
    expect(jobs(f)).toEqual(['j2', 'j1', 'j5']);
    expect(headOf(f.cache)).toMatchObject({ entries: 3, total: 3 * size });
    expect(checkCache(f.cache)).toMatchObject({ ok: true, problems: [] });
    for (const j of ['j1', 'j2', 'j5']) expect(download(f, j)).toBe('hit');
    expect(download(f, 'j3')).toBe('miss');
  });

  it('leaves deleting the trash and stale hints to a detached process, which does it after gc has exited', async () => {
    const f = makeFixture();
    for (const j of ['j1', 'j2', 'j3']) upload(f, j);
    const r = admin(f, 'gc', '--size', '1', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ entries: 3, trash: 3, trashPending: 3, hints: 0, cleanupPid: expect.any(Number) });
    expect(r.stdout).not.toContain('deleting'); // --json: the object only
    expect(headOf(f.cache)).toMatchObject({ entries: 0, total: 0 });
    const trash = path.join(f.cache, 'LMAKE', 'trash');
    await until(() => fs.readdirSync(trash).length === 0 && hintLinks(f.cache).length === 0);
    expect(leftovers(f.cache)).toEqual(NO_LEFTOVERS);
    expect(checkCache(f.cache)).toMatchObject({ ok: true, problems: [] });
  });

  it('--wait does the cleanup before exiting and counts it', () => {
    const f = makeFixture();
    for (const j of ['j1', 'j2', 'j3']) upload(f, j);
    expect(hintLinks(f.cache)).toHaveLength(3);
    const r = admin(f, 'gc', '--size', '1', '--wait');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^gc: evicted 3 entries .*; deleted 3 trash dirs, removed 3 stale hint links$/m);
    expect(fs.readdirSync(path.join(f.cache, 'LMAKE', 'trash'))).toEqual([]);
    expect(hintLinks(f.cache)).toEqual([]);
    expect(checkCache(f.cache)).toMatchObject({ ok: true, problems: [] });
  });

  it('--cleanup-only: two at once delete all of the trash, and neither fails', async () => {
    const f = makeFixture();
    const trash = path.join(f.cache, 'LMAKE', 'trash');
    for (let i = 0; i < 100; i++) {
      for (let k = 0; k < 3; k++) fs.mkdirSync(path.join(trash, `t${i}`, 'data', `d${k}`), { recursive: true });
      for (let k = 0; k < 3; k++) fs.writeFileSync(path.join(trash, `t${i}`, 'data', `d${k}`, 'f'), 'x');
    }
    const runs = [0, 1].map(() => {
      const c = cliSpawn(['gc', '--cleanup-only', '--json', '--cache', f.cache]);
      let out = '';
      let err = '';
      c.stdout.on('data', (d) => (out += d));
      c.stderr.on('data', (d) => (err += d));
      return new Promise<[number | null, string, string]>((res) => c.on('close', (code) => res([code, out, err])));
    });
    for (const [code, out, err] of await Promise.all(runs)) {
      expect(err).toBe('');
      expect(code).toBe(0);
      expect(JSON.parse(out).trash).toBeLessThanOrEqual(100);
    }
    expect(fs.readdirSync(trash)).toEqual([]);
    const usage = admin(f, 'gc', '--cleanup-only', '--size', '1M');
    expect(usage.code).toBe(3);
    expect(usage.stderr).toMatch(/mutually exclusive/);
  });

  it('--dry-run says what it would evict and changes nothing', () => {
    const f = makeFixture();
    for (const j of ['j1', 'j2']) upload(f, j);
    const before = snapshot(f.cache);
    const r = admin(f, 'gc', '--percent', '0.001', '--dry-run');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^gc \(dry run\): would evict 2 entries/);
    expect(snapshot(f.cache)).toEqual(before);
  });

  it('--older-than evicts entries neither placed nor read since, and keeps an old entry read lately', () => {
    const f = makeFixture();
    for (const j of ['j1', 'j2', 'j3']) upload(f, j);
    const twoDaysAgo = Date.now() - 2 * 86_400_000;
    for (const j of ['j1', 'j2']) ageRecord(entryOf(f, j), twoDaysAgo);
    expect(download(f, 'j2')).toBe('hit');
    const r = admin(f, 'gc', '--older-than', '1d', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ entries: 1, evicted: [expect.stringMatching(/^j1\//)] });
    expect(jobs(f).sort()).toEqual(['j2', 'j3']);
    expect(checkCache(f.cache).problems).toEqual([]);
  });

  it('removes dead leftovers and keeps those of a live upload paused mid-way', async () => {
    const { f, lm, reservedDir, child, exited, stderr: errOf } = await pausedBigUpload();
    try {
      const live = fs.readdirSync(reservedDir);
      // leftovers: a dead local upload, an old one from another host, a young one from another host
      const deadPid = spawnSync(process.execPath, ['-e', '']).pid!;
      const dead = fakeReservation(f.cache, `${hostname()}-${deadPid}-aaaaaaaaaaaa`, hostname(), deadPid, Date.now(), 1000);
      const old = fakeReservation(f.cache, 'elsewhere-12-bbbbbbbbbbbb', 'elsewhere', 12, Date.now() - 2 * 3600_000, 2000);
      const young = fakeReservation(f.cache, 'elsewhere-13-cccccccccccc', 'elsewhere', 13, Date.now(), 3000);
      fs.mkdirSync(path.join(lm, 'trash', 'x', 'y'), { recursive: true });
      fs.mkdirSync(path.join(lm, 'tmp', 'elsewhere-14-dddddddddddd'));
      const oldTime = new Date(Date.now() - 2 * 3600_000);
      fs.utimesSync(path.join(lm, 'tmp', 'elsewhere-14-dddddddddddd'), oldTime, oldTime);
      const hintTmp = path.join(f.cache, 'small', '.hint-elsewhere-15-eeeeeeeeeeee');
      fs.symlinkSync('key-0000000000000000-first', hintTmp);
      fs.lutimesSync(hintTmp, oldTime, oldTime);
      const totalBefore = headOf(f.cache).total;

      const r = admin(f, 'gc', '--wait', '--json');
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      // the trash: the leftover, and the tmp dirs of the two dead uploads and of nobody, moved there
      expect(r.json()).toMatchObject({ entries: 0, reservations: 2, reservedBytes: 3000, trash: 4, trashPending: 0, tmp: 1, hintTmp: 1 });
      expect(r.json().cleanupPid).toBeUndefined();
      expect(fs.readdirSync(reservedDir).sort()).toEqual([...live, young].sort());
      expect(fs.existsSync(path.join(lm, 'tmp', dead))).toBe(false);
      expect(fs.existsSync(path.join(lm, 'tmp', old))).toBe(false);
      expect(fs.existsSync(path.join(lm, 'tmp', young))).toBe(true);
      expect(fs.readdirSync(path.join(lm, 'trash'))).toEqual([]);
      expect(fs.existsSync(hintTmp)).toBe(false);
      expect(headOf(f.cache).total).toBe(totalBefore - 3000);
      // the paused upload's build dir is still there
      for (const token of live) expect(fs.existsSync(path.join(lm, 'tmp', token))).toBe(true);
      fs.rmSync(path.join(reservedDir, young));
      fs.rmSync(path.join(lm, 'tmp', young), { recursive: true });
      setHead(f.cache, { ...headOf(f.cache), total: headOf(f.cache).total - 3000 });
    } finally {
      child.kill('SIGCONT');
    }
    expect(await exited).toBe(0);
    expect(errOf()).toBe('');
    expect(checkCache(f.cache)).toMatchObject({ ok: true });
    expect(fs.readdirSync(reservedDir)).toEqual([]);
    const c = cliSpawn(['download', '--cache', f.cache, '--job', 'big'], { cwd: f.other });
    expect(await new Promise((res) => c.on('exit', res))).toBe(0);
    expect(fs.statSync(path.join(f.other, 'big.bin')).size).toBe(150 * 2 ** 20);
  });

  it('an upload whose reservation gc reclaimed (past the grace) stores nothing and leaves the total right', async () => {
    const { f, lm, reservedDir, child, exited, stderr: errOf } = await pausedBigUpload();
    const totalBefore = headOf(f.cache).total;
    try {
      // seen from another host, an upload older than the grace period is presumed dead
      const [token] = fs.readdirSync(reservedDir);
      const file = path.join(reservedDir, token!);
      const rec = JSON.parse(fs.readFileSync(file, 'utf8'));
      fs.writeFileSync(file, JSON.stringify({ ...rec, host: 'elsewhere', start: Date.now() - 2 * 3600_000 }) + '\n');
      const r = admin(f, 'gc', '--json');
      expect(r.code).toBe(0);
      expect(r.json()).toMatchObject({ reservations: 1, reservedBytes: rec.bytes });
      expect(headOf(f.cache).total).toBe(totalBefore - rec.bytes);
    } finally {
      child.kill('SIGCONT');
    }
    expect(await exited).toBe(2);
    expect(errOf()).toMatch(/took longer than gc's grace period and its reservation was reclaimed; nothing stored/);
    expect(jobs(f)).toEqual(['small']);
    expect(fs.readdirSync(path.join(lm, 'tmp'))).toEqual([]);
    expect(checkCache(f.cache)).toMatchObject({ ok: true, problems: [] });
  });

  it('downloads running during gc either hit with the right bytes or miss', async () => {
    const f = makeFixture();
    const names = ['d1', 'd2', 'd3', 'd4', 'd5', 'd6'];
    for (const j of names) upload(f, j);
    const runs = names.map((j) => {
      fs.rmSync(path.join(f.other, 'out', `${j}.bin`), { force: true });
      const c = cliSpawn(['download', '--cache', f.cache, '--job', j, '--dep', 'src.c'], { cwd: f.other });
      let stderr = '';
      c.stderr.on('data', (d) => (stderr += d));
      return new Promise<number | null>((res) => c.on('close', res)).then((code) => [j, code, stderr] as const);
    });
    const gcRun = cliSpawn(['gc', '--cache', f.cache, '--size', '1']);
    const gcCode = await new Promise((res) => gcRun.on('exit', res));
    expect(gcCode).toBe(0);
    for (const [j, code, stderr] of await Promise.all(runs)) expect(['hit', 'miss']).toContain(downloadOutcome(f, j, code, stderr));
    expect(checkCache(f.cache).problems).toEqual([]);
  });

  it('gives up on a lock held too long with an error naming its owner, not a hang', () => {
    const f = makeFixture();
    upload(f, 'j1');
    const lock = path.join(f.cache, 'LMAKE', 'shards', '0', 'lock');
    const owner = { host: hostname(), pid: process.pid, token: 't', start: Date.now(), what: 'upload obj/held.o', beat: 0 };
    fs.writeFileSync(lock, JSON.stringify(owner));
    const before = snapshot(f.cache);
    const r = cli(['gc', '--cache', f.cache, '--size', '1'], { env: { DIRCACHE_LOCK_TIMEOUT: '1s' } });
    expect(r.code).toBe(5);
    expect(r.stderr).toContain(`pid ${process.pid}`);
    expect(r.stderr).toContain('upload obj/held.o');
    expect(snapshot(f.cache)).toEqual(before);
  });

  it('refuses bad targets with a message, changing nothing', () => {
    const f = makeFixture();
    upload(f, 'j1');
    const before = snapshot(f.cache);
    const pct = admin(f, 'gc', '--percent', '0');
    expect(pct.code).toBe(3);
    expect(pct.stderr).toContain('--percent 0: give a number above 0 and at most 100');
    const both = admin(f, 'gc', '--percent', '50', '--size', '1M');
    expect(both.code).toBe(3);
    expect(both.stderr).toMatch(/mutually exclusive/);
    const age = admin(f, 'gc', '--older-than', '3 weeks');
    expect(age.code).toBe(4);
    expect(age.stderr).toContain("bad duration '3 weeks'");
    expect(snapshot(f.cache)).toEqual(before);
  });
});

/** Wait for what a background process does; the test's own timeout is the deadline. */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await sleep(20);
}

/** The deps hint links in the cache's job dirs. */
function hintLinks(cache: string): string[] {
  return fs.readdirSync(cache, { recursive: true, encoding: 'utf8' }).filter((p) => path.basename(p).startsWith('deps_hint-'));
}

/** Rewrite an entry's lru record as if it had been placed and last read at `when`. */
function ageRecord(entryDir: string, when: number): void {
  const file = path.join(entryDir, 'lru');
  const [, links] = fs.readFileSync(file, 'utf8').split('\n');
  const rec = { ...JSON.parse(links!), placed: when };
  fs.writeFileSync(file, `access ${String(when).padStart(16, '0')}\n${JSON.stringify(rec)}\n`);
}

/** A reservation record (and its build dir) as an upload would leave it; its bytes join the head total. */
function fakeReservation(cache: string, token: string, host: string, pid: number, start: number, bytes: number): string {
  const tmp = path.join('LMAKE', 'tmp', token);
  fs.mkdirSync(path.join(cache, tmp));
  fs.writeFileSync(path.join(cache, 'LMAKE', 'shards', '0', 'reserved', token), JSON.stringify({ token, host, pid, bytes, start, tmp }) + '\n');
  setHead(cache, { ...headOf(cache), total: headOf(cache).total + bytes });
  return token;
}
