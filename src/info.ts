import { CorruptEntryError } from './errors.js';
import { TARGET_DIGEST_RE, sha256Hex, shortHex } from './digest.js';

/**
 * An entry's `info` record. Pure encode/decode. Anyone who can write the share can write an entry,
 * so decoding validates everything a download will act on (paths, modes, sizes, digests).
 */
export type TargetKind = 'file' | 'dir' | 'symlink';

export interface Target {
  path: string; // relative to the repo root, '/'-separated
  kind: TargetKind;
  mode: number; // permission bits only (0..0o777)
  size: number; // bytes of content (files)
  digest: string; // content checksum, `xxh64:<16 hex>` (files)
  link: string; // symlink target, restored verbatim (never followed)
}

/** A dep: path (relative to the repo root, or absolute when outside it) and digest, null = absent. */
export type Dep = [path: string, digest: string | null];

export interface Info {
  job: string;
  repoKey: string;
  inputs: Record<string, string>;
  deps: Dep[];
  targets: Target[];
  exeTime: number; // seconds the job took
  host: string;
  user: string;
  created: number; // epoch ms
}

// Version 2: target digests are XXH64 (version 1 had sha256).
const MAGIC = 'dircache-info 2';
const HEADER_RE = new RegExp(`^${MAGIC} ([0-9a-f]{64})$`);

export function encodeInfo(info: Info): string {
  const body = JSON.stringify({
    ...info,
    deps: [...info.deps].sort((a, b) => cmp(a[0], b[0])),
    targets: info.targets.map((t) => compactTarget(t)),
  });
  return `${MAGIC} ${sha256Hex(body)}\n${body}\n`;
}

/** Files carry size/digest/mode, symlinks their link, dirs their mode: keep only what applies. */
function compactTarget(t: Target): Partial<Target> {
  if (t.kind === 'file') return { path: t.path, kind: t.kind, mode: t.mode, size: t.size, digest: t.digest };
  if (t.kind === 'symlink') return { path: t.path, kind: t.kind, link: t.link };
  return { path: t.path, kind: t.kind, mode: t.mode };
}

export function decodeInfo(text: string, where: string): Info {
  const nl = text.indexOf('\n');
  const header = nl < 0 ? text : text.slice(0, nl);
  const m = HEADER_RE.exec(header);
  if (!m) throw new CorruptEntryError(`${where}: not a dircache info record (${MAGIC})`);
  const body = text.slice(nl + 1).replace(/\n$/, '');
  if (sha256Hex(body) !== m[1]) throw new CorruptEntryError(`${where}: checksum mismatch (torn or altered info)`);
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    throw new CorruptEntryError(`${where}: info body is not JSON`);
  }
  return validateInfo(raw, where);
}

function validateInfo(raw: unknown, where: string): Info {
  const bad = (what: string): never => {
    throw new CorruptEntryError(`${where}: ${what}`);
  };
  if (!isObject(raw)) bad('info is not an object');
  const r = raw as Record<string, unknown>;
  const str = (k: string) => (typeof r[k] === 'string' ? (r[k] as string) : bad(`${k} is not a string`));
  const num = (k: string) => (typeof r[k] === 'number' && Number.isFinite(r[k]) && (r[k] as number) >= 0 ? (r[k] as number) : bad(`${k} is not a non-negative number`));
  if (!isObject(r.inputs) || !Object.values(r.inputs as object).every((v) => typeof v === 'string')) bad('inputs is not a map of strings');
  if (!Array.isArray(r.deps)) bad('deps is not a list');
  const deps = (r.deps as unknown[]).map((d): Dep => {
    if (!Array.isArray(d) || d.length !== 2 || typeof d[0] !== 'string' || !(typeof d[1] === 'string' || d[1] === null) || d[0].includes('\0')) bad('malformed dep');
    return d as Dep;
  });
  if (!Array.isArray(r.targets)) bad('targets is not a list');
  const targets = (r.targets as unknown[]).map((t) => validateTarget(t, bad));
  const kinds = new Map<string, TargetKind>();
  for (const t of targets) {
    if (kinds.has(t.path)) bad(`target ${t.path} listed twice`);
    kinds.set(t.path, t.kind);
  }
  // a target under a symlink target would be written through that link once it is restored
  for (const t of targets) {
    for (let i = t.path.indexOf('/'); i > 0; i = t.path.indexOf('/', i + 1)) {
      const up = kinds.get(t.path.slice(0, i));
      if (up !== undefined && up !== 'dir') bad(`target ${t.path} is under ${t.path.slice(0, i)}, which is a ${up}, not a dir`);
    }
  }
  return {
    job: str('job'),
    repoKey: str('repoKey'),
    inputs: r.inputs as Record<string, string>,
    deps,
    targets,
    exeTime: num('exeTime'),
    host: str('host'),
    user: str('user'),
    created: num('created'),
  };
}

