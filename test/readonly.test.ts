/** A client that can read the share but not write it: a read-only mount. Needs root (mount). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, git, initCache, makeRepo, snapshot, tempDir } from './helpers.js';

const isRoot = process.getuid?.() === 0;
const canMount = isRoot && spawnSync('mount', ['--version']).status === 0;

describe.skipIf(!canMount)('a read-only mount of the cache (root only: uses mount --bind)', () => {
  let dir: string, cache: string, ro: string, other: string;
  beforeAll(() => {
    dir = tempDir();
    cache = initCache(path.join(dir, 'cache'), '10M');
    const ws = makeRepo(path.join(dir, 'ws'), { 'a.c': 'int a;\n' });
    fs.writeFileSync(path.join(ws, 'a.o'), 'object a\n');
    expect(cli(['upload', '--cache', cache, '--job', 'a.o', '--target', 'a.o', '--dep', 'a.c'], { cwd: ws }).code).toBe(0);
    other = path.join(dir, 'other');
    git(dir, 'clone', '-q', ws, other);
    ro = path.join(dir, 'ro');
    fs.mkdirSync(ro);
    expect(spawnSync('mount', ['--bind', cache, ro]).status).toBe(0);
    expect(spawnSync('mount', ['-o', 'remount,bind,ro', ro]).status).toBe(0);
  });
  afterAll(() => {
    spawnSync('umount', [ro]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('still hits, with a warning that the LRU did not see it, and changes nothing', () => {
    const before = snapshot(cache);
    const r = cli(['download', '--cache', ro, '--job', 'a.o', '--dep', 'a.c'], { cwd: other });
    expect(r.code).toBe(0);
    expect(r.stderr.split('\n')).toEqual([
      expect.stringMatching(/^dircache: warning: hit not recorded in the LRU: cannot lock .*\/LMAKE\/shards\/0\/lock: read-only filesystem$/),
      expect.stringMatching(/^dircache: warning: stats not recorded: EROFS: read-only file system/),
      '',
    ]);
    expect(fs.readFileSync(path.join(other, 'a.o'), 'utf8')).toBe('object a\n');
    expect(snapshot(cache)).toEqual(before);
  });

  it('refuses an upload with a permission message and exit code 6', () => {
    fs.writeFileSync(path.join(other, 'b.o'), 'object b\n');
    const before = snapshot(cache);
    const r = cli(['upload', '--cache', ro, '--job', 'b.o', '--target', 'b.o'], { cwd: other });
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/^dircache: error: cannot .*: read-only filesystem\n$/);
    expect(snapshot(cache)).toEqual(before);
  });
});
