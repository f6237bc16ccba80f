import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type FileSync, type Perm, renderConfigPy, templatePath } from './config.js';
import { ConfigError, UsageError } from './errors.js';
import { type FsPolicy, applyPerm, explainAccess, mkdirp, writeNew } from './fsutil.js';
import { FORMAT_VERSION, MAX_SHARDS, adminPaths, defaultShards, shardPaths } from './layout.js';
import { EMPTY_HEAD, encodeHead } from './records.js';
import { SizeError, parseSize } from './size.js';
import { formatVersionFile, parseVersionFile } from './version.js';

export interface InitOptions {
  size: string | number;
  perm?: Perm;
  fileSync?: FileSync;
  shards?: number;
  lockStale?: number;
  lockTimeout?: number;
}

export interface InitResult {
  root: string;
  size: number;
  shards: number;
  perm: Perm;
  fileSync: FileSync;
  /** What an admin may run instead of perm = 'group' (default ACLs). */
  setfacl: string;
}

/** Create a cache: LMAKE/ with config.py from the template, version, and an empty LRU per shard. */
export function initCache(dir: string, opts: InitOptions): InitResult {
  const root = resolve(dir);
  const size = sizeArg(opts.size);
  const perm = opts.perm ?? 'none';
  const fileSync = opts.fileSync ?? 'dir';
  const shards = opts.shards ?? defaultShards(size);
  if (!Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS) throw new UsageError(`--shards ${shards}: use an integer from 1 to ${MAX_SHARDS}`, 'EBADSHARDS');
  if (size / shards < 1 << 20) throw new UsageError(`--shards ${shards} leaves each shard ${Math.floor(size / shards)} bytes; give each at least 1 MiB`, 'EBADSHARDS');
  const config = renderConfigPy(readFileSync(templatePath(), 'utf8'), {
    size: opts.size, perm, file_sync: fileSync, lock_stale: opts.lockStale, lock_timeout: opts.lockTimeout,
  });
  refuseNonEmpty(root);

  const p: FsPolicy = { root, perm, fileSync };
  try {
    mkdirp(p, root);
    const a = adminPaths(root);
    for (const d of [a.admin, a.shards, a.tmp, a.trash, a.stats]) mkdirp(p, d);
    // root may have existed already (an empty dir), so mkdirp did not set its mode
    for (const d of [root, a.admin]) applyPerm(p, d, 'dir');
    for (let i = 0; i < shards; i++) {
      const s = shardPaths(root, i);
      mkdirp(p, s.reserved);
      writeNew(p, s.head, encodeHead(EMPTY_HEAD));
    }
    writeNew(p, a.config, config);
    // the version file last: a cache is only usable once it is complete
    writeNew(p, a.version, formatVersionFile({ format: FORMAT_VERSION, shards }));
  } catch (e) {
    explainAccess(e, root, 'create the cache in');
  }
  return { root, size, shards, perm, fileSync, setfacl: setfaclLine(root) };
}

/** A bad --size is a usage error (exit 3), like a bad --shards; the same text in config.py is a config error. */
function sizeArg(value: string | number): number {
  try {
    return parseSize(value);
  } catch (e) {
    if (e instanceof SizeError) throw new UsageError(`--size: ${e.message}`, e.code);
    throw e;
  }
}

function refuseNonEmpty(root: string): void {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') throw new UsageError(`${root} exists and is not a directory; give a new or empty dir`, 'EEXIST');
    explainAccess(e, root, 'read');
  }
  if (names.length === 0) return;
  const version = adminPaths(root).version;
  if (names.includes('LMAKE')) {
    let what = 'an incomplete or damaged cache';
    try {
      const v = parseVersionFile(readFileSync(version, 'utf8'), version);
      what = `a dircache cache (format ${v.format}, ${v.shards} shard${v.shards > 1 ? 's' : ''})`;
    } catch (e) {
      if (e instanceof ConfigError) what = `a cache this dircache cannot read (${e.message})`;
    }
    throw new UsageError(`${root} already holds ${what}; nothing changed. Edit ${join(root, 'LMAKE/config.py')} to change its settings`, 'EEXIST');
  }
  const shown = names.slice(0, 5).join(', ') + (names.length > 5 ? `, … (${names.length} entries)` : '');
  throw new UsageError(`${root} is not empty and is not a cache (it holds ${shown}); give a new or empty dir`, 'EEXIST');
}

function setfaclLine(root: string): string {
  const gid = process.getgid?.() ?? 0;
  let group = String(gid);
  try {
    const line = readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.split(':')[2] === String(gid));
    if (line) group = line.split(':')[0]!;
  } catch {
    // no /etc/group: the numeric gid works too
  }
  return `setfacl -R -m g:${group}:rwX -m d:g:${group}:rwX ${root}`;
}
