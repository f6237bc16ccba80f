import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import lockfile from 'lockfile';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { LockLostError, LockTimeoutError } from '../src/errors.js';
import { acquireLock, readLockOwner, withLock, type LockOptions, type LockOwner } from '../src/lock.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const holderScript = path.join(here, 'fixtures', 'lock-holder.mjs');
const distLock = path.join(here, '..', 'dist', 'lock.js');

let dir: string;
const children: ChildProcess[] = [];

beforeAll(() => {
  // the children import the built module
  const built = fs.existsSync(distLock) && fs.statSync(distLock).mtimeMs >= fs.statSync(path.join(here, '..', 'src', 'lock.ts')).mtimeMs;
  if (!built) throw new Error('dist/lock.js is missing or older than src/lock.ts: run `npm run build` (npm test does)');
});

afterEach(() => {
  vi.restoreAllMocks();
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function tmp(): string {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dircache-lock-'));
  return path.join(dir, 'lock');
}

interface Child {
  proc: ChildProcess;
  /** resolves with the token once the child prints "held <token>" */
  held: Promise<string>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

function holder(lock: string, opts: { stale: number; timeout: number; what: string }, mode: string, ...args: string[]): Child {
  const proc = spawn(process.execPath, [holderScript, lock, String(opts.stale), String(opts.timeout), opts.what, mode, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push(proc);
  let stdout = '';
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal, stderr })),
  );
  // a token is a 12-hex-digit counter and then the holder's pid in hex (as many digits as it has)
  const tokenRe = new RegExp(`^held ([0-9a-f]{12}${proc.pid!.toString(16)})$`, 'm');
  const held = new Promise<string>((resolve, reject) => {
    proc.stdout!.on('data', (d) => {
      stdout += d;
      const m = tokenRe.exec(stdout);
      if (m) resolve(m[1]!);
    });
    void exit.then((e) => reject(new Error(`child exited before holding: ${JSON.stringify(e)}`)));
  });
  held.catch(() => {});
  return { proc, held, exit };
}

function waitFor(stream: NodeJS.ReadableStream, text: string): Promise<void> {
  return new Promise((resolve) => {
    let seen = '';
    stream.on('data', (d) => {
      seen += d;
      if (seen.includes(text)) resolve();
    });
  });
}

function foreignOwner(over: Partial<LockOwner> = {}): LockOwner {
  return { host: 'some-other-host.invalid', pid: 4242, token: 'f00df00df00df00d', start: Date.UTC(2026, 10, 22, 10), what: 'upload obj/a.o', beat: 7, ...over };
}

describe('lock', () => {
  it('excludes: 6 processes x 100 read-modify-write increments give exactly 600', async () => {
    const lock = tmp();
    const counter = path.join(dir, 'counter');
    fs.writeFileSync(counter, '0');
    const kids = Array.from({ length: 6 }, (_, i) => holder(lock, { stale: 10_000, timeout: 30_000, what: `count ${i}` }, 'count', counter, '100'));
    const exits = await Promise.all(kids.map((k) => k.exit));
    for (const e of exits) expect(e).toEqual({ code: 0, signal: null, stderr: '' });
    expect(fs.readFileSync(counter, 'utf8')).toBe('600');
    expect(fs.existsSync(lock)).toBe(false);
    expect(fs.readdirSync(dir).sort()).toEqual(['counter']);
  });

  it('breaks the lock of a dead holder on this host at once and reports its owner record', async () => {
    const lock = tmp();
    const kid = holder(lock, { stale: 60_000, timeout: 5_000, what: 'gc shard 0' }, 'hold');
    const token = await kid.held;
    const before = readLockOwner(lock);
    expect(before).toMatchObject({ host: os.hostname(), pid: kid.proc.pid, token, what: 'gc shard 0', beat: 0 });
    expect(typeof before!.pidStart).toBe('number');
    kid.proc.kill('SIGKILL');
    expect(await kid.exit).toMatchObject({ code: null, signal: 'SIGKILL' });

    const t0 = performance.now();
    const held = await acquireLock(lock, { stale: 60_000, timeout: 10_000, what: 'upload obj/b.o' });
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(held.brokeFrom).toEqual(before);
    expect(readLockOwner(lock)).toMatchObject({ pid: process.pid, token: held.token, what: 'upload obj/b.o' });
    await held.release();
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('never breaks a live heartbeating holder, whatever its file times say; times out naming it', async () => {
    const lock = tmp();
    const kid = holder(lock, { stale: 1_500, timeout: 5_000, what: 'repair shard 3' }, 'hold', '300');
    const token = await kid.held;
    fs.utimesSync(lock, new Date('2000-01-01T00:00:00Z'), new Date('2000-01-01T00:00:00Z'));
    const future = setTimeout(() => fs.utimesSync(lock, new Date('2100-01-01T00:00:00Z'), new Date('2100-01-01T00:00:00Z')), 2_000);
    const seen: (LockOwner | undefined)[] = [];

    const t0 = performance.now();
    const err = await acquireLock(lock, { stale: 1_500, timeout: 4_000, what: 'upload obj/c.o', onWait: (o) => seen.push(o) }).catch((e: unknown) => e);
    clearTimeout(future);
    const waited = performance.now() - t0;

    expect(err).toBeInstanceOf(LockTimeoutError);
    const msg = (err as Error).message;
    expect(msg).toContain(`waiting for lock ${lock} held by pid ${kid.proc.pid} on host ${os.hostname()} (repair shard 3) since `);
    expect(msg).toMatch(/^timed out after 4(\.\d)? s .* since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ; it is broken automatically once unchanged for 1\.5 s$/);
    expect(waited).toBeGreaterThanOrEqual(4_000);
    expect(waited).toBeLessThan(5_000);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ pid: kid.proc.pid, token });
    // still the child's, still alive, and it has been beating
    expect(readLockOwner(lock)).toMatchObject({ token });
    expect(readLockOwner(lock)!.beat).toBeGreaterThanOrEqual(10);
    expect(kid.proc.exitCode).toBe(null);
  });

  it('breaks a never-changing lock of another host only after `stale` by its own clock', async () => {
    const lock = tmp();
    const record = foreignOwner();
    fs.writeFileSync(lock, JSON.stringify(record));
    // file times that claim the lock is ancient must not make it stale any sooner
    fs.utimesSync(lock, new Date('2000-01-01T00:00:00Z'), new Date('2000-01-01T00:00:00Z'));

    const t0 = performance.now();
    const pending = acquireLock(lock, { stale: 1_000, timeout: 5_000, what: 'upload obj/d.o' });
    await sleep(800);
    expect(readLockOwner(lock)).toEqual(record);
    const held = await pending;
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(1_000);
    expect(took).toBeLessThan(2_500);
    expect(held.brokeFrom).toEqual(record);
    await held.release();
  });

  it('breaks an empty lock (creator died before writing its owner record) after `stale`', async () => {
    const lock = tmp();
    fs.writeFileSync(lock, '');
    const t0 = performance.now();
    const seen: (LockOwner | undefined)[] = [];
    const held = await acquireLock(lock, { stale: 800, timeout: 5_000, what: 'upload obj/e.o', onWait: (o) => seen.push(o) });
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(800);
    expect(took).toBeLessThan(2_500);
    expect(held.brokeFrom).toBe(null);
    expect(seen).toEqual([undefined]);
    await held.release();
  });

  it('times out on an empty lock with a message that says so', async () => {
    const lock = tmp();
    fs.writeFileSync(lock, '');
    const err = await acquireLock(lock, { stale: 30_000, timeout: 300, what: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockTimeoutError);
    expect((err as Error).message).toBe(
      `timed out after 0.3 s waiting for lock ${lock} held by an owner that has written no owner record; it is broken automatically once unchanged for 30 s`,
    );
    expect(fs.readFileSync(lock, 'utf8')).toBe('');
  });

  it('never removes another holder\'s lock on release, refresh or heartbeat', async () => {
    const lock = tmp();
    const held = await acquireLock(lock, { stale: 10_000, timeout: 1_000, what: 'upload obj/f.o' });
    expect(held.brokeFrom).toBeUndefined();
    await held.refresh();
    expect(readLockOwner(lock)).toMatchObject({ token: held.token, beat: 1 });
    held.startHeartbeat(30);
    await sleep(200);
    held.assertHeld();
    expect(readLockOwner(lock)!.beat).toBeGreaterThan(2);

    const other = JSON.stringify(foreignOwner({ host: os.hostname(), pid: process.pid }));
    fs.writeFileSync(lock, other);
    await sleep(200);
    expect(() => held.assertHeld()).toThrow(LockLostError);
    await expect(held.refresh()).rejects.toThrow(LockLostError);
    await expect(held.release()).rejects.toThrow(/lost lock .* now held by pid \d+ on host .* \(upload obj\/a\.o\)/);
    expect(fs.readFileSync(lock, 'utf8')).toBe(other);
  });

  it('reports a lock removed under its holder as lost', async () => {
    const lock = tmp();
    const held = await acquireLock(lock, { stale: 10_000, timeout: 1_000, what: 'x' });
    fs.unlinkSync(lock);
    await expect(held.release()).rejects.toThrow(/it was removed/);
    expect(fs.existsSync(lock)).toBe(false);
  });

  it('withLock releases after success and after failure', async () => {
    const lock = tmp();
    const opts: LockOptions = { stale: 10_000, timeout: 1_000, what: 'x' };
    expect(await withLock(lock, opts, async (h) => (fs.existsSync(h.path) ? 42 : 0))).toBe(42);
    expect(fs.existsSync(lock)).toBe(false);
    await expect(withLock(lock, opts, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(fs.existsSync(lock)).toBe(false);
  });

  it('hands lockfile a fresh options object with no staleness each time, and leaves ours alone', async () => {
    const lock = tmp();
    const spy = vi.spyOn(lockfile, 'lockSync');
    const opts: LockOptions = Object.freeze({ stale: 10_000, timeout: 1_000, what: 'x' });
    for (let i = 0; i < 2; i++) await (await acquireLock(lock, opts)).release();
    expect(spy).toHaveBeenCalledTimes(2);
    const [a, b] = spy.mock.calls.map((c) => c[1]);
    expect(a).not.toBe(b);
    for (const o of [a, b]) {
      expect(o).not.toBe(opts);
      expect(o).not.toHaveProperty('stale');
      expect(o).not.toHaveProperty('wait');
    }
  });

  it('a process that released the lock and then exits does not remove the next holder\'s lock', async () => {
    const lock = tmp();
    const kid = holder(lock, { stale: 10_000, timeout: 5_000, what: 'x' }, 'release-then-wait');
    await waitFor(kid.proc.stdout!, 'released');
    const held = await acquireLock(lock, { stale: 10_000, timeout: 1_000, what: 'mine' });
    kid.proc.stdin!.end();
    expect(await kid.exit).toEqual({ code: 0, signal: null, stderr: '' });
    expect(readLockOwner(lock)).toMatchObject({ token: held.token });
    await held.release();
  });

  it('takes EPERM from a lost create race (sshfs) as "exists", and a lasting EPERM with no lock as an error', async () => {
    const lock = tmp();
    const real = lockfile.lockSync;
    vi.spyOn(lockfile, 'lockSync').mockImplementation((p, o) => {
      try {
        real(p, o);
      } catch (e) {
        throw Object.assign(new Error('EPERM: operation not permitted'), { code: 'EPERM', errno: -1 }, { cause: e });
      }
    });
    const first = await acquireLock(lock, { stale: 10_000, timeout: 1_000, what: 'first' });
    setTimeout(() => void first.release(), 150);
    const second = await acquireLock(lock, { stale: 10_000, timeout: 2_000, what: 'second' });
    expect(readLockOwner(lock)).toMatchObject({ token: second.token });
    await second.release();

    vi.spyOn(lockfile, 'lockSync').mockImplementation(() => {
      throw Object.assign(new Error('EPERM: operation not permitted'), { code: 'EPERM', errno: -1 });
    });
    await expect(acquireLock(lock, { stale: 10_000, timeout: 2_000, what: 'x' })).rejects.toMatchObject({ code: 'EPERM' });
  });

  it('waits and times out, without spinning, on something that is neither creatable nor readable', async () => {
    const lock = tmp();
    fs.symlinkSync('nowhere', lock);
    const spy = vi.spyOn(lockfile, 'lockSync');
    const err = await acquireLock(lock, { stale: 10_000, timeout: 300, what: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockTimeoutError);
    expect(spy.mock.calls.length).toBeLessThan(100);
    expect(fs.readlinkSync(lock)).toBe('nowhere');
  });

  it('retries ESTALE (errno -116)', async () => {
    const lock = tmp();
    const real = lockfile.lockSync;
    let calls = 0;
    vi.spyOn(lockfile, 'lockSync').mockImplementation((p, o) => {
      if (++calls <= 2) throw Object.assign(new Error('Unknown system error -116'), { code: 'Unknown system error -116', errno: -116 });
      real(p, o);
    });
    const held = await acquireLock(lock, { stale: 10_000, timeout: 1_000, what: 'x' });
    expect(calls).toBe(3);
    await held.release();
  });
});
