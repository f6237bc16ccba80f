import { type Stats, chmodSync, closeSync, fchmodSync, fsyncSync, lstatSync, mkdirSync, openSync, promises, readSync, readlinkSync, rmSync, writeSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { hostname } from 'node:os';
import type { FileSync, Perm } from './config.js';
import { PermissionError } from './errors.js';
import { requireOnFirstUse } from './package-root.js';

/** How the cache's files are made: permission bits (perm) and how hard we push them to the server (file_sync). */
export interface FsPolicy {
  root: string;
  perm: Perm;
  fileSync: FileSync;
}

const PERM_BITS: Record<Perm, { file: number; dir: number }> = {
  none: { file: 0, dir: 0 },
  group: { file: 0o660, dir: 0o2770 },
  other: { file: 0o666, dir: 0o2777 },
};

/** Extra mode bits a cache file or dir must carry whatever the umask; 0 = leave the umask alone. */
export function permBits(perm: Perm, kind: 'file' | 'dir'): number {
  return PERM_BITS[perm][kind];
}

export function applyPerm(p: FsPolicy, path: string, kind: 'file' | 'dir', fd?: number): void {
  const bits = permBits(p.perm, kind);
  if (!bits) return;
  const mode = (kind === 'dir' ? 0o755 : 0o644) | bits;
  if (fd !== undefined) fchmodSync(fd, mode);
  else chmodSync(path, mode);
}

/** mkdir -p, giving each dir we create the perm bits (the umask would otherwise win). */
export function mkdirp(p: FsPolicy, dir: string): void {
  const first = mkdirSync(dir, { recursive: true });
  if (!first || !permBits(p.perm, 'dir')) return;
  for (let d = dir; ; d = dirname(d)) {
    applyPerm(p, d, 'dir');
    if (d === first || d === dirname(d)) break;
  }
}

/**
 * file_sync='dir': opening a directory makes an NFS client revalidate it (close-to-open), so names
 * another host just renamed in become visible. Only `path`'s own directory is opened: its parents
 * change only when a job dir is first made. `wholeChain` opens every directory from the root down,
 * for a retry after a lookup failed on a name that may be new.
 */
export function refreshDirs(p: FsPolicy, path: string, wholeChain = false): void {
  if (p.fileSync !== 'dir') return;
  const parent = dirname(path);
  const rel = wholeChain ? relative(p.root, parent) : '';
  const parts = rel && !rel.startsWith('..') ? rel.split(sep) : [];
  let dir = wholeChain ? p.root : parent;
  for (let i = 0; ; i++) {
    if (!reopenDir(dir)) return; // a missing dir is the caller's ENOENT to find
    if (i >= parts.length) return;
    dir = join(dir, parts[i]!);
  }
}

/** Open and close a dir, which makes an NFS client revalidate it; false if it is missing. */
function reopenDir(dir: string): boolean {
  try {
    closeSync(openSync(dir, 'r'));
    return true;
  } catch {
    return false;
  }
}

/**
 * Run a lookup; if it finds nothing under file_sync='dir', revalidate the whole path and look again.
 * `refreshFirst: false` skips revalidating the path's dir before the first try, for a dir whose
 * content never changes once it is seen (an entry: published whole by a rename).
 */
export function lookupFresh<T>(p: FsPolicy, path: string, lookup: () => T | undefined, refreshFirst = true): T | undefined {
  if (refreshFirst) refreshDirs(p, path);
  const found = lookup();
  if (found !== undefined || p.fileSync !== 'dir') return found;
  refreshDirs(p, path, true);
  return lookup();
}

/**
 * After changes: 'dir' revalidates each changed path's directory, 'sync' fsyncs the paths and then
 * their directories; a directory shared by many changes (the trash, after an eviction) only once.
 */
export function publishChanges(p: FsPolicy, paths: readonly string[]): void {
  if (p.fileSync === 'none') return;
  const dirs = new Set(paths.map((path) => dirname(path)));
  if (p.fileSync === 'sync') for (const path of [...paths, ...dirs]) fsyncPath(path);
  else for (const dir of dirs) reopenDir(dir);
}

export function fsyncPath(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    if (isNotFound(e)) return;
    throw e;
  }
  try {
    fsyncSync(fd);
  } catch {
    // some filesystems refuse fsync on directories; the rename is still as durable as they allow
  } finally {
    closeSync(fd);
  }
}

/**
 * Rewrite a small record in place (open, pwrite, close): on ext4 a truncating rewrite costs ~80x.
 * A shorter text is padded with spaces so the old tail is overwritten; readers trim.
 */
