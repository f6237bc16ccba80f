import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../src/digest.js';
import { CorruptEntryError } from '../src/errors.js';
import { type Info, decodeInfo, depsListHex, encodeInfo, entrySize, sameInputs, sameTargets, unsafeRelativePath } from '../src/info.js';

const D = 'xxh64:0123456789abcdef';
const info: Info = {
  job: 'cc:src/a.c',
  repoKey: '/home/u/repo 0123abcd',
  inputs: { cc: 'gcc-12', flags: '-O2 -g' },
  deps: [
    ['src/b.h', 'digest-b'],
    ['/usr/include/stdio.h', 'digest-s'],
    ['include/absent.h', null],
  ],
  targets: [
    { path: 'obj/a.o', kind: 'file', mode: 0o644, size: 12, digest: D, link: '' },
    { path: 'bin/tool', kind: 'file', mode: 0o755, size: 0, digest: 'xxh64:fedcba9876543210', link: '' },
    { path: 'obj', kind: 'dir', mode: 0o750, size: 0, digest: '', link: '' },
    { path: 'obj/latest', kind: 'symlink', mode: 0o777, size: 0, digest: '', link: '../elsewhere/a.o' },
  ],
  exeTime: 1.25,
  host: 'build-7',
  user: 'alice',
  created: 1_700_000_000_000,
};

/** A record with a valid checksum around any body: only validation can refuse it. */
function withBody(body: unknown, magic = 'dircache-info 2'): string {
  const text = JSON.stringify(body);
  return `${magic} ${sha256Hex(text)}\n${text}\n`;
}

const raw = () => JSON.parse(encodeInfo(info).split('\n')[1]!) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function refused(body: unknown): string {
  try {
    decodeInfo(withBody(body), 'e/info');
  } catch (e) {
    expect(e).toBeInstanceOf(CorruptEntryError);
    return (e as Error).message;
  }
  throw new Error('accepted');
}

