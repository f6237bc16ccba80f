import { type BigIntStats, appendFileSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, relative, resolve, sep, dirname } from 'node:path';
import { errnoCode, isNotFound } from './fsutil.js';
import { depDigest, sha256, sha256File } from './digest.js';
import type { Dep } from './info.js';

/**
 * Dep digests. A compile job records hundreds of deps and every `dircache run` is a new process, so
 * content digests are remembered per user, keyed by (dev, inode, size, mtime, ctime) as ccache's
 * inode cache does: a file whose key is unchanged is not read again.
 */
export class DepHasher {
  /** Digests seen by this hasher: one job's view of its files, so a hasher lives for one job. */
  private readonly memo = new Map<string, string | null>();

  constructor(private readonly known?: DigestStore) {}

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
    let st: BigIntStats;
    try {
      st = statSync(abs, { bigint: true });
    } catch (e) {
      if (isNotFound(e) || errnoCode(e) === 'ELOOP') return null;
      throw e;
    }
    if (st.isDirectory()) return 'dir:' + depDigest(sha256(readdirSync(abs).sort().join('\0')));
    const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    const known = this.known?.get(key);
    if (known) return known;
    const d = depDigest(sha256File(abs, Number(st.size)));
    if (BigInt(Date.now()) * 1_000_000n - st.ctimeNs > BigInt(UNTRUSTED_STAMP_MS) * 1_000_000n) this.known?.add(key, d);
    return d;
  }

  /** Persist what was learnt (best effort). */
  save(): void {
    this.known?.save();
  }
}

/**
 * The per-user file of remembered digests. Its keys name one version of one file, so what it holds
 * never goes stale; a long-lived process (dircache serve) keeps one store for all its jobs.
 */
export class DigestStore {
  private persisted: Map<string, string> | undefined;
  private readonly added: string[] = [];

  constructor(private readonly file: string) {}

  get(key: string): string | undefined {
    return this.load().get(key);
  }

  add(key: string, digest: string): void {
    const map = this.load();
    if (map.size >= MAX_REMEMBERED) map.clear();
    map.set(key, digest);
    this.added.push(`${key} ${digest}\n`);
  }

  private load(): Map<string, string> {
    if (this.persisted) return this.persisted;
    this.persisted = new Map();
    let text = '';
    try {
      text = readFileSync(this.file, 'utf8');
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
    if (this.added.length === 0) return;
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      const size = statSync(this.file, { throwIfNoEntry: false })?.size ?? 0;
      if (size > MAX_DIGEST_CACHE) rmSync(this.file, { force: true });
      appendFileSync(this.file, this.added.join(''));
    } catch {
      // a read-only home must not fail a build
    }
    this.added.length = 0;
  }
}

/** A file changed this recently could change again with the same stamp (the clock's granularity): its digest is not remembered. */
export const UNTRUSTED_STAMP_MS = 2000;

const MAX_DIGEST_CACHE = 16 << 20;
/** About what MAX_DIGEST_CACHE holds: a long-lived process starts over rather than grow without end. */
const MAX_REMEMBERED = 200_000;

const stores = new Map<string, DigestStore>();

/** The digest store `env` names (DIRCACHE_DIGEST_CACHE, else under XDG_CACHE_HOME or ~/.cache); one per file per process. */
export function digestStore(env: NodeJS.ProcessEnv): DigestStore | undefined {
  const file = env.DIRCACHE_DIGEST_CACHE !== undefined ? env.DIRCACHE_DIGEST_CACHE : join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'dircache', 'digests-v1');
  if (!file) return undefined;
  let store = stores.get(file);
  if (!store) stores.set(file, (store = new DigestStore(file)));
  return store;
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
