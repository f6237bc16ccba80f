import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, REPO, cli, git, initCache, tempDir } from './helpers.js';

/**
 * examples/make built for real: make + gcc, two git clones at one commit sharing a cache.
 * Counters come from `dircache stats --json`, so each step checks exactly how many jobs hit and missed.
 */
let cache: string;
let origin: string;
let serveDir: string;
const env = () => ({ DIRCACHE_DIR: cache, DIRCACHE_DIGEST_CACHE: '', DIRCACHE_SERVE_DIR: serveDir });

function make(cwd: string, ...args: string[]) {
  const r = spawnSync('make', [`DIRCACHE_RUN=${BIN}-run`, ...args], { cwd, encoding: 'utf8', env: { ...process.env, ...env() } });
  if (r.status !== 0) throw new Error(`make failed (${r.status}): ${r.stdout}\n${r.stderr}`);
  return r;
}
const clone = (name: string) => {
  const dir = join(tempDir(), name);
  git(REPO, 'clone', '-q', origin, dir);
  return dir;
};
const counts = () => {
  const s = cli(['stats', '--json'], { env: env() }).json();
  return { hits: s.hits, misses: s.misses, uploads: s.uploads };
};
const delta = (before: ReturnType<typeof counts>) => {
  const now = counts();
  return { hits: now.hits - before.hits, misses: now.misses - before.misses, uploads: now.uploads - before.uploads };
};
afterAll(() => {
  cli(['serve', '--stop', '--dir', serveDir]);
});

const bytes = (dir: string, rel: string) => fs.readFileSync(join(dir, rel));
const PRODUCTS = ['obj/main.o', 'obj/greet.o', 'obj/calc.o', 'bin/hello'];

beforeAll(() => {
  const t = tempDir();
  cache = initCache(join(t, 'cache'));
  serveDir = join(t, 'serve');
  origin = join(t, 'origin');
  fs.cpSync(join(REPO, 'examples', 'make'), origin, { recursive: true, filter: (src) => !/\/(obj|bin)$/.test(src) });
  git(origin, 'init', '-q');
  git(origin, 'add', '-A');
  git(origin, 'commit', '-qm', 'example');
});

describe('examples/make through dircache run', () => {
  let a: string;
  let b: string;

  it('clone A builds: every job a miss, every result uploaded', () => {
    a = clone('a');
    const before = counts();
    make(a);
    expect(delta(before)).toEqual({ hits: 0, misses: 4, uploads: 4 });
    expect(spawnSync(join(a, 'bin/hello'), { encoding: 'utf8' }).stdout).toBe('hello from dircache\n7 squared is 49\n');
  });

  it('clone B at the same commit builds with only hits, byte-identical objects and binary', () => {
    b = clone('b');
    expect(git(b, 'rev-parse', 'HEAD')).toBe(git(a, 'rev-parse', 'HEAD'));
    const before = counts();
    const r = make(b);
    expect(delta(before)).toEqual({ hits: 4, misses: 0, uploads: 0 });
    expect(r.stderr.match(/dircache: hit: /g)).toHaveLength(4);
    for (const p of PRODUCTS) expect(bytes(b, p).equals(bytes(a, p)), p).toBe(true);
    // the .d files came back too, so make itself knows the header deps
    expect(fs.readFileSync(join(b, 'obj/main.d'), 'utf8')).toMatch(/src\/calc\.h/);
  });

  it('editing a header in B reruns exactly the objects that include it (misses), then the link', () => {
    const greet = fs.statSync(join(b, 'obj/greet.o')).mtimeMs;
    const h = join(b, 'src/calc.h');
    fs.writeFileSync(h, fs.readFileSync(h, 'utf8').replace('CALC_BASE 7', 'CALC_BASE 8'));
    const before = counts();
    const r = make(b);
    expect(delta(before)).toEqual({ hits: 0, misses: 3, uploads: 3 });
    const jobs = [...r.stdout.matchAll(/dircache-run --job (\S+)/g)].map((m) => m[1]).sort();
    expect(jobs).toEqual(['bin/hello', 'obj/calc.o', 'obj/main.o']);
    expect(fs.statSync(join(b, 'obj/greet.o')).mtimeMs).toBe(greet);
    expect(spawnSync(join(b, 'bin/hello'), { encoding: 'utf8' }).stdout).toBe('hello from dircache\n8 squared is 64\n');
  });

  it('make -j2 works: hits in a fresh clone, and parallel misses with other flags', () => {
    const c = clone('c');
    let before = counts();
    make(c, '-j2');
    expect(delta(before)).toEqual({ hits: 4, misses: 0, uploads: 0 });
    for (const p of PRODUCTS) expect(bytes(c, p).equals(bytes(a, p)), p).toBe(true);

    before = counts();
    make(c, 'clean');
    make(c, '-j2', 'CFLAGS=-O1 -Wall'); // the command line is an input: all compiles miss
    expect(delta(before)).toEqual({ hits: 0, misses: 4, uploads: 4 });
    expect(spawnSync(join(c, 'bin/hello'), { encoding: 'utf8' }).stdout).toBe('hello from dircache\n7 squared is 49\n');
  });
});
