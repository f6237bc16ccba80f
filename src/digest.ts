import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import xxhash from 'xxhash-wasm';
import { sha256Js } from './sha256-js.js';

/*
 * Two kinds of digest. What decides a hit (dep digests, repo keys, names on disk) and the small
 * records' checksums use sha256: a collision there would hand out a wrong result. Target digests
 * only check that an entry's data is what its uploader stored (a torn copy, a flipped bit, an
 * edit), which a fast non-cryptographic checksum does as well — ccache likewise checks its result
 * files with XXH3 and keys them with BLAKE3. XXH64 runs ~4x faster than sha256 here, and a hit of a
 * big target is bound by that hash.
 */

/**
 * sha256 runs in JS for the first few KiB a process hashes, and in `node:crypto` after that.
 * Loading `node:crypto` costs ~5 ms (see sha256-js.ts) and a CLI hit hashes a few hundred bytes;
 * cold JS hashes ~4 KiB in ~2 ms, so past that the native hash pays for its load.
 */
let jsBytesLeft = 4096;
const nodeCrypto = () => process.getBuiltinModule('node:crypto');

export function sha256(data: string | Uint8Array): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  if (bytes.length > jsBytesLeft) return nodeCrypto().createHash('sha256').update(bytes).digest();
  jsBytesLeft -= bytes.length;
  return sha256Js(bytes);
}

export function sha256Hex(data: string | Uint8Array): string {
  return sha256(data).toString('hex');
}

/** 16 hex chars: names on disk (repo keys, deps hints), where a collision only costs a miss. */
export function shortHex(data: string): string {
  return sha256Hex(data).slice(0, 16);
}

/**
 * Dep digests are stored for hundreds of deps per entry: 128 bits in base64url (22 chars) keeps
 * `info` small while collisions stay out of reach.
 */
export function depDigest(sha256: Buffer): string {
  return sha256.subarray(0, 16).toString('base64url');
}

/** sha256 of a file (a dep) of about `size` bytes (just stat'ed: it may have changed since). */
export function sha256File(abs: string, size: number): Buffer {
  if (size <= jsBytesLeft) return sha256(readFileSync(abs));
  const h = nodeCrypto().createHash('sha256');
  streamFile(abs, (chunk) => h.update(chunk));
  return h.digest();
}

/** A target digest in `info`: self-describing, so that another algorithm can never be misread as this one. */
export const TARGET_DIGEST_RE = /^xxh64:[0-9a-f]{16}$/;

export interface TargetHash {
  update(chunk: Uint8Array): void;
  /** `xxh64:<16 hex>` */
  digest(): string;
}
export type NewTargetHash = () => TargetHash;

let targetHash: Promise<NewTargetHash> | undefined;

/**
 * The target hasher. Its wasm module is compiled on first use, once per process: commands that
 * copy no target file do not pay for it. (The JS around it, ~1 ms to parse, is imported statically:
 * a dynamic import cost a CLI hit ~8 ms.)
 */
export function loadTargetHash(): Promise<NewTargetHash> {
  targetHash ??= xxhash().then(({ create64 }) => () => {
    const h = create64();
    return {
      update: (chunk) => void h.update(chunk),
      digest: () => `xxh64:${h.digest().toString(16).padStart(16, '0')}`,
    };
  });
  return targetHash;
}

/** Target digest of a file. */
export function targetDigestOfFile(abs: string, newHash: NewTargetHash): string {
  const h = newHash();
  streamFile(abs, (chunk) => h.update(chunk));
  return h.digest();
}

/** Feed a file to `onChunk` through one buffer: deps and targets may be larger than memory should hold. */
function streamFile(abs: string, onChunk: (chunk: Uint8Array) => void): void {
  const fd = openSync(abs, 'r');
  try {
    streamFd(fd, onChunk);
  } finally {
    closeSync(fd);
  }
}

/**
 * Feed an open file to `onChunk` through one 1 MiB buffer, from its offset, until EOF or `limit`
 * bytes; returns the bytes read. `immutable`: a short read ends it (see readToEnd).
 */
export function streamFd(fd: number, onChunk: (chunk: Uint8Array) => void, { limit = Infinity, immutable = false } = {}): number {
  const buf = Buffer.allocUnsafe(Math.min(1 << 20, limit));
  let size = 0;
  for (;;) {
    const want = Math.min(buf.length, limit - size);
    const n = want > 0 ? readSync(fd, buf, 0, want, null) : 0;
    if (n === 0) return size;
    onChunk(buf.subarray(0, n));
    size += n;
    if (immutable && n < want) return size;
  }
}