export function writeInPlace(p: FsPolicy, path: string, text: string, prevLength = 0): void {
  const buf = Buffer.from(text.padEnd(prevLength, ' '));
  let fd: number;
  try {
    fd = openSync(path, 'r+');
  } catch (e) {
    if (!isNotFound(e)) throw e;
    fd = openSync(path, 'wx', 0o644);
    applyPerm(p, path, 'file', fd);
  }
  try {
    writeSync(fd, buf, 0, buf.length, 0);
    if (p.fileSync === 'sync') fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Create a new file with content, exclusively; used for files nobody else can be writing. */
export function writeNew(p: FsPolicy, path: string, data: string | Uint8Array): void {
  const fd = openSync(path, 'wx', 0o644);
  try {
    applyPerm(p, path, 'file', fd);
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    if (p.fileSync === 'sync') fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Loaded on first use: a hit writes no whole file, and loading it (with its exit handlers) costs a CLI hit ~3 ms. */
let writeFileAtomic: typeof import('write-file-atomic') | undefined;

/**
 * Atomic replacement for files that must never be seen half-written (journal, stats, version).
 * Only used where one writer at a time is guaranteed (a lock, or a per-client file), because
 * write-file-atomic's temp names are predictable across hosts; it does not fsync the directory, so
 * we do under file_sync='sync'.
 */
export function writeAtomic(p: FsPolicy, path: string, data: string): void {
  writeFileAtomic ??= requireOnFirstUse<typeof import('write-file-atomic')>('write-file-atomic');
  writeFileAtomic.sync(path, data, { fsync: p.fileSync === 'sync', mode: 0o644 | permBits(p.perm, 'file') });
  if (p.fileSync === 'sync') fsyncPath(dirname(path));
}

/**
 * A 48-bit counter from a random start, as 12 hex digits: for names and tokens, which must be
 * unique, not secret (one random draw per process, not per name: gc names one trash dir per
 * evicted entry). `Math.random`, which V8 seeds per process from the system's entropy, rather than
 * `node:crypto`, which costs a CLI start ~5 ms to load (see sha256-js.ts).
 */
export function hexCounter(): () => string {
  let seq = Math.floor(Math.random() * 2 ** 48);
  return () => (seq = (seq + 1) % 2 ** 48).toString(16).padStart(12, '0');
}

const HOST = hostname();
const PID = process.pid;
const nextNameSeq = hexCounter();

/** A name no other process on any host will pick: host, pid, and a counter from a random start. */
export function uniqueName(prefix = ''): string {
  return `${prefix}${HOST}-${PID}-${nextNameSeq()}`;
}

/** A file's content: see readToEnd. */
export function readText(path: string, immutable = false): string {
  const fd = openSync(path, 'r');
  try {
    return readToEnd(fd, immutable);
  } finally {
    closeSync(fd);
  }
}

/**
 * A file's content read to its end, never trusting fstat's size, which network clients may serve
 * stale: read until a read returns 0, since a FUSE client refreshes a stale cached size only when
 * a read starts past it. A file that never changes once published (`immutable`: an entry's info,
 * a new inode whose size was fetched with it) ends at a short read, which saves a round trip.
 */
export function readToEnd(fd: number, immutable = false): string {
  const chunks: Buffer[] = [];
  for (let size = 16384; ; size = Math.min(size * 4, 1 << 20)) {
    const buf = Buffer.allocUnsafe(size);
    const n = readSync(fd, buf, 0, size, null);
    chunks.push(buf.subarray(0, n));
    if (n === 0 || (immutable && n < size)) return Buffer.concat(chunks).toString('utf8');
  }
}

export function readTextIfExists(path: string, immutable = false): string | undefined {
  try {
    return readText(path, immutable);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

export function errnoCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/** ENOENT, ENOTDIR, and ESTALE (errno -116, which Node 20 does not name) all mean "not there (any more)". */
export function isNotFound(e: unknown): boolean {
  const err = e as NodeJS.ErrnoException | undefined;
  return err?.code === 'ENOENT' || err?.code === 'ENOTDIR' || err?.errno === -116;
}

/** Lost an exclusive-create or rename race: sshfs says EPERM, xfs EEXIST, ext4 ENOTEMPTY. */
export function isExistsRace(e: unknown): boolean {
  const c = errnoCode(e);
  return c === 'EEXIST' || c === 'EPERM' || c === 'ENOTEMPTY' || c === 'EXDEV';
}

/** lstat, or undefined when there is nothing there. */
export function lstatIfExists(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

/** A symlink's target, or undefined when there is no link there. */
export function readlinkIfExists(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch (e) {
    if (isNotFound(e) || errnoCode(e) === 'EINVAL') return undefined;
    throw e;
  }
}

export function exists(path: string): boolean {
  return lstatIfExists(path) !== undefined;
}

/** Turn EACCES/EPERM/EROFS into a message that says which path and what to do. */
export function explainAccess(e: unknown, path: string, doing: string): never {
  const c = errnoCode(e);
  if (c === 'EACCES' || c === 'EPERM' || c === 'EROFS') {
    throw new PermissionError(
      `cannot ${doing} ${path}: ${c === 'EROFS' ? 'read-only filesystem' : 'permission denied'}` +
        (c === 'EROFS' ? '' : `; the cache may have been made with perm = 'none' by another user: ask its admin to set perm = 'group' in LMAKE/config.py and fix modes (chmod -R g+rwX, chgrp -R)`),
    );
  }
  throw e;
}

/** rm -rf that tolerates concurrent removers. */
export function removeTree(path: string): void {
  rmSync(path, { recursive: true, force: true, maxRetries: 3 });
}

/**
 * Remove many trees, several at a time: deleting is a string of metadata round trips each, which
 * a network filesystem (or a slow disk) serves in parallel far better than one after another.
 */
export async function removeTrees(paths: readonly string[], concurrency = 8): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < paths.length) await promises.rm(paths[next++]!, { recursive: true, force: true, maxRetries: 3 });
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, paths.length) }, worker));
}
