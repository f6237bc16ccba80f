/** End to end through the built CLI: real git repos and clones, real child processes, a real cache dir. */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { once } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Cache } from '../src/cache.js';
import { sha256Hex } from '../src/digest.js';
import { jobShardIndex, jobToPath } from '../src/jobpath.js';
import { shardPaths } from '../src/layout.js';
import { upload } from '../src/upload.js';
import { checkCache, entryDirs } from './lru-check.js';
import { REPO, cli, git, initCache, makeRepo, snapshot, tempDir, writeFiles } from './helpers.js';

let base: string;
let cache: string;
let repo: string;
const children: ChildProcess[] = [];

beforeEach(() => {
  base = tempDir('dircache-e2e-');
  cache = path.join(base, 'cache');
  repo = makeRepo(path.join(base, 'repo'), { 'src/a.c': 'int a = 1;\n', 'src/b.c': 'int b = 2;\n', '.gitignore': 'out/\n' });
});
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  fs.rmSync(base, { recursive: true, force: true });
});

/** The CLI against our cache, in `cwd`. */
function dc(cwd: string, ...args: string[]) {
  return cli([...args, '--cache', cache], { cwd });
}

function clone(name = 'clone'): string {
  const dir = path.join(base, name);
  git(base, 'clone', '-q', repo, dir);
  return dir;
}

/** A job's output tree: an executable, a private file, an empty file, an empty dir, a symlink. */
function produce(ws: string, tag: string): void {
  writeFiles(ws, { 'out/bin/tool': `#!/bin/sh\necho ${tag}\n`, 'out/sub/deep.txt': `deep ${tag}\n`, 'out/empty': '' });
  fs.chmodSync(path.join(ws, 'out/bin/tool'), 0o755);
  fs.chmodSync(path.join(ws, 'out/sub/deep.txt'), 0o600);
  fs.mkdirSync(path.join(ws, 'out/emptydir'));
  fs.symlinkSync('bin/tool', path.join(ws, 'out/link'));
  fs.symlinkSync('../nowhere', path.join(ws, 'out/dangling'));
}

const entriesOf = (job: string) => entryDirs(cache).filter((e) => e.startsWith(jobToPath(job) + '/'));

