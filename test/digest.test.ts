import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TARGET_DIGEST_RE, loadTargetHash, sha256, sha256File, sha256Hex, shortHex, targetDigestOfFile } from '../src/digest.js';
import { targetDigest, tempDir } from './helpers.js';

describe('target digests', () => {
  it('are XXH64 (seed 0), written xxh64:<16 lowercase hex>', async () => {
    // reference values of XXH64
    expect(await targetDigest('')).toBe('xxh64:ef46db3751d8e999');
    expect(await targetDigest('hello')).toBe('xxh64:26c7827d889f6da3');
    for (const d of [await targetDigest(''), await targetDigest('x')]) expect(d).toMatch(TARGET_DIGEST_RE);
  });

  it('of a file read in chunks equal the digest of its whole content, and load once per process', async () => {
    const dir = tempDir();
    const content = Buffer.alloc(3 * (1 << 20) + 12345);
    for (let i = 0; i < content.length; i++) content[i] = (i * 2654435761) >>> 24;
    const file = path.join(dir, 'f');
    fs.writeFileSync(file, content);
    const newHash = await loadTargetHash();
    expect(await loadTargetHash()).toBe(newHash);
    expect(targetDigestOfFile(file, newHash)).toBe(await targetDigest(content));
    const h = newHash();
    for (let off = 0; off < content.length; off += 1000) h.update(content.subarray(off, off + 1000));
    expect(h.digest()).toBe(await targetDigest(content));
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('sha256', () => {
  const native = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

  it('gives the same digest in JS (the first few KiB) and through node:crypto (the rest)', () => {
    for (const n of [0, 1, 64, 4095, 4096, 4097, 100_000, 1, 64]) {
      const b = randomBytes(n);
      expect(sha256(b).toString('hex'), `length ${n}`).toBe(native(b));
      expect(sha256Hex(b)).toBe(native(b));
    }
  });

  it('hashes strings as UTF-8, on both sides of the switch', () => {
    for (const s of ['héllo wörld ✓', 'ü'.repeat(2047), 'ü'.repeat(2048), 'ü'.repeat(2049)]) {
      expect(sha256Hex(s)).toBe(native(Buffer.from(s, 'utf8')));
      expect(shortHex(s)).toBe(native(Buffer.from(s, 'utf8')).slice(0, 16));
    }
  });

  it('of a file, read in chunks, equals the digest of its content', () => {
    const dir = tempDir();
    const content = randomBytes(2 * (1 << 20) + 77);
    fs.writeFileSync(path.join(dir, 'f'), content);
    fs.writeFileSync(path.join(dir, 'short'), content.subarray(0, 100));
    expect(sha256File(path.join(dir, 'f'), content.length).toString('hex')).toBe(native(content));
    expect(sha256File(path.join(dir, 'short'), 100).toString('hex')).toBe(native(content.subarray(0, 100)));
    // grown since it was stat'ed: hashed as it is now
    expect(sha256File(path.join(dir, 'f'), 100).toString('hex')).toBe(native(content));
  });
});
