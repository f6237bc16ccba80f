/**
 * Job name -> directory under the cache root (on-disk format version 1: never change the output).
 *
 * Scheme. The job is split on '/'; a '/' stays a separator only when it has a character other
 * than '/' on both sides, so no component is ever empty (a leading, trailing or doubled '/' is
 * written `%2F`). In each component:
 *   - `%` is always `%25`, so a `%` in the result always starts an escape;
 *   - control characters (0x01-0x1f, 0x7f) are `%XX`; a lone UTF-16 surrogate, which has no
 *     UTF-8 form and would otherwise be written as U+FFFD and collide, is its 3 WTF-8 bytes `%XX%XX%XX`;
 *   - a component `.` or `..` has its dots escaped (`%2E`, `%2E%2E`);
 *   - a component starting with `key-` or `deps_hint-` (an entry or hint name), or a first component
 *     `LMAKE` (the admin dir), has its first character escaped (`%6Bey-...`, `%4CMAKE`); these
 *     compare ignoring ASCII case so a case-insensitive filesystem cannot confuse them either;
 *   - everything else, unicode included, is kept as is.
 * Percent-decoding each component and joining them with '/' gives the job back, so the map is
 * injective. Two length limits break that only by a digest (sha256, first 16 hex):
 *   - a component over NAME_MAX (255 bytes) becomes a prefix cut between escapes/characters, then
 *     `%~<digest of the whole escaped component>`;
 *   - a path over MAX_PATH_BYTES keeps its leading components that fit, then one last component
 *     `%~<digest of the whole escaped path>`.
 * `%~` is produced by nothing else, so a shortened name never equals an unshortened one.
 */
import { sha256, shortHex } from './digest.js';
import { UsageError } from './errors.js';

const NAME_MAX = 255;
/** PATH_MAX is 4096; the rest is left for the cache root, the entry name and the target paths. */
const MAX_PATH_BYTES = 3000;
const DIGEST_MARK = '%~';
const DIGEST_BYTES = DIGEST_MARK.length + 16;

function utf8Len(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

function pct(byte: number): string {
  return '%' + byte.toString(16).toUpperCase().padStart(2, '0');
}

/** One token per source character, so shortening can cut between them. */
function escapeChar(ch: string): string {
  const c = ch.charCodeAt(0);
  if (ch === '%' || ch === '/' || c < 0x20 || c === 0x7f) return pct(c);
  if (ch.length === 1 && c >= 0xd800 && c <= 0xdfff) {
    return pct(0xe0 | (c >> 12)) + pct(0x80 | ((c >> 6) & 0x3f)) + pct(0x80 | (c & 0x3f));
  }
  return ch;
}

function encodeComponent(raw: string, first: boolean): string {
  const tokens = Array.from(raw, escapeChar);
  if (raw === '.' || raw === '..') {
    tokens.fill(pct(0x2e));
  } else if (/^(key|deps_hint)-/i.test(raw) || (first && /^lmake$/i.test(raw))) {
    tokens[0] = pct(raw.charCodeAt(0));
  }
  const full = tokens.join('');
  if (utf8Len(full) <= NAME_MAX) return full;
  let prefix = '';
  let bytes = 0;
  for (const t of tokens) {
    const n = utf8Len(t);
    if (bytes + n > NAME_MAX - DIGEST_BYTES) break;
    prefix += t;
    bytes += n;
  }
  return prefix + DIGEST_MARK + shortHex(full);
}

function printable(s: string): string {
  return JSON.stringify(s);
}

/** The job's directory, relative to the cache root, components joined with '/'. */
export function jobToPath(job: string): string {
  if (job.length === 0) throw new UsageError('job name is empty', 'EBADJOB');
  if (job.includes('\0')) {
    throw new UsageError(`job name contains a NUL byte: ${printable(job)}`, 'EBADJOB');
  }
  const raws: string[] = [];
  let cur = '';
  for (let i = 0; i < job.length; i++) {
    const separates = job[i] === '/' && i > 0 && i < job.length - 1 && job[i - 1] !== '/' && job[i + 1] !== '/';
    if (separates) {
      raws.push(cur);
      cur = '';
    } else {
      cur += job[i];
    }
  }
  raws.push(cur);
  const comps = raws.map((raw, i) => encodeComponent(raw, i === 0));
  const path = comps.join('/');
  if (utf8Len(path) <= MAX_PATH_BYTES) return path;
  // Each component is at most NAME_MAX, so the first one always fits and the result is never
  // a bare digest at the root.
  let kept = comps[0]!;
  for (const c of comps.slice(1)) {
    if (utf8Len(kept) + 1 + utf8Len(c) + 1 + DIGEST_BYTES > MAX_PATH_BYTES) break;
    kept += '/' + c;
  }
  return kept + '/' + DIGEST_MARK + shortHex(path);
}

/** The shard of a job: first 4 bytes of sha256(jobPath), big-endian unsigned, mod shards. */
export function jobShardIndex(jobPath: string, shards: number): number {
  if (!Number.isInteger(shards) || shards < 1) {
    throw new UsageError(`shard count must be a positive integer, got ${shards}`, 'EBADSHARDS');
  }
  return sha256(jobPath).readUInt32BE(0) % shards;
}