describe('info record', () => {
  it('round-trips; deps come back sorted by path', () => {
    const back = decodeInfo(encodeInfo(info), 'e/info');
    expect(back).toEqual({ ...info, deps: [...info.deps].sort((a, b) => (a[0] < b[0] ? -1 : 1)) });
    expect(encodeInfo(back)).toBe(encodeInfo(info));
  });

  it('the checksum detects any flipped byte', () => {
    const text = encodeInfo(info);
    const body = text.indexOf('\n') + 1;
    for (let i = 0; i < text.length - 1; i++) {
      const c = text.charCodeAt(i);
      const flipped = text.slice(0, i) + String.fromCharCode(c ^ 0x01) + text.slice(i + 1);
      expect(() => decodeInfo(flipped, 'e/info'), `byte ${i}`).toThrow(i >= body ? /checksum mismatch/ : /checksum mismatch|not a dircache info record/);
    }
  });

  it('refuses a torn or foreign file', () => {
    const text = encodeInfo(info);
    expect(() => decodeInfo(text.slice(0, text.length - 10), 'e/info')).toThrow(/e\/info: checksum mismatch/);
    expect(() => decodeInfo('', 'e/info')).toThrow(/not a dircache info record/);
    expect(() => decodeInfo('{"job":"x"}\n', 'e/info')).toThrow(/not a dircache info record/);
    expect(() => decodeInfo(withBody('a string'), 'e/info')).toThrow(/info is not an object/);
  });

  it('refuses a record of format 1 (sha256 target digests), even with a valid checksum', () => {
    const r = raw();
    r.targets[0].digest = 'a'.repeat(64);
    r.targets[1].digest = 'b'.repeat(64);
    expect(() => decodeInfo(withBody(r, 'dircache-info 1'), 'e/info')).toThrow(new CorruptEntryError('e/info: not a dircache info record (dircache-info 2)'));
  });

  it.each([
    ['obj/../../etc/passwd', /target path 'obj\/..\/..\/etc\/passwd' has a '..' component/],
    ['..', /has a '..' component/],
    ['/etc/passwd', /is absolute/],
    ['a\0b', /contains a NUL byte/],
    ['a//b', /has a '\/\/' component/],
    ['./a', /has a '.' component/],
    ['a\\..\\b', /contains a backslash/],
    ['', /is empty/],
  ])('refuses the target path %j', (p, message) => {
    const r = raw();
    r.targets[0].path = p;
    expect(refused(r)).toMatch(message);
  });

  it.each([0o4755, 0o2755, 0o1777, 0o100644, -1, 1.5, '644'])('refuses the file mode %s (setuid, setgid, sticky, type bits)', (mode) => {
    const r = raw();
    r.targets[1].mode = mode;
    expect(refused(r)).toMatch(/has mode .*setuid, setgid, sticky and type bits are refused/);
  });

  it.each(['chardev', 'blockdev', 'fifo', 'socket', undefined])('refuses the target kind %s', (kind) => {
    const r = raw();
    r.targets[0].kind = kind;
    expect(refused(r)).toMatch(/has unsupported kind .*only files, dirs and symlinks are restored/);
  });

  it.each([
    '',
    'a'.repeat(64), // format 1's bare sha256
    `sha256:${'a'.repeat(64)}`,
    'sha256:0123456789abcdef',
    'xxh64:0123456789ABCDEF',
    'XXH64:0123456789abcdef',
    'xxh64:0123456789abcde',
    'xxh64:0123456789abcdef0',
    'xxh64:0123456789abcdeg',
    'xxh64:',
    '0123456789abcdef',
    ' xxh64:0123456789abcdef',
    'xxh64:0123456789abcdef\n',
    42,
    null,
  ])('refuses the digest %j', (digest) => {
    const r = raw();
    r.targets[0].digest = digest;
    expect(refused(r)).toBe('e/info: target obj/a.o has a bad digest (expected xxh64: and 16 lowercase hex digits)');
  });

  it('refuses other malformed fields', () => {
    const cases: Array<[(r: Record<string, any>) => void, RegExp]> = [ // eslint-disable-line @typescript-eslint/no-explicit-any
      [(r) => (r.targets[0].size = -1), /bad size/],
      [(r) => (r.targets[0].size = 2 ** 60), /bad size/],
      [(r) => r.targets.push(r.targets[0]), /target obj\/a.o listed twice/],
      [(r) => (r.targets[3].link = ''), /symlink obj\/latest has no valid link/],
      [(r) => (r.targets[3].link = 'a\0b'), /symlink obj\/latest has no valid link/],
      [(r) => (r.deps = [['a\0b', null]]), /malformed dep/],
      [(r) => (r.deps = [['a', 1]]), /malformed dep/],
      [(r) => (r.inputs = { cc: 12 }), /inputs is not a map of strings/],
      [(r) => (r.exeTime = -1), /exeTime is not a non-negative number/],
      [(r) => delete r.job, /job is not a string/],
      [(r) => (r.targets = {}), /targets is not a list/],
    ];
    for (const [edit, message] of cases) {
      const r = raw();
      edit(r);
      expect(refused(r)).toMatch(message);
    }
  });

  it('unsafeRelativePath accepts plain relative paths', () => {
    for (const p of ['a', 'obj/a.o', 'dir/.hidden', 'x/..y/z', 'unicode/été']) expect(unsafeRelativePath(p)).toBe('');
  });

  it('helpers: deps list hex ignores order, inputs and targets compare by content, size counts data and info', () => {
    expect(depsListHex(['b', 'a'])).toBe(depsListHex(['a', 'b']));
    expect(depsListHex(['a', 'b'])).not.toBe(depsListHex(['a', 'c']));
    expect(depsListHex(['ab'])).not.toBe(depsListHex(['a', 'b']));
    expect(sameInputs({ a: '1', b: '2' }, { b: '2', a: '1' })).toBe(true);
    expect(sameInputs({ a: '1' }, { a: '1', b: '2' })).toBe(false);
    expect(sameInputs({ a: '1' }, { a: '2' })).toBe(false);
    expect(sameTargets(info.targets, [...info.targets].reverse())).toBe(true);
    expect(sameTargets(info.targets, [{ ...info.targets[0]!, digest: 'xxh64:0123456789abcdee' }, ...info.targets.slice(1)])).toBe(false);
    expect(sameTargets(info.targets, info.targets.slice(1))).toBe(false);
    const text = encodeInfo(info);
    expect(entrySize(info, text)).toBe(12 + Buffer.byteLength(text));
  });
});
