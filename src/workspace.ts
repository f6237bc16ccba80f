import { type Stats, chmodSync, closeSync, constants, copyFile, existsSync, fchmodSync, fstatSync, lstatSync, mkdirSync, openSync, readSync, readdirSync, readlinkSync, renameSync, rmSync, rmdirSync, statfsSync, symlinkSync, write, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import { dirname, join, relative, resolve, sep, isAbsolute } from 'node:path';
import { CorruptEntryError, UnsafeRestoreError, UploadError } from './errors.js';
import { errnoCode, isNotFound, lstatIfExists, uniqueName } from './fsutil.js';
import { type TargetHash, loadTargetHash, streamFd } from './digest.js';
import type { Target } from './info.js';

/** A target as found in the workspace, before it is copied into an entry. */
export interface FoundTarget extends Omit<Target, 'digest'> {
  abs: string;
}

/**
 * Stat the targets of an upload (dirs walked recursively, empty dirs and files included). Paths are
 * given relative to cwd and recorded relative to the repo root, '/'-separated.
 */
export function collectTargets(root: string, cwd: string, paths: readonly string[]): FoundTarget[] {
  const found = new Map<string, FoundTarget>();
  const visit = (abs: string, given: string) => {
    let st: Stats;
    try {
      st = lstatSync(abs);
    } catch (e) {
      if (isNotFound(e)) throw new UploadError('ENOTARGET', `target ${given} does not exist (looked for ${abs}); did the job produce it?`);
      throw e;
    }
    const path = relative(root, abs).split(sep).join('/');
    const base = { path, abs, mode: st.mode & 0o777, size: 0, link: '' };
    if (st.isSymbolicLink()) found.set(path, { ...base, kind: 'symlink', mode: 0o777, link: readlinkSync(abs) });
    else if (st.isFile()) found.set(path, { ...base, kind: 'file', size: st.size });
    else if (st.isDirectory()) {
      found.set(path, { ...base, kind: 'dir' });
      for (const name of readdirSync(abs).sort()) visit(join(abs, name), join(given, name));
    } else throw new UploadError('EBADTARGET', `target ${given} is neither a file, a directory nor a symlink; only those can be cached`);
  };
  for (const p of paths) {
    const abs = resolve(cwd, p);
    const rel = relative(root, abs);
    if (rel === '' || rel === '..' || rel.startsWith('..' + sep) || isAbsolute(rel)) {
      throw new UploadError('ETARGETOUTSIDE', `target ${p} is outside the workspace ${root}; targets must be inside the repo`);
    }
    visit(abs, p);
  }
  return [...found.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * Copy a file while feeding it to `h`; returns its size and digest. Reads to EOF rather than
 * trusting a size that an NFS client may serve stale. A big file's chunks are written by the
 * thread pool while the next one is read and hashed (two buffers): the two copies through the
 * page cache then run on two cores.
 */
export async function copyHashing(
  src: string,
  dst: string,
  mode: number,
  h: TargetHash,
  opts: { sizeHint?: number } = {},
): Promise<{ size: number; digest: string }> {
  const inFd = openSync(src, 'r');
  try {
    return await copyHashingFd(inFd, dst, mode, h, opts);
  } finally {
    closeSync(inFd);
  }
}

async function copyHashingFd(
  inFd: number,
  dst: string,
  mode: number,
  h: TargetHash,
  { limit = Infinity, immutable = false, sizeHint = Infinity }: { limit?: number; immutable?: boolean; sizeHint?: number },
): Promise<{ size: number; digest: string }> {
  let outFd: number | undefined;
  let size = 0;
  let writing: Promise<void> = Promise.resolve();
  let ended = false;
  // sized to the file: a 1 MiB buffer per small file (mapped, faulted in, unmapped) costs more than its copy
  const bufSize = Math.min(CHUNK, sizeHint + 1, limit);
  const bufs: Buffer[] = [];
  try {
    outFd = openSync(dst, 'wx', mode);
    for (let k = 0; ; k++) {
      const buf = (bufs[k & 1] ??= Buffer.allocUnsafe(bufSize));
      const want = Math.min(bufSize, limit - size);
      const n: number = want > 0 && !ended ? readSync(inFd, buf, 0, want, null) : 0;
      if (n === 0) break;
      ended = immutable && n < want; // see readToEnd: a published file ends at a short read
      h.update(buf.subarray(0, n));
      await writing; // the other buffer is free once its write is done
      // the last (short) chunk is written at once: a small file stays one synchronous write
      if (n < bufSize || bufSize < CHUNK) writeAllSync(outFd, buf, n);
      else writing = writeAll(outFd, buf, n);
      size += n;
    }
    await writing;
    fchmodSync(outFd, mode);
  } finally {
    await writing.catch(() => {}); // never close under a write still in flight
    if (outFd !== undefined) closeSync(outFd);
  }
  return { size, digest: h.digest() };
}

/**
 * Copy a file of an entry to `dst` and hash what it holds. A file of more than one chunk on a local
 * filesystem is copied by the kernel (`copy_file_range`, one job on the thread pool) while this
 * thread reads and hashes it: one hand-off to the other core, where the chunked copy makes one per
 * chunk, each waiting for a core that may be idle or busy. Measured on 256 MiB: ~1.0x `cp`, against
 * 1.05–2.0x for the chunked copy as the machine's load varied (bench/findings.md). The kernel
 * copies the very file that is hashed, opened again through /proc/self/fd: an eviction, or a new
 * entry under the same name, cannot come between.
 * An entry's files are never written in place, so one that changed during the copy is corrupt.
 */
async function restoreFile(src: string, dst: string, t: Target, h: TargetHash): Promise<{ size: number; digest: string }> {
  // O_NONBLOCK and the limit: a FIFO or device in the entry's place of a file ends the copy, never hangs it
  const inFd = openSync(src, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const before = fstatSync(inFd, { bigint: true });
    // a size other than the recorded one goes the chunked way, which stops reading past that size:
    // the kernel would copy all of a crafted file, however big
    const kernel = before.isFile() && before.size === BigInt(t.size) && t.size > CHUNK && kernelCopies(src, before.dev);
    if (!kernel) return await copyHashingFd(inFd, dst, t.mode, h, { limit: t.size + 1, immutable: true });
    const copying = copyFileAsync(`/proc/self/fd/${inFd}`, dst, constants.COPYFILE_EXCL);
    let size: number;
    try {
      size = streamFd(inFd, (chunk) => h.update(chunk), { limit: t.size + 1, immutable: true });
    } finally {
      await copying.catch(() => {}); // the caller removes dst: not while the copy may still create it
    }
    await copying;
    const after = fstatSync(inFd, { bigint: true });
    if (after.size !== before.size || after.mtimeNs !== before.mtimeNs || after.ctimeNs !== before.ctimeNs) {
      throw new CorruptEntryError(`target ${t.path} was modified while it was restored`, 'EDIGEST');
    }
    chmodSync(dst, t.mode);
    return { size, digest: h.digest() };
  } finally {
    closeSync(inFd);
  }
}


/**
 * Local disk and memory filesystems (statfs magic numbers), where the kernel copy measured faster.
 * Over sshfs it measured ~10% slower than the chunked copy (the copy's reads and the hash's then
 * share one network stream), so network filesystems keep the chunked copy. Once per device.
 */
const LOCAL_FS = new Set([0xef53 /* ext2/3/4 */, 0x58465342 /* xfs */, 0x9123683e /* btrfs */, 0x01021994 /* tmpfs */, 0x794c7630 /* overlayfs */, 0x2fc12fc1 /* zfs */]);
const kernelCopyOnDev = new Map<bigint, boolean>();

function kernelCopies(path: string, dev: bigint): boolean {
  let yes = kernelCopyOnDev.get(dev);
  if (yes === undefined) kernelCopyOnDev.set(dev, (yes = existsSync('/proc/self/fd') && LOCAL_FS.has(statfsSync(path).type)));
  return yes;
}

const copyFileAsync = promisify(copyFile);

const CHUNK = 1 << 20;

const writeAsync = promisify(write);

function writeAllSync(fd: number, buf: Buffer, n: number): void {
  for (let off = 0; off < n; ) off += writeSync(fd, buf, off, n - off);
}

async function writeAll(fd: number, buf: Buffer, n: number): Promise<void> {
  for (let off = 0; off < n; ) off += (await writeAsync(fd, buf, off, n - off)).bytesWritten;
}

/**
 * Restore an entry's targets into a workspace, all or nothing: every file is written to a temp name
 * and verified against its recorded digest, and only when all are good are they renamed into place.
 * The entry is untrusted: paths were checked when its info was decoded, and here nothing is written
 * through a symlink already in the workspace, over a directory, or outside the root.
 */
export async function restoreTargets(root: string, dataDir: string, targets: readonly Target[]): Promise<{ files: number; bytes: number }> {
  const newHash = await loadTargetHash();
  const createdDirs: string[] = [];
  const staged: Array<{ tmp: string; final: string }> = [];
  const dirModes: Array<{ dir: string; mode: number }> = [];
  let bytes = 0;
  const plainDirs = new Set<string>();
  try {
    for (const t of targets) {
      const final = join(root, ...t.path.split('/'));
      ensureParents(root, dirname(final), createdDirs);
      const existing = lstatIfExists(final);
      if (t.kind === 'dir') {
        if (existing && !existing.isDirectory()) throw new UnsafeRestoreError(`cannot restore directory ${t.path}: a non-directory is in the way`);
        if (!existing) makeDir(final, createdDirs);
        dirModes.push({ dir: final, mode: t.mode });
        continue;
      }
      if (existing?.isDirectory()) throw new UnsafeRestoreError(`cannot restore ${t.path}: a directory is in the way`);
      const tmp = join(dirname(final), uniqueName('.dircache-'));
      staged.push({ tmp, final });
      if (t.kind === 'symlink') {
        symlinkSync(t.link, tmp);
        continue;
      }
      const src = join(dataDir, ...t.path.split('/'));
      assertPlainDirs(dataDir, t.path, plainDirs);
      const got = await restoreFile(src, tmp, t, newHash()).catch((e) => {
        throw errnoCode(e) === 'ELOOP' ? throughSymlink(t.path) : e;
      });
      if (got.size !== t.size || got.digest !== t.digest) {
        const gotSize = got.size > t.size ? `more than ${t.size}` : got.size; // reading stopped one byte past the recorded size
        throw new CorruptEntryError(`target ${t.path} does not match its recorded digest (got ${gotSize} bytes, ${got.digest}, expected ${t.size} bytes, ${t.digest})`, 'EDIGEST');
      }
      bytes += got.size;
    }
  } catch (e) {
    for (const s of staged) rmSync(s.tmp, { force: true });
    // only if still empty: a restore running beside ours may have put its files in a dir we made
    for (const d of createdDirs.reverse()) {
      try {
        rmdirSync(d);
      } catch (err) {
        if (errnoCode(err) !== 'ENOTEMPTY' && errnoCode(err) !== 'EEXIST' && !isNotFound(err)) throw err;
      }
    }
    throw e;
  }
  for (const s of staged) renameSync(s.tmp, s.final);
  for (const d of dirModes) chmodSync(d.dir, d.mode);
  return { files: staged.length, bytes };
}

/**
 * A symlink in the entry's data (O_NOFOLLOW guards only the last component) would make us copy
 * whatever it points at: every dir from data/ down to the target must be a plain dir. An lstat per
 * dir inside the entry, once per restore; not a realpath, which on a network filesystem without
 * lookup caching costs a round trip per component of every prefix of the path.
 */
function assertPlainDirs(dataDir: string, path: string, known: Set<string>): void {
  const parts = path.split('/');
  for (let i = 0; i < parts.length; i++) {
    const rel = parts.slice(0, i).join('/');
    if (known.has(rel)) continue;
    if (!lstatSync(join(dataDir, rel)).isDirectory()) throw throughSymlink(path);
    known.add(rel);
  }
}

const throughSymlink = (path: string) => new CorruptEntryError(`target ${path} is reached through a symlink inside the entry; entries hold only plain files there`);

/** mkdir, noting it as ours; a dir that a restore running beside ours made first is fine too. */
function makeDir(d: string, created: string[]): void {
  try {
    mkdirSync(d);
    created.push(d);
  } catch (e) {
    if (errnoCode(e) !== 'EEXIST' || !lstatIfExists(d)?.isDirectory()) throw e;
  }
}

/** mkdir the parents of a target, refusing to go through a symlink or a file. */
function ensureParents(root: string, dir: string, created: string[]): void {
  const rel = relative(root, dir);
  if (rel.startsWith('..') || isAbsolute(rel)) throw new UnsafeRestoreError(`target dir ${dir} is outside the workspace`);
  let d = root;
  for (const part of rel ? rel.split(sep) : []) {
    d = join(d, part);
    const st = lstatIfExists(d);
    if (!st) makeDir(d, created);
    else if (st.isSymbolicLink()) {
      throw new UnsafeRestoreError(`refusing to restore through the symlink ${relative(root, d)} in the workspace`);
    } else if (!st.isDirectory()) {
      throw new UnsafeRestoreError(`cannot restore under ${relative(root, d)}: it is not a directory`);
    }
  }
}
