import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../src/errors.js';
import { jobShardIndex, jobToPath } from '../src/jobpath.js';

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

/** Why a mapped path is unsafe, or '' if it has every property it must have, whatever the job. */
function shapeFault(p: string): string {
  if (p.startsWith('/')) return 'absolute';
  if (bytes(p) > 3000) return 'too long';
  const comps = p.split('/');
  if (/^lmake$/i.test(comps[0]!)) return 'LMAKE';
  for (const c of comps) {
    if (c === '' || c === '.' || c === '..') return `component ${JSON.stringify(c)}`;
    if (/^(key|deps_hint)-/i.test(c)) return `reserved ${c}`;
    if (bytes(c) > 255) return `component over NAME_MAX: ${c}`;
    if (/[\x00-\x1f\x7f]/.test(c)) return `control character in ${JSON.stringify(c)}`;
  }
  return '';
}

function checkShape(p: string): void {
  expect(shapeFault(p), p).toBe('');
}

function trickyNames(): string[] {
  const atoms = ['', '.', '..', '/', '//', '%', '%25', '%2E', '%~', 'a', 'é', '日本語', '😀', 'key-', 'deps_hint-',
    'LMAKE', 'lmake', '\x01', '\x7f', '\uD800', '\uFFFD', 'x'.repeat(300), 'é'.repeat(200)];
  const out = new Set<string>();
  for (const a of atoms) for (const b of atoms) for (const c of atoms) {
    const job = a + b + c;
    if (job !== '') out.add(job);
  }
  for (const a of atoms) for (const b of atoms) out.add(`${a}/${b}`).add(`${a}/x/${b}`).add(`/${a}/${b}/`);
  // long paths that differ only after the whole-path limit
  for (let i = 0; i < 50; i++) out.add('dir/'.repeat(800) + i).add('y'.repeat(400 + i));
  return [...out];
}

