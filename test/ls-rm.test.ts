import { describe, expect, it } from 'vitest';
import { checkCache } from '../src/check.js';
import { globToRegExp } from '../src/walk.js';
import { snapshot } from './helpers.js';
import { admin, download, headOf, listed, makeFixture, upload } from './admin-fixture.js';

describe('globToRegExp', () => {
  it.each([
    ['obj/*', 'obj/a.o', true],
    ['obj/*', 'obj/sub/a.o', true],
    ['obj/*', 'objx/a.o', false],
    ['*.o', 'obj/a.o', true],
    ['*.o', 'obj/a.oo', false],
    ['a?c', 'abc', true],
    ['a?c', 'ac', false],
    ['a.c', 'abc', false],
    ['cc:(x)+[y]{1}^$|\\', 'cc:(x)+[y]{1}^$|\\', true],
    ['', '', true],
    ['*', 'line\nbreak', true],
  ])('%j matches %j: %s', (pattern, job, want) => {
    expect(globToRegExp(pattern).test(job)).toBe(want);
  });
});

// real CLI runs, many per test: allow for a loaded machine
describe('dircache ls and rm', { timeout: 300_000 }, () => {
  it('ls lists entries most recently used first, with a summary', () => {
    const f = makeFixture();
    for (const j of ['obj/a.o', 'obj/b.o', 'test:unit']) upload(f, j, 2000);
    expect(download(f, 'obj/a.o')).toBe('hit');
    const r = admin(f, 'ls');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.map((l) => l.split(/\s+/).at(-1))).toEqual(['obj/a.o', 'test:unit', 'obj/b.o', 'MB']);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +\d+[smhd] old +[\d.]+ KB +0s +first +obj\/a\.o$/);
    expect(lines.at(-1)).toMatch(/^3 entries, [\d.]+ KB of 10 MB$/);
    const only = admin(f, 'ls', '--job', 'obj/*', '--json').json();
    expect(only.entries.map((e: { job: string }) => e.job)).toEqual(['obj/a.o', 'obj/b.o']);
    expect(only).toMatchObject({ count: 2, size: 10 * 2 ** 20 });
  });

  it('rm removes matching entries through the LRU, keeping the total right', () => {
    const f = makeFixture();
    for (const j of ['obj/a.o', 'obj/b.o', 'test:unit']) upload(f, j, 5000);
    const sizes = new Map(listed(f).map((e) => [e.job, e.size]));
    const before = snapshot(f.cache);
    const dry = admin(f, 'rm', '--job', 'obj/*', '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^would remove obj\/a\.o\/key-\w+-first \(obj\/a\.o\)\nwould remove obj\/b\.o\/key-\w+-first \(obj\/b\.o\)\nrm: would remove 2 entries\n$/);
    expect(snapshot(f.cache)).toEqual(before);

    const totalBefore = headOf(f.cache).total;
    const r = admin(f, 'rm', '--job', 'obj/*', '--json');
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ dryRun: false, bytes: sizes.get('obj/a.o')! + sizes.get('obj/b.o')! });
    expect(headOf(f.cache)).toMatchObject({ entries: 1, total: totalBefore - sizes.get('obj/a.o')! - sizes.get('obj/b.o')! });
    expect(checkCache(f.cache).problems).toEqual([]);
    expect(listed(f).map((e) => e.job)).toEqual(['test:unit']);
    expect(download(f, 'obj/a.o')).toBe('miss');
    expect(download(f, 'test:unit')).toBe('hit');
  });

  it('rm without --job is a usage error that changes nothing', () => {
    const f = makeFixture();
    upload(f, 'x', 10);
    const before = snapshot(f.cache);
    const r = admin(f, 'rm');
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('Missing required argument: job');
    expect(snapshot(f.cache)).toEqual(before);
  });
});
