import { type Dirent, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { hostname } from 'node:os';
import { isNotFound, lstatIfExists, readTextIfExists, readlinkIfExists } from './fsutil.js';
import { ADMIN_DIR, HINT_PREFIX, adminPaths, parseEntryName, shardPaths } from './layout.js';
import { type Reservation, decodeReservation } from './records.js';
import { readHead } from './lru.js';
import { CorruptEntryError } from './errors.js';

/**
 * Walking a whole cache, for the admin tools (gc, repair, verify, ls, rm): what is in the job dirs,
 * and the leftovers in LMAKE/ (reservations, tmp, trash). Reads only.
 */

/** What a name in a job dir is. Paths are relative to the root, '/'-separated. */
export type TreeItem =
  | { kind: 'entry'; jobPath: string; id: string }
  | { kind: 'hint'; jobPath: string; path: string }
  /** a hint's temp symlink, left by a process that died between making it and renaming it */
  | { kind: 'hint-tmp'; jobPath: string; path: string }
  /** anything dircache never makes there; jobPath '' for the root itself */
  | { kind: 'foreign'; jobPath: string; path: string };

const HINT_TMP_PREFIX = '.hint-';
// jobToPath escapes these prefixes in job path components, so a dir named so is never a job dir
const RESERVED_RE = /^(key|deps_hint)-/i;

/**
 * Every item under the root outside LMAKE/, depth first, in name order; symlinks are not followed.
 * With `deep` false, only the items of `jobPath` itself.
 */
export function* walkTree(root: string, jobPath = '', deep = true): Generator<TreeItem> {
  let dirents: Dirent[];
  try {
    dirents = readdirSync(jobPath ? join(root, jobPath) : root, { withFileTypes: true });
  } catch (e) {
    if (isNotFound(e)) return; // removed while we walked
    throw e;
  }
  dirents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const d of dirents) {
    const path = jobPath ? `${jobPath}/${d.name}` : d.name;
    if (!jobPath && d.name === ADMIN_DIR) continue;
    if (d.isDirectory() && !RESERVED_RE.test(d.name)) {
      if (deep) yield* walkTree(root, path);
    }
    else if (!jobPath) yield { kind: 'foreign', jobPath, path };
    else if (d.isDirectory() && parseEntryName(d.name)) yield { kind: 'entry', jobPath, id: path };
    else if (d.isSymbolicLink() && d.name.startsWith(HINT_PREFIX)) yield { kind: 'hint', jobPath, path };
    else if (d.isSymbolicLink() && d.name.startsWith(HINT_TMP_PREFIX)) yield { kind: 'hint-tmp', jobPath, path };
    else yield { kind: 'foreign', jobPath, path };
  }
}

/** Just the entries. */
export function* walkEntries(root: string): Generator<{ jobPath: string; id: string }> {
  for (const item of walkTree(root)) if (item.kind === 'entry') yield item;
}

/** Entries the shards' heads count: a progress total, read cheaply (a damaged head counts 0). */
export function countEntries(root: string, shards: number): number {
  let n = 0;
  for (let s = 0; s < shards; s++) {
    try {
      n += readHead(root, s).entries;
    } catch {
      // repair will say what is wrong with it
    }
  }
  return n;
}

/** A shard's reservation records; a malformed one comes back with `error` set. */
export function readReservations(root: string, shard: number): Array<{ token: string; res?: Reservation; error?: string }> {
  const dir = shardPaths(root, shard).reserved;
  return listDir(dir).map((token) => {
    const path = join(dir, token);
    const text = readTextIfExists(path);
    if (text === undefined) return { token, error: 'vanished' };
    try {
      return { token, res: decodeReservation(text, path) };
    } catch (e) {
      if (e instanceof CorruptEntryError) return { token, error: e.message };
      throw e;
    }
  });
}

/** Names in LMAKE/tmp (uploads being built) or LMAKE/trash (entries being deleted). */
export function listAdminDir(root: string, which: 'tmp' | 'trash'): string[] {
  return listDir(adminPaths(root)[which]);
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch (e) {
    if (isNotFound(e)) return [];
    throw e;
  }
}

const HOST = hostname();

/** Whether a process is alive on this host (EPERM: alive, just not ours). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether a leftover's owner can still be using it. On this host the owner's pid decides, so a long
 * upload is never cut off; another host's pid cannot be checked, so only the grace period does.
 */
export function ownerMayBeAlive(owner: { host: string; pid: number } | undefined, since: number, now: number, graceMs: number): boolean {
  if (owner && owner.host === HOST) return pidAlive(owner.pid);
  return now - since < graceMs;
}

/** The owner encoded in a name made by uniqueName (`<host>-<pid>-<12 hex>`), if it is one. */
export function ownerOfName(name: string): { host: string; pid: number } | undefined {
  const m = /^(?:\.hint-)?(.+)-(\d+)-[0-9a-f]{12}$/.exec(name);
  return m ? { host: m[1]!, pid: Number(m[2]) } : undefined;
}

/**
 * Whether a leftover named by uniqueName (a tmp dir, a hint's temp link) may still be in use: its
 * owner alive on this host, or, elsewhere, touched within the grace period. One that is gone is not.
 */
export function leftoverInUse(path: string, now: number, graceMs: number): boolean {
  const mtime = lstatIfExists(path)?.mtimeMs;
  return mtime !== undefined && ownerMayBeAlive(ownerOfName(basename(path)), mtime, now, graceMs);
}

/** LMAKE/tmp dirs that no upload owns: no reservation names them and no live owner uses them. */
export function orphanTmpDirs(root: string, shards: number, now: number, graceMs: number): string[] {
  const reserved = new Set<string>();
  for (let s = 0; s < shards; s++) for (const token of listDir(shardPaths(root, s).reserved)) reserved.add(token);
  // an upload reserves before it builds, so a tmp dir with a reservation belongs to the reservation
  return listAdminDir(root, 'tmp').filter((name) => !reserved.has(name) && !leftoverInUse(join(adminPaths(root).tmp, name), now, graceMs));
}

/**
 * A shell-style pattern on job names → an anchored RegExp: `*` any run of characters (`/`
 * included, so `obj/*` takes every job under obj/), `?` one character, everything else literal.
 */
export function globToRegExp(pattern: string): RegExp {
  const body = Array.from(pattern, (ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&'))).join('');
  return new RegExp(`^${body}$`, 's');
}

/** A hint's target, or undefined if the hint is gone. */
export function readHint(root: string, path: string): string | undefined {
  return readlinkIfExists(join(root, path));
}
