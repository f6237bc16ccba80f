import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TARGET_DIGEST_RE, loadTargetHash, targetDigestOfFile } from '../src/digest.js';
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
