import * as fs from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, relative, resolve, sep, dirname } from 'node:path';
import { createHash } from 'node:crypto';
import { errnoCode, isNotFound } from './fsutil.js';
import { depDigest, sha256File } from './digest.js';
import type { Dep } from './info.js';

/**
 * Dep digests. A compile job records hundreds of deps and every `dircache run` is a new process, so
 * content digests are remembered per user, keyed by (dev, inode, size, mtime, ctime) as ccache's
 * inode cache does: a file whose key is unchanged is not read again.
 */
export class DepHasher {
  private readonly memo = new Map<string, string | null>();
  private persisted: Map<string, string> | undefined;
  private readonly added: string[] = [];

  constructor(private readonly cacheFile: string | undefined = defaultDigestCacheFile()) {}

  /** Digest of the file at an absolute path, or null when it does not exist. */
  digest(abs: string): string | null {
    let d = this.memo.get(abs);
    if (d === undefined) {
      d = this.compute(abs);
      this.memo.set(abs, d);
    }
    return d;
  }

  private compute(abs: string): string | null {
    let st: fs.BigIntStats;
    try {
      st = fs.statSync(abs, { bigint: true });
    } catch (e) {
      if (isNotFound(e) || errnoCode(e) === 'ELOOP') return null;
      throw e;
    }
    if (st.isDirectory()) return 'dir:' + depDigest(createHash('sha256').update(fs.readdirSync(abs).sort().join('\0')).digest());
    const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    const known = this.load().get(key);
    if (known) return known;
    const d = depDigest(sha256File(abs));
    // A file changed within the clock's granularity could change again with the same stamp: don't remember it.
    if (BigInt(Date.now()) * 1_000_000n - st.ctimeNs > 2_000_000_000n) {
      this.persisted!.set(key, d);
      this.added.push(`${key} ${d}\n`);
    }
    return d;
  }

  private load(): Map<string, string> {
    if (this.persisted) return this.persisted;
    this.persisted = new Map();
    if (!this.cacheFile) return this.persisted;
    let text = '';
    try {
      text = fs.readFileSync(this.cacheFile, 'utf8');
    } catch {
      return this.persisted; // no cache yet, or unreadable: hashing still works
    }
    for (const line of text.split('\n')) {
      const m = /^(\d+:\d+:\d+:\d+:\d+) ([\w-]{22})$/.exec(line);
      if (m) this.persisted.set(m[1]!, m[2]!);
    }
    return this.persisted;
  }

  /** Append what we learnt; O_APPEND keeps concurrent processes' lines whole. Best effort. */
  save(): void {
    if (!this.cacheFile || this.added.length === 0) return;
    try {
      fs.mkdirSync(dirname(this.cacheFile), { recursive: true });
      const size = fs.statSync(this.cacheFile, { throwIfNoEntry: false })?.size ?? 0;
      if (size > MAX_DIGEST_CACHE) fs.rmSync(this.cacheFile, { force: true });
      fs.appendFileSync(this.cacheFile, this.added.join(''));
      this.added.length = 0;
    } catch {
      // a read-only home must not fail a build
    }
  }
}

const MAX_DIGEST_CACHE = 16 << 20;

function defaultDigestCacheFile(): string | undefined {
  if (process.env.DIRCACHE_DIGEST_CACHE !== undefined) return process.env.DIRCACHE_DIGEST_CACHE || undefined;
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'dircache', 'digests-v1');
}

/** How a dep is recorded: relative to the repo root when inside it, absolute otherwise (system headers). */
export function depKey(root: string, cwd: string, path: string): string {
  const abs = resolve(cwd, path);
  const rel = relative(root, abs);
  if (rel === '' || rel.startsWith('..' + sep) || rel === '..' || isAbsolute(rel)) return abs;
  return rel.split(sep).join('/');
}

export function depAbsolute(root: string, key: string): string {
  return isAbsolute(key) ? key : join(root, key);
}

export function recordDeps(hasher: DepHasher, root: string, cwd: string, paths: readonly string[]): Dep[] {
  const keys = [...new Set(paths.map((p) => depKey(root, cwd, p)))].sort();
  return keys.map((k): Dep => [k, hasher.digest(depAbsolute(root, k))]);
}

/** Does every recorded dep have the same content here? (absent matches only absent) */
export function depsMatch(hasher: DepHasher, root: string, deps: readonly Dep[]): boolean {
  return deps.every(([k, d]) => hasher.digest(depAbsolute(root, k)) === d);
}