function validateTarget(t: unknown, bad: (what: string) => never): Target {
  if (!isObject(t)) bad('target is not an object');
  const r = t as Record<string, unknown>;
  const path = typeof r.path === 'string' ? r.path : bad('target path is not a string');
  const why = unsafeRelativePath(path);
  if (why) bad(`target path '${path}' ${why}`);
  const kind = r.kind;
  if (kind === 'symlink') {
    if (typeof r.link !== 'string' || !r.link || r.link.includes('\0')) bad(`symlink ${path} has no valid link`);
    return { path, kind, mode: 0o777, size: 0, digest: '', link: r.link as string };
  }
  if (kind !== 'file' && kind !== 'dir') bad(`target ${path} has unsupported kind '${String(kind)}' (only files, dirs and symlinks are restored)`);
  if (!Number.isInteger(r.mode) || (r.mode as number) < 0 || (r.mode as number) > 0o777) {
    bad(`target ${path} has mode ${typeof r.mode === 'number' ? (r.mode as number).toString(8) : String(r.mode)}; setuid, setgid, sticky and type bits are refused`);
  }
  if (kind === 'dir') return { path, kind, mode: r.mode as number, size: 0, digest: '', link: '' };
  if (!Number.isSafeInteger(r.size) || (r.size as number) < 0) bad(`target ${path} has a bad size`);
  if (typeof r.digest !== 'string' || !TARGET_DIGEST_RE.test(r.digest)) bad(`target ${path} has a bad digest (expected xxh64: and 16 lowercase hex digits)`);
  return { path, kind, mode: r.mode as number, size: r.size as number, digest: r.digest as string, link: '' };
}

/** Why a stored relative path is unsafe to write under a workspace, or '' if it is safe. */
export function unsafeRelativePath(p: string): string {
  if (!p) return 'is empty';
  if (p.includes('\0')) return 'contains a NUL byte';
  if (p.startsWith('/')) return 'is absolute';
  if (p.includes('\\')) return 'contains a backslash';
  for (const c of p.split('/')) {
    if (c === '' || c === '.' || c === '..') return `has a '${c || '//'}' component`;
  }
  return '';
}

/** Hint name part: which deps an entry was checked against (their list, not their contents). */
export function depsListHex(depPaths: readonly string[]): string {
  return shortHex([...depPaths].sort(cmp).join('\0'));
}

export function entrySize(info: Info, infoText: string): number {
  return info.targets.reduce((n, t) => n + t.size, 0) + Buffer.byteLength(infoText);
}

export function sameInputs(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => b[k] === a[k]);
}

/** Targets equal in content and shape: used to tell the user a job is not deterministic. */
export function sameTargets(a: readonly Target[], b: readonly Target[]): boolean {
  if (a.length !== b.length) return false;
  const key = (t: Target) => `${t.path}\0${t.kind}\0${t.digest}\0${t.link}`;
  const sa = new Set(a.map(key));
  return b.every((t) => sa.has(key(t)));
}

function isObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
