/**
 * bin/dircache compiles the CLI bundle with the V8 code cache that the build made: used when it was
 * made from this very bundle, ignored otherwise, and never in the way of a correct result.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { REPO, initCache, tempDir, testEnv, writeFiles } from './helpers.js';

const BUNDLE = path.join(REPO, 'dist', 'bundle', 'cli.cjs');

/** A copy of the built package (its own bin/ and dist/, the repo's node_modules). */
function packageCopy(): { bin: string; bundle: string; codeCache: string } {
  const dir = tempDir('dircache-pkg-');
  for (const p of ['bin', 'dist', 'LMAKE-template', 'package.json']) fs.cpSync(path.join(REPO, p), path.join(dir, p), { recursive: true });
  fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'));
  const bundle = path.join(dir, 'dist', 'bundle', 'cli.cjs');
  return { bin: path.join(dir, 'bin', 'dircache'), bundle, codeCache: `${bundle}.v8cache` };
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** A cache file for `bundle` holding `data`, as the build writes it (see bin/dircache). */
function writeCodeCache(bundle: string, data: Buffer, sum = sha256(data)): void {
  fs.writeFileSync(`${bundle}.v8cache`, Buffer.concat([Buffer.from(`${sha256(fs.readFileSync(bundle, 'utf8'))} ${sum}\n`), data]));
}
/** The V8 data of the build's cache, without its first line. */
const builtData = () => {
  const saved = fs.readFileSync(`${BUNDLE}.v8cache`);
  return saved.subarray(saved.indexOf('\n') + 1);
};

/** An upload and a hit through `bin`, asking it to say what became of the code cache. */
function uploadAndHit(bin: string): string[] {
  const cache = initCache(path.join(tempDir(), 'cache'));
  const ws = tempDir();
  writeFiles(ws, { 'a.c': 'int a;\n', 'out/a.o': 'object\n' });
  const run = (args: string[]) => {
    const r = spawnSync(process.execPath, [bin, ...args, '--cache', cache, '--job', 'a.o', '--dep', 'a.c', '-q'], { cwd: ws, env: testEnv({ DIRCACHE_CODE_CACHE: 'report' }), encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    return r.stderr;
  };
  const reports = [run(['upload', '--target', 'out/a.o', '--repo-key', 'k'])];
  fs.rmSync(path.join(ws, 'out', 'a.o'));
  reports.push(run(['download']));
  expect(fs.readFileSync(path.join(ws, 'out', 'a.o'), 'utf8')).toBe('object\n');
  return reports;
}

describe('the CLI code cache', () => {
  it('is made by the build from the bundle it sits next to, and used, in a copy too', () => {
    const saved = fs.readFileSync(`${BUNDLE}.v8cache`);
    const [madeFrom, sum] = saved.subarray(0, saved.indexOf('\n')).toString().split(' ');
    expect(madeFrom).toBe(sha256(fs.readFileSync(BUNDLE, 'utf8')));
    expect(sum).toBe(sha256(builtData()));
    expect(builtData().length).toBeGreaterThan(50_000);
    expect(uploadAndHit(path.join(REPO, 'bin', 'dircache'))).toEqual(Array(2).fill('dircache: code cache: used\n'));
    // a copy has other file times (as after `npm pack`), the same bundle
    expect(uploadAndHit(packageCopy().bin)).toEqual(Array(2).fill('dircache: code cache: used\n'));
  });

  it('is not used when made from another bundle (another build)', () => {
    const pkg = packageCopy();
    fs.appendFileSync(pkg.bundle, '// another build\n');
    expect(uploadAndHit(pkg.bin)).toEqual(Array(2).fill('dircache: code cache: made from another bundle, not used\n'));
  });

  it('is not used when damaged, and the CLI compiles its bundle as usual', () => {
    const pkg = packageCopy();
    const data = builtData();
    const sum = sha256(data);
    for (let i = 64; i < data.length; i += 97) data[i]! ^= 0xff;
    writeCodeCache(pkg.bundle, data, sum);
    expect(uploadAndHit(pkg.bin)).toEqual(Array(2).fill('dircache: code cache: damaged, not used\n'));
  });

  it('is rejected by V8 when another V8 made it, and the CLI compiles its bundle as usual', () => {
    const pkg = packageCopy();
    const data = builtData();
    data[4]! ^= 0xff; // in the V8 version hash that heads the data
    writeCodeCache(pkg.bundle, data);
    expect(uploadAndHit(pkg.bin)).toEqual(Array(2).fill('dircache: code cache: rejected by V8\n'));
  });

  it('is optional', () => {
    const pkg = packageCopy();
    fs.rmSync(pkg.codeCache);
    expect(uploadAndHit(pkg.bin)).toEqual(Array(2).fill('dircache: code cache: none\n'));
  });
});