describe('upload in a repo, download in a clone', () => {
  beforeEach(() => initCache(cache, '100M'));

  it('restores byte-identical targets: modes, executable bit, symlinks, empty dirs and files', () => {
    produce(repo, 'v1');
    const up = dc(repo, 'upload', '--job', 'build', '--target', 'out', '--dep', 'src/a.c', '--json');
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    expect(up.json()).toMatchObject({ uploaded: true, which: 'first', files: 3 });
    checkCache(cache);

    const ws = clone();
    expect(fs.existsSync(path.join(ws, 'out'))).toBe(false);
    const down = dc(ws, 'download', '--job', 'build', '--dep', 'src/a.c');
    expect(down.code).toBe(0);
    expect(down.stdout).toMatch(/^hit: build: restored/);
    const want = snapshot(path.join(repo, 'out'));
    expect(snapshot(path.join(ws, 'out'))).toEqual(want);
    expect(want['bin/tool']).toMatch(/^file 755 /);
    expect(want['sub/deep.txt']).toMatch(/^file 600 /);
    expect(want['empty']).toBe('file 644 ');
    expect(want['emptydir/']).toMatch(/^dir /);
    expect(want['link']).toBe('link bin/tool');
    expect(want['dangling']).toBe('link ../nowhere');
    checkCache(cache);
  });

  it('a dep whose content changed is a miss; an absent dep that now exists is a miss; inputs must match', () => {
    produce(repo, 'v1');
    const deps = ['--dep', 'src/a.c', '--dep', 'include/opt.h'];
    expect(dc(repo, 'upload', '--job', 'cc', '--target', 'out', ...deps, '--input', 'cc=gcc-12', '--input', 'flags=-O2').code).toBe(0);
    const ws = clone();
    const get = (...more: string[]) => dc(ws, 'download', '--job', 'cc', ...deps, ...more);

    expect(get('--input', 'cc=gcc-12').code).toBe(1); // an input missing
    expect(get('--input', 'cc=gcc-13', '--input', 'flags=-O2').code).toBe(1);
    expect(get('--input', 'cc=gcc-12', '--input', 'flags=-O2', '--input', 'x=1').code).toBe(1);
    expect(fs.existsSync(path.join(ws, 'out'))).toBe(false);

    writeFiles(ws, { 'include/opt.h': '#define OPT 1\n' });
    const miss = get('--input', 'cc=gcc-12', '--input', 'flags=-O2');
    expect(miss.code).toBe(1);
    expect(miss.stdout).toBe('miss: cc\n');
    fs.rmSync(path.join(ws, 'include'), { recursive: true });

    fs.writeFileSync(path.join(ws, 'src/a.c'), 'int a = 2;\n');
    expect(get('--input', 'flags=-O2', '--input', 'cc=gcc-12').code).toBe(1);
    expect(fs.existsSync(path.join(ws, 'out'))).toBe(false);

    fs.writeFileSync(path.join(ws, 'src/a.c'), 'int a = 1;\n');
    // the recorded deps decide: the deps given to download only find the hint
    expect(dc(ws, 'download', '--job', 'cc', '--input', 'flags=-O2', '--input', 'cc=gcc-12').code).toBe(0);
    expect(fs.readFileSync(path.join(ws, 'out/sub/deep.txt'), 'utf8')).toBe('deep v1\n');
  });

  it('three uploads under one repo key leave two entries: the first and the third', () => {
    const job = ['--job', 'gen', '--target', 'out/x', '--dep', 'src/a.c', '--repo-key', 'k1'];
    for (const v of ['one', 'two', 'three']) {
      writeFiles(repo, { 'src/a.c': `int a = ${v.length};//${v}\n`, 'out/x': v });
      const r = dc(repo, 'upload', ...job, '--json');
      expect(r.code).toBe(0);
      expect(r.json().which).toBe(v === 'one' ? 'first' : 'last');
      checkCache(cache);
    }
    const ids = entriesOf('gen');
    expect(ids.map((e) => e.replace(/.*-/, ''))).toEqual(['first', 'last']);
    const content = (which: string) => fs.readFileSync(path.join(cache, ids.find((e) => e.endsWith(which))!, 'data/out/x'), 'utf8');
    expect(content('-first')).toBe('one');
    expect(content('-last')).toBe('three');
    // another repo key starts its own pair
    writeFiles(repo, { 'src/a.c': 'int a = 9;\n', 'out/x': 'four' });
    expect(dc(repo, 'upload', ...job.slice(0, -1), 'k2', '--json').json().which).toBe('first');
    expect(entriesOf('gen')).toHaveLength(3);
    checkCache(cache);
  });

  it('--json prints one JSON object: hit or miss, entry, sizes, timing', () => {
    writeFiles(repo, { 'out/x': 'hello' });
    const up = dc(repo, 'upload', '--job', 'j', '--target', 'out/x', '--json');
    expect(up.stdout.trim().split('\n')).toHaveLength(1);
    const u = up.json();
    expect(u).toMatchObject({ uploaded: true, job: 'j', files: 1, evicted: 0, warnings: [] });
    expect(u.entry).toMatch(/^j\/key-[0-9a-f]{16}-first$/);
    expect(u.bytes).toBeGreaterThan(5);
    expect(typeof u.elapsedMs).toBe('number');
    const again = dc(repo, 'upload', '--job', 'j', '--target', 'out/x', '--json').json();
    expect(again).toMatchObject({ uploaded: false, reason: 'exists', entry: u.entry });

    const ws = clone();
    const hit = dc(ws, 'download', '--job', 'j', '--json');
    expect(hit.code).toBe(0);
    expect(hit.stdout.trim().split('\n')).toHaveLength(1);
    expect(hit.json()).toMatchObject({ hit: true, job: 'j', entry: u.entry, files: 1, bytes: 5 });
    expect(typeof hit.json().elapsedMs).toBe('number');
    const miss = dc(ws, 'download', '--job', 'other', '--json');
    expect(miss.code).toBe(1);
    expect(miss.json()).toMatchObject({ hit: false, job: 'other', files: 0, bytes: 0 });
  });

  it('a digest mismatch is a miss with a warning; the entry is removed, the total stays right, the workspace is untouched', () => {
    writeFiles(repo, { 'out/x': 'good content', 'out/y': 'other' });
    const keep = dc(repo, 'upload', '--job', 'keep', '--target', 'out/y', '--json').json();
    const bad = dc(repo, 'upload', '--job', 'bad', '--target', 'out', '--json').json();
    const data = path.join(cache, bad.entry, 'data/out/x');
    const buf = fs.readFileSync(data);
    buf[0] ^= 0x20;
    fs.writeFileSync(data, buf); // same size, one byte flipped

    const ws = clone();
    writeFiles(ws, { 'out/x': 'mine' });
    const before = snapshot(ws);
    const r = dc(ws, 'download', '--job', 'bad', '--json');
    expect(r.code).toBe(1);
    expect(r.json()).toMatchObject({ hit: false });
    expect(r.stderr).toMatch(/warning: entry bad\/key-[0-9a-f]{16}-first is corrupt and was removed: target out\/x does not match its recorded digest \(got 12 bytes, xxh64:[0-9a-f]{16}, expected 12 bytes, xxh64:[0-9a-f]{16}\)/);
    expect(snapshot(ws)).toEqual(before);
    expect(entryDirs(cache)).toEqual([keep.entry]);
    const [shard] = checkCache(cache);
    expect(shard!.list).toEqual([keep.entry]);
    expect(shard!.total).toBe(keep.bytes);
  });
});