describe('jobToPath', () => {
  it('keeps plain names readable', () => {
    for (const job of ['obj/foo.o', 'cc:src/a.c', 'test:unit/x', 'a', 'a/b', '...', '.hidden/x', 'a.b/c..d', 'x-key-y']) {
      expect(jobToPath(job)).toBe(job);
    }
  });

  it('keeps unicode as is', () => {
    expect(jobToPath('é')).toBe('é');
    expect(jobToPath('日本語/ファイル.o')).toBe('日本語/ファイル.o');
    expect(jobToPath('emoji/😀👍🏽')).toBe('emoji/😀👍🏽');
  });

  it('escapes . and .. components instead of interpreting them', () => {
    expect(jobToPath('..')).toBe('%2E%2E');
    expect(jobToPath('.')).toBe('%2E');
    expect(jobToPath('../x')).toBe('%2E%2E/x');
    expect(jobToPath('a/../../etc/passwd')).toBe('a/%2E%2E/%2E%2E/etc/passwd');
    expect(jobToPath('./a/.')).toBe('%2E/a/%2E');
  });

  it('escapes slashes that would make an absolute path or an empty component', () => {
    expect(jobToPath('/abs/p')).toBe('%2Fabs/p');
    expect(jobToPath('a//b')).toBe('a%2F%2Fb');
    expect(jobToPath('a/')).toBe('a%2F');
    expect(jobToPath('/')).toBe('%2F');
    expect(jobToPath('//')).toBe('%2F%2F');
    expect(jobToPath('/..')).toBe('%2F..');
  });

  it('refuses NUL and empty names', () => {
    const err = (() => {
      try {
        jobToPath('a\0b');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).code).toBe('EBADJOB');
    expect((err as UsageError).message).toBe('job name contains a NUL byte: "a\\u0000b"');
    expect(() => jobToPath('')).toThrow(UsageError);
    expect(() => jobToPath('')).toThrow('job name is empty');
  });

  it('escapes control characters, %, and lone surrogates', () => {
    expect(jobToPath('a\nb')).toBe('a%0Ab');
    expect(jobToPath('\x01\x1f\x7f')).toBe('%01%1F%7F');
    expect(jobToPath('%')).toBe('%25');
    expect(jobToPath('100%/x%2E')).toBe('100%25/x%252E');
    expect(jobToPath('a\uD800')).toBe('a%ED%A0%80');
    expect(jobToPath('a\uD800')).not.toBe(jobToPath('a\uFFFD'));
  });

  it('never produces reserved names', () => {
    expect(jobToPath('LMAKE')).toBe('%4CMAKE');
    expect(jobToPath('LMAKE/x')).toBe('%4CMAKE/x');
    expect(jobToPath('lmake/x')).toBe('%6Cmake/x');
    expect(jobToPath('x/LMAKE')).toBe('x/LMAKE');
    expect(jobToPath('LMAKEx')).toBe('LMAKEx');
    expect(jobToPath('key-0123456789abcdef-first')).toBe('%6Bey-0123456789abcdef-first');
    expect(jobToPath('a/deps_hint-x')).toBe('a/%64eps_hint-x');
    expect(jobToPath('KEY-x/b')).toBe('%4BEY-x/b');
  });

  it('shortens a long component with a digest', () => {
    const job = 'x'.repeat(1000);
    const p = jobToPath(job);
    checkShape(p);
    expect(p).toMatch(/^x{237}%~[0-9a-f]{16}$/);
    expect(jobToPath('x'.repeat(1001))).not.toBe(p);
    expect(jobToPath('x'.repeat(255))).toBe('x'.repeat(255));
  });

  it('cuts long components between characters and escapes', () => {
    for (const unit of ['é', '日', '😀', '%', '\x01', 'ab%']) {
      for (const pad of ['', 'a', 'ab']) {
        const p = jobToPath(pad + unit.repeat(200));
        checkShape(p);
        const prefix = p.slice(0, p.indexOf('%~'));
        expect(prefix.startsWith(pad)).toBe(true);
        // a cut escape would leave a % not followed by two hex digits
        expect(prefix).toMatch(/^(?:[^%]|%[0-9A-F]{2})*$/u);
        expect(prefix).not.toContain('\uFFFD');
        expect(Buffer.from(prefix, 'utf8').toString('utf8')).toBe(prefix);
      }
    }
  });

  it('bounds a long job name', () => {
    const many = Array.from({ length: 600 }, (_, i) => `dir${i}`).join('/');
    const p = jobToPath(many);
    checkShape(p);
    expect(p.startsWith('dir0/dir1/')).toBe(true);
    expect(p).toMatch(/\/%~[0-9a-f]{16}$/);
    expect(jobToPath(many + 'x')).not.toBe(p);
    const thousand = 'abcdefghi/'.repeat(100);
    const q = jobToPath(thousand);
    expect(q).toBe('abcdefghi/'.repeat(99) + 'abcdefghi%2F');
    checkShape(q);
  });

  it('is injective and well-shaped over tricky names', () => {
    const names = trickyNames();
    expect(names.length).toBeGreaterThan(3000);
    const paths = names.map(jobToPath);
    expect(new Set(paths).size).toBe(names.length);
    expect(paths.map((p) => shapeFault(p) && `${p}: ${shapeFault(p)}`).filter(Boolean)).toEqual([]);
  });

  it('is deterministic', () => {
    for (const job of trickyNames().slice(0, 200)) expect(jobToPath(job)).toBe(jobToPath(job));
  });

  describe('on a real filesystem', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'dircache-jobpath-'));
    afterAll(() => rmSync(tmp, { recursive: true, force: true }));

    it('creates every path inside the root', () => {
      const paths = new Set(trickyNames().map(jobToPath));
      const outside: string[] = [];
      for (const p of paths) {
        const dir = join(tmp, p);
        if (!resolve(dir).startsWith(tmp + '/')) outside.push(p);
        mkdirSync(dir, { recursive: true });
      }
      expect(outside).toEqual([]);
    });
  });
});

describe('jobShardIndex', () => {
  it('is stable', () => {
    expect(jobShardIndex('obj/foo.o', 4)).toBe(2);
    expect(jobShardIndex('obj/foo.o', 16)).toBe(2);
    expect(jobShardIndex('cc:src/a.c', 4)).toBe(3);
    expect(jobShardIndex('cc:src/a.c', 16)).toBe(7);
    expect(jobShardIndex('日本語', 16)).toBe(13);
    expect(jobShardIndex('a', 1000003)).toBe(916416);
    expect(jobShardIndex('anything', 1)).toBe(0);
  });

  it('spreads jobs over shards', () => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 1000; i++) counts[jobShardIndex(jobToPath(`obj/file${i}.o`), 4)]!++;
    for (const n of counts) {
      expect(n).toBeGreaterThanOrEqual(150);
      expect(n).toBeLessThanOrEqual(350);
    }
  });

  it('refuses a bad shard count', () => {
    expect(() => jobShardIndex('a', 0)).toThrow(UsageError);
    expect(() => jobShardIndex('a', 1.5)).toThrow(UsageError);
  });
});
