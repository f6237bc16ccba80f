/**
 * Shard locks on a shared (network) filesystem: a lock file that exists only while held and holds
 * its owner record. `lockfile` does the exclusive create; waiting, breaking and releasing are ours,
 * because its own versions judge staleness by comparing file times with the local clock and
 * remove locks without checking whose they are.
 */
import { closeSync, fstatSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import lockfile from 'lockfile';
import { LockLostError, LockTimeoutError } from './errors.js';
import { hexCounter, readToEnd } from './fsutil.js';
import { nowMs } from './clock.js';

export interface LockOptions {
  /** Break the lock once it has stayed unchanged this long (ms, by our own monotonic clock). */
  stale: number;
  /** Give up waiting after this long (ms). */
  timeout: number;
  /** Short text for other waiters' messages, e.g. "upload obj/foo.o". */
  what: string;
  /** Called when we start waiting and whenever the lock changes hands while we wait. */
  onWait?: (owner: LockOwner | undefined) => void;
}

export interface LockOwner {
  host: string;
  pid: number;
  token: string;
  start: number;
  what: string;
  beat: number;
  /** /proc/<pid>/stat start time, so a reused pid is not taken for the holder. */
  pidStart?: number;
}

export interface HeldLock {
  readonly path: string;
  readonly token: string;
  /**
   * Set when we broke a dead or stale lock on the way: the owner record it held, or null if it
   * held none (its creator died before writing it). The caller must finish or roll back that
   * holder's half-done update.
   */
  readonly brokeFrom?: LockOwner | null;
  release(): Promise<void>;
  refresh(): Promise<void>;
  startHeartbeat(intervalMs: number): void;
  assertHeld(): void;
}

// lockfile's exit hook unlinks every path this process ever locked through it: after our release
// that is usually another holder's lock, and after SIGTERM it would hide a half-done update from
// whoever breaks the lock. The hook calls exports.unlockSync when it runs, and nothing here uses
// lockfile's unlock, so disarm it. (The CLI bundles do not even load the hook's `signal-exit`:
// see src/bundle/no-exit-hook.cjs.)
(lockfile as { unlockSync: (path: string) => void }).unlockSync = () => {};

const ESTALE = -116; // Node 20 has no name for it
// Tokens must be unique, not secret: a counter from a random start per process (a random draw per
// lock cost a hit ~10 µs), plus the pid, which tells apart processes of one host.
const nextTokenSeq = hexCounter();
const nextToken = () => `${nextTokenSeq()}${process.pid.toString(16)}`;
const HOST = hostname();
// A hit holds its shard's lock well under a millisecond: a waiter that backs off to 50 ms at once
// mostly sleeps through free locks. Poll often for the first second, then back off further.
const EARLY_MAX_DELAY_MS = 5;
const EARLY_MS = 1000;
const MAX_DELAY_MS = 50;

export async function acquireLock(path: string, opts: LockOptions): Promise<HeldLock> {
  const token = nextToken();
  const t0 = nowMs();
  let delay = 1;
  let seenKey: string | undefined;
  let seenAt = 0;
  let lastOwner: LockOwner | undefined;
  let announced: string | null = null;
  let brokeFrom: LockOwner | null | undefined;
  let permButAbsent = 0;
  let absent = 0;

  for (;;) {
    const err = tryCreate(path);
    if (err === undefined) return new Held(path, writeOwner(path, token, opts.what), brokeFrom);

    let cur: Seen | undefined | 'unknown';
    try {
      cur = readState(path);
    } catch (e) {
      if (!isEstale(e)) throw e;
      cur = 'unknown';
    }
    if (cur === undefined) {
      // Released right after our create failed, or (GlusterFS) nobody won: try again at once, but
      // only once in a row, as something that fails both create and open (a dangling symlink) must
      // not spin. Create failing with EPERM while no lock is ever there is a real permission error.
      if (err.code === 'EPERM' && ++permButAbsent > 10) throw err;
      if (++absent === 1) continue;
    } else {
      absent = 0;
    }
    if (cur !== undefined && cur !== 'unknown') {
      const owner = parseOwner(cur.content);
      lastOwner = owner;
      const key = `${cur.size}\0${cur.mtimeMs}\0${cur.content}`;
      if (key !== seenKey) {
        seenKey = key;
        seenAt = nowMs();
      }
      if ((owner?.token ?? '') !== announced) {
        announced = owner?.token ?? '';
        opts.onWait?.(owner);
      }
      if ((owner && ownerGone(owner)) || nowMs() - seenAt >= opts.stale) {
        const r = breakLock(path, cur, token);
        if (r === 'taken' || r === 'broken') brokeFrom = owner ?? null;
        if (r === 'taken') return new Held(path, writeOwner(path, token, opts.what), brokeFrom);
        seenKey = undefined;
        if (r !== 'changed') continue;
      }
    }

    const waited = nowMs() - t0;
    if (waited >= opts.timeout) throw timeoutError(path, opts, waited, lastOwner);
    const pause = Math.min(delay * (0.5 + Math.random()), opts.timeout - waited + 1);
    await new Promise((wake) => setTimeout(wake, pause));
    delay = Math.min(delay * 1.5, waited < EARLY_MS ? EARLY_MAX_DELAY_MS : MAX_DELAY_MS);
  }
}

export async function withLock<T>(path: string, opts: LockOptions, fn: (held: HeldLock) => Promise<T>): Promise<T> {
  const held = await acquireLock(path, opts);
  let result: T;
  try {
    result = await fn(held);
  } catch (e) {
    try {
      await held.release();
    } catch {
      // fn's own error says more about what went wrong
    }
    throw e;
  }
  await held.release();
  return result;
}

export function readLockOwner(path: string): LockOwner | undefined {
  try {
    return parseOwner(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

class Held implements HeldLock {
  private timer: NodeJS.Timeout | undefined;
  private lost: LockLostError | undefined;
  private released = false;

  constructor(
    readonly path: string,
    private owner: LockOwner,
    readonly brokeFrom?: LockOwner | null,
  ) {}

  get token(): string {
    return this.owner.token;
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.stopHeartbeat();
    const cur = retryEstale(() => readState(this.path, false)); // the token is all a release checks
    if (parseOwner(cur?.content ?? '')?.token !== this.token) throw this.lostError(cur?.content);
    // Window: if we were broken as stale between the read above and this unlink and someone
    // re-took the lock, we remove theirs. Only a holder that stalled for `stale` can hit it.
    try {
      unlinkSync(this.path);
    } catch (e) {
      if (code(e) === 'ENOENT') throw this.lostError(undefined);
      throw e;
    }
  }

  async refresh(): Promise<void> {
    this.refreshSync();
  }

  startHeartbeat(intervalMs: number): void {
    if (this.timer || this.released) return;
    this.timer = setInterval(() => {
      try {
        this.refreshSync();
      } catch (e) {
        if (isEstale(e)) return; // transient; the next beat will tell
        this.lost = e instanceof LockLostError ? e : new LockLostError(`cannot refresh lock ${this.path}: ${String(e)}`);
        this.stopHeartbeat();
      }
    }, intervalMs);
    this.timer.unref();
  }

  assertHeld(): void {
    if (this.lost) throw this.lost;
    if (this.released) throw new LockLostError(`lock ${this.path} was already released`);
  }

  private stopHeartbeat(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private refreshSync(): void {
    this.assertHeld();
    let fd: number;
    try {
      fd = openSync(this.path, 'r+');
    } catch (e) {
      if (code(e) === 'ENOENT') throw this.lostError(undefined);
      throw e;
    }
    try {
      const content = readToEnd(fd);
      if (parseOwner(content)?.token !== this.token) {
        throw this.lostError(content);
      }
      // In place, through the fd we checked: the record only grows (beat), so no truncation, and
      // if the lock was broken meanwhile we write into the broken file, not into a new holder's.
      const next = { ...this.owner, beat: this.owner.beat + 1 };
      writeSync(fd, JSON.stringify(next), 0, 'utf8');
      this.owner = next;
    } finally {
      closeSync(fd);
    }
  }

  /** `content`: what the lock file holds now, undefined if it is gone. */
  private lostError(content: string | undefined): LockLostError {
    const other = content === undefined ? undefined : parseOwner(content);
    const now = other ? `it is now held by ${describe(other)}` : content !== undefined ? 'it now holds no owner record of ours' : 'it was removed';
    return new LockLostError(
      `lost lock ${this.path} (${this.owner.what}): ${now}; it was probably broken as stale, ` +
        'or its owner record was changed from outside',
    );
  }
}

interface Seen {
  content: string;
  size: number;
  mtimeMs: number;
}

/** Undefined on success, else the error that means "someone else has it (or may have)". */
function tryCreate(path: string): NodeJS.ErrnoException | undefined {
  try {
    lockfile.lockSync(path, {}); // a fresh object each time: lockfile writes into its options
    return undefined;
  } catch (e) {
    // sshfs reports a lost exclusive-create race as EPERM
    if (code(e) === 'EEXIST' || code(e) === 'EPERM' || isEstale(e)) return e as NodeJS.ErrnoException;
    throw e;
  }
}

function writeOwner(path: string, token: string, what: string): LockOwner {
  const owner: LockOwner = { host: HOST, pid: process.pid, token, start: Date.now(), what, beat: 0 };
  const pidStart = ownPidStart();
  if (pidStart !== undefined) owner.pidStart = pidStart;
  // 'r+', not 'w': the file is ours and empty, and a truncating open costs far more on ext4.
  // Window: a creator stalled for `stale` between create and this write may be broken and then
  // write into the next holder's lock; the next holder notices at its release.
  retryEstale(() => {
    const fd = openSync(path, 'r+');
    try {
      writeSync(fd, JSON.stringify(owner), 0, 'utf8');
    } finally {
      closeSync(fd);
    }
  });
  return owner;
}

/**
 * Break the lock judged dead or stale from `judged`, without ever removing a lock someone took
 * after we looked: move it aside under a name only we use, take the lock name ourselves, then
 * check that what we moved is what we judged.
 *  - 'taken': it was, and we now hold the (empty) lock;
 *  - 'broken': it was, but another waiter created the lock in the moment between our rename and
 *    our create; that holder does not know about the broken one;
 *  - 'changed': someone re-took the lock after we looked; it is back in place;
 *  - 'gone': it was released or broken by someone else first.
 */
function breakLock(path: string, judged: Seen, token: string): 'taken' | 'broken' | 'changed' | 'gone' {
  const aside = `${path}.broken-${token}`;
  try {
    renameSync(path, aside);
  } catch (e) {
    if (code(e) === 'ENOENT') return 'gone';
    if (isEstale(e)) return 'changed';
    throw e;
  }
  const took = tryCreate(path) === undefined;
  let moved: Seen | undefined;
  try {
    moved = readState(aside);
  } catch (e) {
    if (!isEstale(e)) throw e;
  }
  // mtime too, so an empty lock just re-created by someone else is not taken for the empty one
  if (moved && moved.content === judged.content && moved.mtimeMs === judged.mtimeMs) {
    unlinkQuiet(aside);
    return took ? 'taken' : 'broken';
  }
  if (took) {
    // our fresh lock has no owner record yet, so replacing it loses nothing and leaves no gap
    renameSync(aside, path);
    return 'changed';
  }
  try {
    linkSync(aside, path);
  } catch (e) {
    // Window: a third process created the lock between our rename and now. The holder we moved
    // aside then holds an unlinked file; it finds out at its next refresh or release.
    if (code(e) !== 'EEXIST' && code(e) !== 'EPERM') throw e;
  }
  unlinkQuiet(aside);
  return 'changed';
}

/** The lock's content and, when `stat` (a waiter judging staleness), its size and mtime. */
function readState(path: string, stat = true): Seen | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    if (code(e) === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const st = stat ? fstatSync(fd) : undefined;
    return { content: readToEnd(fd), size: st?.size ?? 0, mtimeMs: st?.mtimeMs ?? 0 };
  } catch (e) {
    // sshfs answers an open file's fstat by path: ENOENT once it was released meanwhile
    if (code(e) === 'ENOENT') return undefined;
    throw e;
  } finally {
    closeSync(fd);
  }
}

function parseOwner(text: string): LockOwner | undefined {
  let o: Partial<LockOwner> | null;
  try {
    o = JSON.parse(text) as Partial<LockOwner> | null;
  } catch {
    return undefined;
  }
  if (
    !o ||
    typeof o.host !== 'string' ||
    !Number.isInteger(o.pid) ||
    (o.pid as number) <= 0 ||
    typeof o.token !== 'string' ||
    typeof o.start !== 'number' ||
    typeof o.what !== 'string' ||
    typeof o.beat !== 'number'
  ) {
    return undefined;
  }
  const owner: LockOwner = { host: o.host, pid: o.pid as number, token: o.token, start: o.start, what: o.what, beat: o.beat };
  if (typeof o.pidStart === 'number') owner.pidStart = o.pidStart;
  return owner;
}

/** Only answers for owners on this host; elsewhere only staleness can tell. */
function ownerGone(owner: LockOwner): boolean {
  if (owner.host !== HOST) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (e) {
    if (code(e) === 'ESRCH') return true;
    // EPERM: alive, another user's
  }
  const stat = procStat(owner.pid);
  if (!stat) return false;
  // a zombie still answers kill(pid, 0) until its parent reaps it
  if (stat.state === 'Z' || stat.state === 'X') return true;
  return owner.pidStart !== undefined && stat.start !== owner.pidStart;
}

function procStat(pid: number): { state: string; start: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses; fields 3.. follow the last ')'
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const start = Number(fields[19]);
    return Number.isFinite(start) ? { state: fields[0] ?? '', start } : undefined;
  } catch {
    return undefined;
  }
}

let ownStart: number | null | undefined;
function ownPidStart(): number | undefined {
  if (ownStart === undefined) ownStart = procStat(process.pid)?.start ?? null;
  return ownStart ?? undefined;
}

function timeoutError(path: string, opts: LockOptions, waitedMs: number, owner: LockOwner | undefined): LockTimeoutError {
  const by = owner ? `held by ${describe(owner)}` : 'held by an owner that has written no owner record';
  return new LockTimeoutError(
    `timed out after ${seconds(waitedMs)} waiting for lock ${path} ${by}; ` +
      `it is broken automatically once unchanged for ${seconds(opts.stale)}`,
  );
}

function describe(o: LockOwner): string {
  const since = new Date(o.start).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return `pid ${o.pid} on host ${o.host} (${o.what}) since ${since}`;
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

function retryEstale<T>(fn: () => T): T {
  for (let i = 0; ; i++) {
    try {
      return fn();
    } catch (e) {
      if (!isEstale(e) || i >= 3) throw e;
    }
  }
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // a leftover aside-name is harmless: nobody reads it
  }
}

function code(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | null)?.code;
}

function isEstale(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | null)?.errno === ESTALE;
}
