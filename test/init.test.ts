import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfigPy } from '../src/config.js';
import { checkCache } from './lru-check.js';
import { BIN, cli, git, makeRepo, snapshot, tempDir, writeFiles, testEnv } from './helpers.js';

let base: string;
beforeEach(() => {
  base = tempDir('dircache-init-');
});
afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

/** The CLI under `umask 077`, as a user with a private umask would run it. */
function dcUmask077(args: string[], cwd = base) {
  const quoted = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const env = testEnv();
  const r = spawnSync('/bin/sh', ['-c', `umask 077; exec ${quoted}`], { cwd, env, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every file and dir under `dir` (symlinks have no mode of their own) with its mode. */
function modes(dir: string): Array<[string, number, boolean]> {
  const out: Array<[string, number, boolean]> = [];
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d)) {
      const p = path.join(d, name);
      const st = fs.lstatSync(p);
      if (st.isSymbolicLink()) continue;
      out.push([path.relative(dir, p), st.mode & 0o7777, st.isDirectory()]);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

function expectGroupShared(dir: string): void {
  const st = fs.statSync(dir);
  expect(st.mode & 0o2070, 'the root: setgid and group rwx').toBe(0o2070);
  for (const [rel, mode, isDir] of modes(dir)) {
    if (isDir) expect((mode & 0o2070).toString(8), `${rel}/ is setgid and group rwx`).toBe((0o2070).toString(8));
    else expect((mode & 0o060).toString(8), `${rel} is group rw`).toBe((0o060).toString(8));
  }
}

describe('dircache init', () => {
  it('creates the layout: config.py from the template, version, an empty LRU head per shard, the admin dirs', () => {
    const root = path.join(base, 'c');
    const r = cli(['init', root, '--size', '1.5G', '--shards', '2', '--file-sync', 'sync']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(Object.keys(snapshot(root)).sort()).toEqual([
      'LMAKE/', 'LMAKE/config.py', 'LMAKE/shards/', 'LMAKE/shards/0/', 'LMAKE/shards/0/lru', 'LMAKE/shards/0/reserved/',
      'LMAKE/shards/1/', 'LMAKE/shards/1/lru', 'LMAKE/shards/1/reserved/', 'LMAKE/stats/', 'LMAKE/tmp/', 'LMAKE/trash/', 'LMAKE/version',
    ]);
    expect(fs.readFileSync(path.join(root, 'LMAKE/version'), 'utf8')).toBe('format 2\nshards 2\n');
    const cfg = parseConfigPy(fs.readFileSync(path.join(root, 'LMAKE/config.py'), 'utf8'), 'config.py');
    expect(cfg).toMatchObject({ size: 1.5 * 2 ** 30, perm: 'none', file_sync: 'sync' });
    const [s0, s1] = checkCache(root);
    expect(s0).toMatchObject({ list: [], total: 0 });
    expect(s1).toMatchObject({ list: [], total: 0 });
    expect(r.stdout).toMatch(/^created cache .*: size 1\.5 GB, 2 shards, perm none, file_sync sync$/m);
  });

  it('prints the setfacl line an admin can use instead of perm', () => {
    const root = path.join(base, 'c');
    const r = cli(['init', root, '--size', '10M']);
    expect(r.stdout).toMatch(new RegExp(`^to share by ACL instead of perm: setfacl -R -m g:[\\w.-]+:rwX -m d:g:[\\w.-]+:rwX ${root}$`, 'm'));
    expect(cli(['init', path.join(base, 'd'), '--size', '10M', '--json']).json().setfacl).toMatch(/^setfacl -R -m g:/);
  });

  it('takes an existing empty dir', () => {
    const root = path.join(base, 'empty');
    fs.mkdirSync(root);
    expect(cli(['init', root, '--size', '10M']).code).toBe(0);
    checkCache(root);
  });

  it("--perm group under umask 077: group-writable files and setgid dirs, also for what upload and download create", () => {
    const root = path.join(base, 'c');
    const r = dcUmask077(['init', root, '--size', '10M', '--perm', 'group']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expectGroupShared(root);

    const repo = makeRepo(path.join(base, 'repo'), { 'src/a.c': 'int a;\n' });
    writeFiles(repo, { 'out/deep/x.o': 'object', 'out/y': 'y' });
    const up = dcUmask077(['upload', '--job', 'obj/x.o', '--target', 'out', '--dep', 'src/a.c', '--cache', root], repo);
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    const ws = path.join(base, 'clone');
    git(base, 'clone', '-q', repo, ws);
    const down = dcUmask077(['download', '--job', 'obj/x.o', '--dep', 'src/a.c', '--cache', root], ws);
    expect(down.stderr).toBe('');
    expect(down.code).toBe(0);
    expect(modes(root).some(([rel]) => rel.startsWith('obj/x.o/key-'))).toBe(true);
    expectGroupShared(root);
    checkCache(root);
  });

  it('under umask 077 without perm, the cache follows the umask (perm none)', () => {
    const root = path.join(base, 'c');
    expect(dcUmask077(['init', root, '--size', '10M']).code).toBe(0);
    for (const [rel, mode] of modes(root)) expect(mode & 0o077, rel).toBe(0);
  });

  describe('refuses, says what is there, and changes nothing', () => {
    it('a non-empty dir that is not a cache', () => {
      const root = path.join(base, 'busy');
      writeFiles(root, { 'notes.txt': 'mine', 'src/a.c': 'int a;' });
      const before = snapshot(root);
      const r = cli(['init', root, '--size', '10M']);
      expect(r.code).toBe(3);
      expect(r.stderr).toBe(`dircache: error: ${root} is not empty and is not a cache (it holds notes.txt, src); give a new or empty dir\n`);
      expect(snapshot(root)).toEqual(before);
    });

    it('an existing cache', () => {
      const root = path.join(base, 'c');
      expect(cli(['init', root, '--size', '10M', '--shards', '2']).code).toBe(0);
      const before = snapshot(root);
      const r = cli(['init', root, '--size', '20M', '--perm', 'group']);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(new RegExp(`${root} already holds a dircache cache \\(format 2, 2 shards\\); nothing changed\\. Edit ${root}/LMAKE/config\\.py`));
      expect(snapshot(root)).toEqual(before);
    });

    it('a damaged cache, and a cache of another format', () => {
      const root = path.join(base, 'c');
      expect(cli(['init', root, '--size', '10M']).code).toBe(0);
      fs.writeFileSync(path.join(root, 'LMAKE/version'), 'format 9\nshards 1\n');
      let before = snapshot(root);
      let r = cli(['init', root, '--size', '10M']);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/already holds a cache this dircache cannot read \(.*cache format version 9/);
      expect(snapshot(root)).toEqual(before);
      fs.rmSync(path.join(root, 'LMAKE/version'));
      before = snapshot(root);
      r = cli(['init', root, '--size', '10M']);
      expect(r.stderr).toMatch(/already holds an incomplete or damaged cache/);
      expect(snapshot(root)).toEqual(before);
    });

    it('a path that is a file', () => {
      const file = path.join(base, 'f');
      fs.writeFileSync(file, 'x');
      const r = cli(['init', file, '--size', '10M']);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/exists and is not a directory; give a new or empty dir/);
      expect(fs.readFileSync(file, 'utf8')).toBe('x');
    });
  });

  it.each([
    [['--size', 'abc'], /--size: bad size 'abc': use bytes .* or a number with a unit k, M, G, T/],
    [['--size', '0'], /--size: bad size '0': a cache needs more than 0 bytes/],
    [['--size', '12Q'], /--size: bad size '12Q'/],
    [['--size', '10M', '--shards', '0'], /--shards 0: use an integer from 1 to 256/],
    [['--size', '10M', '--shards', '2.5'], /--shards 2.5: use an integer from 1 to 256/],
    [['--size', '10M', '--shards', '1000'], /--shards 1000: use an integer from 1 to 256/],
    [['--size', '2M', '--shards', '4'], /--shards 4 leaves each shard 524288 bytes; give each at least 1 MiB/],
  ])('bad %j: a usage error, nothing created', (args, message) => {
    const root = path.join(base, 'new');
    const r = cli(['init', root, ...args]);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(3);
    expect(fs.existsSync(root)).toBe(false);
  });
});
