import { closeSync, fstatSync, fsyncSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Cache } from './cache.js';
import { applyPerm, hexCounter, isNotFound, mkdirp, readTextIfExists, writeAtomic } from './fsutil.js';
import { adminPaths } from './layout.js';
import { acquireLock } from './lock.js';
import { readHead } from './lru.js';

/**
 * Per-client counters in LMAKE/stats/. Each client (host + uid) appends one line per event to its
 * own `<client>.log` (O_APPEND keeps concurrent jobs of one client whole: no lock, no shared file).
 * When the log grows past COMPACT_AT, the client folds it into `<client>.json` under a per-client
 * lock: rename the log to `<client>.fold-<token>`, read it, and atomically write the new totals
 * with how many bytes of each segment they hold. A job that opened the log just before the rename
 * may still append to the segment: those bytes lie past the folded length, so readers and the next
 * compaction still count them, and segments are only deleted by that next compaction. A compactor
 * killed at any step loses or doubles nothing.
 */
export interface Counters {
  hits: number;
  misses: number;
  uploads: number;
  /** Bytes stored into the cache by uploads. */
  bytesIn: number;
  /** Bytes restored from the cache by hits. */
  bytesOut: number;
  /** Seconds: the recorded run time of every hit entry. */
  timeSaved: number;
}

export const ZERO: Counters = { hits: 0, misses: 0, uploads: 0, bytesIn: 0, bytesOut: 0, timeSaved: 0 };
const KEYS = Object.keys(ZERO) as (keyof Counters)[];

export function addCounters(a: Counters, b: Partial<Counters>): Counters {
  const out = { ...a };
  for (const k of KEYS) {
    const v = b[k];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) out[k] += v;
  }
  return out;
}

/** Sum of a log's records; a torn or foreign line is skipped, never fatal. */
export function sumRecords(text: string): Counters {
  let c = ZERO;
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const rec: unknown = JSON.parse(line);
      if (rec && typeof rec === 'object') c = addCounters(c, rec as Partial<Counters>);
    } catch {
      // a record cut by a crash mid-append
    }
  }
  return c;
}

interface Folded {
  totals: Counters;
  /** Segment token → bytes of it already in `totals`. */
  folded: Record<string, number>;
}

function decodeFolded(text: string | undefined): Folded {
  const empty = { totals: ZERO, folded: {} };
  if (!text) return empty;
  try {
    const j = JSON.parse(text) as Partial<Folded>;
    const folded: Record<string, number> = {};
    for (const [t, n] of Object.entries(j.folded ?? {})) if (typeof n === 'number') folded[t] = n;
    return { totals: addCounters(ZERO, j.totals ?? {}), folded };
  } catch {
    return empty; // written atomically, so only a foreign file gets here
  }
}

/** A segment's whole records from byte `from` on, and where they end (a line still being appended waits). */
function readTail(path: string, from: number): { counters: Counters; end: number } {
  const buf = readBytesIfExists(path);
  const end = buf.lastIndexOf(0x0a) + 1;
  return { counters: sumRecords(buf.subarray(Math.min(from, end), end).toString('utf8')), end: Math.max(end, from) };
}

function readBytesIfExists(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    if (isNotFound(e)) return Buffer.alloc(0);
    throw e;
  }
}

/** `<host>-<uid>`, made safe as a file name. */
export function clientName(host = hostname(), uid = process.getuid?.() ?? 0): string {
  return `${host.replace(/[^A-Za-z0-9._-]/g, '_')}-${uid}`;
}

const COMPACT_AT = 64 << 10;
const SEGMENT_RE = /^(.+)\.fold-([0-9a-f]{12})$/;
const nextFoldToken = hexCounter();
const CLIENT_RE = /^(.+)\.(log|json)$/;

/**
 * Count one event for this client. Best effort: stats must never fail a build, so a problem is
 * returned as a warning instead of thrown.
 */