describe('size bound', () => {
  it('with a small size, uploads evict the least recently downloaded entries first', () => {
    initCache(cache, '1M');
    const up = (job: string) => {
      writeFiles(repo, { [`out/${job}`]: job.repeat(300 * 1024 / job.length) });
      const r = dc(repo, 'upload', '--job', job, '--target', `out/${job}`, '--json');
      expect(r.code).toBe(0);
      checkCache(cache);
      return r.json();
    };
    const ids = Object.fromEntries(['j1', 'j2', 'j3'].map((j) => [j, up(j).entry]));
    const ws = clone();
    expect(dc(ws, 'download', '--job', 'j1').code).toBe(0); // j1 is now more recently used than j2, j3
    expect(up('j4').evicted).toBe(1);
    expect(entryDirs(cache)).not.toContain(ids.j2);
    expect(entryDirs(cache)).toContain(ids.j1);
    expect(dc(ws, 'download', '--job', 'j3').code).toBe(0);
    up('j5'); // j1 was read before j3: it goes first now
    expect(entryDirs(cache).map((e) => e.split('/')[0])).toEqual(['j3', 'j4', 'j5']);
    expect(dc(ws, 'download', '--job', 'j2').code).toBe(1);
  });

  it('with 4 shards, entries spread over them, each keeps its budget, and a held lock stalls only its own shard', async () => {
    initCache(cache, '4M', ['--shards', '4']);
    const jobs = Array.from({ length: 24 }, (_, i) => `obj/f${i}.o`);
    for (const job of jobs) {
      writeFiles(repo, { [`out/${job}`]: job.padEnd(200 * 1024, '.') });
      expect(dc(repo, 'upload', '--job', job, '--target', `out/${job}`).code).toBe(0);
    }
    const states = checkCache(cache); // each shard's total within size / 4
    for (const s of states) expect(s.list.length).toBeGreaterThan(0);
    expect(states.reduce((n, s) => n + s.list.length, 0)).toBeLessThan(jobs.length); // 4.8 MB into 4 MB: some were evicted
    for (const s of states) expect(s.total).toBeLessThanOrEqual(1024 * 1024);

    const shardOf = (job: string) => jobShardIndex(jobToPath(job), 4);
    const kept = states.flatMap((s) => s.list).map((e) => jobs.find((j) => e.startsWith(jobToPath(j) + '/'))!);
    const blocked = kept[0]!;
    const free = kept.find((j) => shardOf(j) !== shardOf(blocked))!;
    const lock = shardPaths(cache, shardOf(blocked)).lock;
    const holder = spawn(process.execPath, [path.join(REPO, 'test/fixtures/lock-holder.mjs'), lock, '600000', '60000', 'test holder', 'hold'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(holder);
    const [line] = (await once(holder.stdout!, 'data')) as [Buffer];
    expect(line.toString()).toMatch(/^held /);

    const ws = clone();
    const hit = cli(['download', '--job', free, '--cache', cache], { cwd: ws, env: { DIRCACHE_LOCK_TIMEOUT: '2s' } });
    expect(hit.stderr).toBe('');
    expect(hit.code).toBe(0);
    expect(fs.existsSync(lock)).toBe(true); // still held while the other shard served its hit
    const stalled = cli(['download', '--job', blocked, '--cache', cache], { cwd: ws, env: { DIRCACHE_LOCK_TIMEOUT: '1s' } });
    expect(stalled.code).toBe(5);
    expect(stalled.stderr).toMatch(/test holder/);
    holder.kill('SIGKILL');
  });

  it('replacing a last that eviction would also pick (its info outgrew the estimate) keeps the list and total right', () => {
    initCache(cache, '1M');
    const budget = 1024 * 1024;
    const job = ['--job', 'x', '--target', 'out/x', '--repo-key', 'k'];
    const up = (files: Record<string, string>, ...more: string[]) => {
      writeFiles(repo, files);
      const r = dc(repo, 'upload', ...more, '--json');
      expect(r.stderr).toBe('');
      checkCache(cache);
      return r.json();
    };
    up({ 'src/a.c': 'v1', 'out/x': 'first' }, ...job, '--dep', 'src/a.c');
    expect(up({ 'src/a.c': 'v2', 'out/x': 'second' }, ...job, '--dep', 'src/a.c').which).toBe('last');
    // long absent deps make the third upload's info larger than what it reserves for it
    const longDeps = Array.from({ length: 60 }, (_, i) => ['--dep', `d/${'n'.repeat(240)}${i}`]).flat();
    const reserve3 = 7 + 4096 + 61 * 160 + 200;
    // fill the shard so the reservation fits without eviction but the real size does not
    up({ 'out/f1': 'f'.repeat(600 * 1024) }, '--job', 'f1', '--target', 'out/f1');
    const used = checkCache(cache)[0]!.total;
    up({ 'out/f2': 'g'.repeat(budget - used - reserve3 - 1000 - 400) }, '--job', 'f2', '--target', 'out/f2');
    const slack = budget - checkCache(cache)[0]!.total - reserve3;
    expect(slack).toBeGreaterThanOrEqual(0);
    expect(slack).toBeLessThan(3000);
    const ws = clone();
    writeFiles(ws, { 'src/a.c': 'v1' });
    expect(dc(ws, 'download', '--job', 'x').code).toBe(0); // x's first gets a second chance; its last is now the oldest unread
    const third = up({ 'src/a.c': 'v3', 'out/x': 'third' }, ...job, '--dep', 'src/a.c', ...longDeps);
    expect(third).toMatchObject({ uploaded: true, which: 'last' });
    expect(third.bytes - 5).toBeGreaterThan(reserve3 + slack - 5); // the info did outgrow its estimate
    expect(entriesOf('x').map((e) => e.replace(/.*-/, ''))).toEqual(['first', 'last']);
    expect(fs.readFileSync(path.join(cache, third.entry, 'data/out/x'), 'utf8')).toBe('third');
  });
});

describe('bad input: a clear message, the documented exit code, and the cache left byte-for-byte as it was', () => {
  beforeEach(() => {
    initCache(cache, '1M');
    writeFiles(repo, { 'out/x': 'x', 'out/big': 'b'.repeat(1100 * 1024) });
    expect(dc(repo, 'upload', '--job', 'seed', '--target', 'out/x').code).toBe(0);
  });

  const cases: Array<[string, (ws: string) => { code: number; stderr: string }, number, RegExp]> = [
    ['missing target', (ws) => dc(ws, 'upload', '--job', 'j', '--target', 'out/nope'), 2, /target out\/nope does not exist/],
    ['target outside the workspace', (ws) => dc(ws, 'upload', '--job', 'j', '--target', '../cache/LMAKE/version'), 2, /is outside the workspace/],
    ['entry larger than size', (ws) => dc(ws, 'upload', '--job', 'j', '--target', 'out/big'), 2, /more than a shard's budget of 1 MB/],
    ['bad --input', (ws) => dc(ws, 'upload', '--job', 'j', '--target', 'out/x', '--input', 'novalue'), 3, /--input 'novalue' must be KEY=VALUE/],
    ['empty job name', (ws) => dc(ws, 'download', '--job', ''), 3, /job name is empty/],
    ['no cache given', (ws) => cli(['download', '--job', 'seed'], { cwd: ws }), 4, /no cache dir given: use --cache DIR, set DIRCACHE_DIR/],
  ];
  for (const [what, run, code, message] of cases) {
    it(what, () => {
      const before = snapshot(cache);
      const r = run(repo);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
      expect(r.code).toBe(code);
      expect(snapshot(cache)).toEqual(before);
    });
  }

  const damaged: Array<[string, string, (text: string) => string, RegExp]> = [
    ['unknown config key', 'LMAKE/config.py', (t) => t + "colour = 'red'\n", /LMAKE\/config\.py:\d+: unknown key 'colour'; known keys: size, perm/],
    ['bad size in config.py', 'LMAKE/config.py', (t) => t.replace(/^size = .*$/m, "size = '12X'"), /LMAKE\/config\.py:\d+: bad size '12X': use bytes/],
    ['a cache of a newer format version', 'LMAKE/version', (t) => t.replace('format 2', 'format 3'), /cache format version 3, but this dircache reads version 2/],
  ];
  for (const [what, file, edit, message] of damaged) {
    it(what, () => {
      const f = path.join(cache, file);
      fs.writeFileSync(f, edit(fs.readFileSync(f, 'utf8')));
      const before = snapshot(cache);
      for (const args of [['download', '--job', 'seed'], ['upload', '--job', 'j', '--target', 'out/x'], ['config']]) {
        const r = dc(repo, ...args);
        expect(r.stderr).toMatch(message);
        expect(r.code).toBe(4);
      }
      expect(snapshot(cache)).toEqual(before);
    });
  }

  it('a cache of format 1 (sha256 target digests) is refused with EVERSION by every command; nothing changes on disk', () => {
    // make the seeded cache what format 1 wrote: its version file, and an info record with a sha256 target digest
    const entry = entryDirs(cache)[0]!;
    const infoFile = path.join(cache, entry, 'info');
    const body = JSON.parse(fs.readFileSync(infoFile, 'utf8').split('\n')[1]!);
    body.targets[0].digest = sha256Hex(fs.readFileSync(path.join(cache, entry, 'data/out/x')));
    const text = JSON.stringify(body);
    fs.writeFileSync(infoFile, `dircache-info 1 ${sha256Hex(text)}\n${text}\n`);
    fs.writeFileSync(path.join(cache, 'LMAKE/version'), 'format 1\nshards 1\n');
    const ws = clone();
    const before = { cache: snapshot(cache), ws: snapshot(ws) };
    const commands = [['download', '--job', 'seed'], ['upload', '--job', 'j', '--target', 'out/x'], ['verify', '--fix'], ['gc'], ['repair'], ['ls'], ['rm', '--job', 'seed'], ['stats']];
    for (const args of commands) {
      const r = dc(args[0] === 'upload' ? repo : ws, ...args, '--json');
      expect(r.code, args.join(' ')).toBe(4);
      expect(r.json()).toEqual({
        error: {
          code: 'EVERSION',
          message: `${cache}/LMAKE/version: cache format version 1, but this dircache reads version 2; use a dircache release of that format or create a new cache with dircache init`,
        },
      });
    }
    expect(snapshot(cache)).toEqual(before.cache);
    expect(snapshot(ws)).toEqual(before.ws);
    expect(() => Cache.open({ cache, cwd: ws, env: {} })).toThrow(expect.objectContaining({ code: 'EVERSION' }));
  });

  it('a job name with a NUL byte (the library; argv cannot carry one)', async () => {
    const before = snapshot(cache);
    const c = Cache.open({ cache, cwd: repo, env: {} });
    await expect(upload(c, { job: 'a\0b', targets: ['out/x'] })).rejects.toThrow(/job name contains a NUL byte/);
    expect(snapshot(cache)).toEqual(before);
  });
});

describe('dircache config', () => {
  beforeEach(() => initCache(cache, '100M', ['--perm', 'none', '--file-sync', 'dir']));

  it('shows each value and its source: flag > env > repo file > config.py', () => {
    const show = (args: string[] = [], env: Record<string, string> = {}) => {
      const r = cli(['config', '--json', ...args], { cwd: path.join(repo, 'src'), env });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const s = r.json();
      return { cache: [s.cache, s.sources.cache], perm: [s.perm, s.sources.perm], fileSync: [s.fileSync, s.sources.file_sync], repoKey: [s.repoKey, s.sources.repo_key] };
    };
    expect(show(['--cache', cache])).toMatchObject({ cache: [cache, 'flag'], perm: ['none', 'config.py'], fileSync: ['dir', 'config.py'] });
    fs.writeFileSync(path.join(repo, '.dircache.json'), JSON.stringify({ cache: '../cache', perm: 'group', repo_key: 'team' }));
    expect(show()).toMatchObject({ cache: [cache, 'repo file'], perm: ['group', 'repo file'], fileSync: ['dir', 'config.py'], repoKey: ['team', 'repo file'] });
    expect(show([], { DIRCACHE_PERM: 'other', DIRCACHE_FILE_SYNC: 'sync' })).toMatchObject({ perm: ['other', 'env'], fileSync: ['sync', 'env'], repoKey: ['team', 'repo file'] });
    expect(show(['--perm', 'none'], { DIRCACHE_PERM: 'other' })).toMatchObject({ perm: ['none', 'flag'] });

    const human = cli(['config'], { cwd: repo, env: { DIRCACHE_PERM: 'other' } });
    expect(human.stdout).toMatch(/^perm\s+other\s+\(env\)$/m);
    expect(human.stdout).toMatch(/^size\s+100 MB\s+\(config\.py/m);
  });
});
