import { createHash } from 'node:crypto';
import * as fs from 'node:fs';

/** Content digests. sha256 runs at memory speed on CPUs with SHA extensions, and is what people trust. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
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

/** sha256 of a file, streamed: deps and targets may be larger than memory should hold. */
export function hashFile(abs: string): Buffer {
  const fd = fs.openSync(abs, 'r');
  try {
    const h = createHash('sha256');
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
    return h.digest();
  } finally {
    fs.closeSync(fd);
  }
}

export function newHasher() {
  return createHash('sha256');
}