export async function recordStats(cache: Cache, delta: Partial<Counters>, client = clientName()): Promise<string | undefined> {
  try {
    const dir = adminPaths(cache.root).stats;
    const log = join(dir, `${client}.log`);
    let fd: number;
    try {
      fd = openSync(log, 'a', 0o644);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      mkdirp(cache.policy, dir);
      fd = openSync(log, 'a', 0o644);
    }
    let size: number;
    try {
      applyPerm(cache.policy, log, 'file', fd);
      writeSync(fd, JSON.stringify(delta) + '\n');
      if (cache.policy.fileSync === 'sync') fsyncSync(fd);
      size = fstatSync(fd).size;
    } finally {
      closeSync(fd);
    }
    if (size >= COMPACT_AT) await compact(cache, client);
    return undefined;
  } catch (e) {
    return `stats not recorded: ${(e as Error).message}`;
  }
}

/** Fold this client's log into its totals file; skipped if another of its jobs is doing it. */
export async function compact(cache: Cache, client = clientName()): Promise<void> {
  const dir = adminPaths(cache.root).stats;
  let held;
  try {
    held = await acquireLock(join(dir, `${client}.lock`), { stale: cache.settings.lockStale, timeout: 1000, what: 'stats compaction' });
  } catch {
    return; // the log just keeps growing until a later event compacts it
  }
  try {
    const jsonPath = join(dir, `${client}.json`);
    const prev = decodeFolded(readTextIfExists(jsonPath));
    const segments = listSegments(dir, client);
    const token = nextFoldToken();
    try {
      renameSync(join(dir, `${client}.log`), join(dir, `${client}.fold-${token}`));
      segments.push({ name: `${client}.fold-${token}`, token });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    let totals = prev.totals;
    const folded: Record<string, number> = {};
    for (const s of segments) {
      const tail = readTail(join(dir, s.name), prev.folded[s.token] ?? 0);
      totals = addCounters(totals, tail.counters);
      folded[s.token] = tail.end;
    }
    writeAtomic(cache.policy, jsonPath, JSON.stringify({ totals, folded }) + '\n');
    // Segments of earlier compactions: any late append has long landed and is now counted.
    for (const s of segments) if (s.token in prev.folded) rmSync(join(dir, s.name), { force: true });
  } finally {
    await held.release();
  }
}

function listSegments(dir: string, client: string): { name: string; token: string }[] {
  const segments: { name: string; token: string }[] = [];
  for (const name of readDirIfExists(dir)) {
    const m = SEGMENT_RE.exec(name);
    if (m && m[1] === client) segments.push({ name, token: m[2]! });
  }
  return segments;
}

function readDirIfExists(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (e) {
    if (isNotFound(e)) return [];
    throw e;
  }
}

export interface ClientStats extends Counters {
  client: string;
}

/** Every client's counters: totals + log + what of each segment the totals do not hold yet. */
export function readClientStats(cache: Cache): ClientStats[] {
  const dir = adminPaths(cache.root).stats;
  const names = readDirIfExists(dir);
  const clients = new Set<string>();
  for (const n of names) {
    const m = CLIENT_RE.exec(n) ?? SEGMENT_RE.exec(n);
    if (m) clients.add(m[1]!);
  }
  return [...clients].sort().map((client) => {
    const { totals, folded } = decodeFolded(readTextIfExists(join(dir, `${client}.json`)));
    let c = addCounters(totals, sumRecords(readTextIfExists(join(dir, `${client}.log`)) ?? ''));
    for (const s of listSegments(dir, client)) c = addCounters(c, readTail(join(dir, s.name), folded[s.token] ?? 0).counters);
    return { client, ...c };
  });
}

export interface StatsReport extends Counters {
  /** Bytes held by entries and uploads in flight (sum of the shards' heads). */
  used: number;
  /** The configured size. */
  quota: number;
  entries: number;
  shards: number;
  clients: ClientStats[];
}

export function cacheStats(cache: Cache): StatsReport {
  const clients = readClientStats(cache);
  const sum = clients.reduce<Counters>((t, c) => addCounters(t, c), ZERO);
  let used = 0;
  let entries = 0;
  for (let i = 0; i < cache.settings.shards; i++) {
    const h = readHead(cache.root, i);
    used += h.total;
    entries += h.entries;
  }
  return { ...sum, used, quota: cache.settings.size, entries, shards: cache.settings.shards, clients };
}
