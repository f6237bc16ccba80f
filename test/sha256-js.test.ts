import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256Js } from '../src/sha256-js.js';

const hex = (s: string) => sha256Js(Buffer.from(s)).toString('hex');
const native = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('sha256Js', () => {
  it('gives the FIPS 180-4 example digests', () => {
    expect(hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(hex('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')).toBe('248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
    expect(hex('a'.repeat(1_000_000))).toBe('cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0');
  });

  it("equals node:crypto's sha256 at every length around the padding's block boundaries", () => {
    for (let n = 0; n <= 300; n++) {
      const b = randomBytes(n);
      expect(sha256Js(b).toString('hex'), `length ${n}`).toBe(native(b));
    }
    for (const n of [4095, 4096, 4097, 65_536 + 55, 1 << 20]) {
      const b = randomBytes(n);
      expect(sha256Js(b).toString('hex'), `length ${n}`).toBe(native(b));
    }
  });

  it('hashes a view into a larger buffer by its own bytes only', () => {
    const big = randomBytes(1000);
    const view = big.subarray(100, 300);
    expect(sha256Js(view).toString('hex')).toBe(native(Buffer.from(view)));
  });
});
