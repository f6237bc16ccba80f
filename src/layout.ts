import { join } from 'node:path';

/**
 * Where things live in a cache (format version 2). Pure: only path arithmetic.
 * Entries are named relative to the cache root (`<job path>/key-<hex>-first`); that relative name is
 * also an entry's identity in the LRU links.
 */
export const ADMIN_DIR = 'LMAKE';
// 2: target digests in `info` are XXH64 instead of sha256; a cache of version 1 is refused, not misread.
export const FORMAT_VERSION = 2;

export type Which = 'first' | 'last';

export function adminPaths(root: string) {
  const admin = join(root, ADMIN_DIR);
  return {
    admin,
    config: join(admin, 'config.py'),
    version: join(admin, 'version'),
    shards: join(admin, 'shards'),
    tmp: join(admin, 'tmp'),
    trash: join(admin, 'trash'),
    stats: join(admin, 'stats'),
  };
}

export function shardPaths(root: string, shard: number) {
  const dir = join(root, ADMIN_DIR, 'shards', String(shard));
  return {
    dir,
    lock: join(dir, 'lock'),
    head: join(dir, 'lru'),
    journal: join(dir, 'journal'),
    reserved: join(dir, 'reserved'),
  };
}

export const ENTRY_INFO = 'info';
export const ENTRY_DATA = 'data';
export const ENTRY_LRU = 'lru';

const ENTRY_RE = /^key-([0-9a-f]{16})-(first|last)$/;

export function entryName(keyHex: string, which: Which): string {
  return `key-${keyHex}-${which}`;
}

export function parseEntryName(name: string): { keyHex: string; which: Which } | undefined {
  const m = ENTRY_RE.exec(name);
  return m ? { keyHex: m[1]!, which: m[2] as Which } : undefined;
}

export const HINT_PREFIX = 'deps_hint-';

export function hintName(depsListHex: string): string {
  return HINT_PREFIX + depsListHex;
}

/** `obj/a.o/key-…-first` → `obj/a.o` */
export function jobPathOfEntry(entry: string): string {
  const slash = entry.lastIndexOf('/');
  return slash < 0 ? '' : entry.slice(0, slash);
}

/** Default shard count: the largest of 1, 2, 4, 8, 16 that leaves each shard at least 1 GiB. */
export function defaultShards(size: number): number {
  let shards = 1;
  for (const s of [2, 4, 8, 16]) if (size / s >= 2 ** 30) shards = s;
  return shards;
}

export const MAX_SHARDS = 256;
