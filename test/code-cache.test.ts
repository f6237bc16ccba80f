/**
 * bin/dircache compiles the CLI bundle with the V8 code cache that the build made: used when it was
 * made from this very bundle, ignored otherwise, and never in the way of a correct result.
 */
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

/** The parts of a cache file: the bundle it was made from, its V8 data, and the data's copy. */
function readCodeCache(file: string): { header: string; madeFrom: Buffer; data: Buffer; copy: Buffer } {
  const saved = fs.readFileSync(file);
  const eol = saved.indexOf('\n');
  const header = saved.subarray(0, eol).toString();
  const [, sourceLength, dataLength] = header.split(' ').map(Number);
  const dataStart = eol + 1 + sourceLength!;
  return {
    header,
    madeFrom: saved.subarray(eol + 1, dataStart),
    data: Buffer.from(saved.subarray(dataStart, dataStart + dataLength!)),
    copy: saved.subarray(dataStart + dataLength!),
  };
}

/** A cache file for `bundle` holding `data` and `copy`, as the build writes it (see bin/dircache). */
function writeCodeCache(bundle: string, data: Buffer, copy = data): void {
  const source = fs.readFileSync(bundle);
  fs.writeFileSync(`${bundle}.v8cache`, Buffer.concat([Buffer.from(`dircache-code-cache-2 ${source.length} ${data.length}\n`), source, data, copy]));
}
/** The V8 data of the build's cache. */
const builtData = () => readCodeCache(`${BUNDLE}.v8cache`).data;

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
    const saved = readCodeCache(`${BUNDLE}.v8cache`);
    const bundle = fs.readFileSync(BUNDLE);
    expect(saved.header).toBe(`dircache-code-cache-2 ${bundle.length} ${saved.data.length}`);
    expect(saved.madeFrom.equals(bundle)).toBe(true);
    expect(saved.copy.equals(saved.data)).toBe(true);
    expect(saved.data.length).toBeGreaterThan(50_000);
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
    const damaged = Buffer.from(data);
    for (let i = 64; i < damaged.length; i += 97) damaged[i]! ^= 0xff;
    writeCodeCache(pkg.bundle, damaged, data);
    expect(uploadAndHit(pkg.bin)).toEqual(Array(2).fill('dircache: code cache: damaged, not used\n'));
    // cut short, as by a full disk
    writeCodeCache(pkg.bundle, data);
    fs.truncateSync(pkg.codeCache, fs.statSync(pkg.codeCache).size - 1000);
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

describe("the CLI's start", () => {
  it('loads neither node:crypto nor node:module for a hit (each costs every start)', () => {
    const cache = initCache(path.join(tempDir(), 'cache'));
    const ws = tempDir();
    writeFiles(ws, { 'a.c': 'int a;\n', 'out/a.o': 'object\n' });
    const preload = path.join(tempDir(), 'modules.cjs');
    fs.writeFileSync(preload, "process.on('exit', () => process.stderr.write(process.moduleLoadList.join('\\n')));\n");
    const run = (args: string[]) => {
      const r = spawnSync(process.execPath, ['-r', preload, path.join(REPO, 'bin', 'dircache'), ...args, '--cache', cache, '--job', 'a.o', '--dep', 'a.c', '-q'], { cwd: ws, env: testEnv(), encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      return r.stderr.split('\n');
    };
    run(['upload', '--target', 'out/a.o', '--repo-key', 'k']);
    fs.rmSync(path.join(ws, 'out', 'a.o'));
    const loaded = run(['download']);
    expect(fs.readFileSync(path.join(ws, 'out', 'a.o'), 'utf8')).toBe('object\n');
    expect(loaded).toContain('NativeModule vm');
    expect(loaded).not.toContain('NativeModule crypto');
    expect(loaded).not.toContain('NativeModule module');
  });
});

describe('the CLI on an older Node', () => {
  it("refuses a Node older than package.json's engines, with the configuration exit code", () => {
    const engines = (JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    expect(engines).toBe('>=20.19');
    const preload = path.join(tempDir(), 'old-node.cjs');
    fs.writeFileSync(preload, "Object.defineProperty(process, 'versions', { value: { ...process.versions, node: '20.15.1' } });\n");
    const ws = tempDir();
    const r = spawnSync(process.execPath, ['-r', preload, path.join(REPO, 'bin', 'dircache'), 'download', '--cache', path.join(ws, 'cache'), '--job', 'a.o'], { cwd: ws, env: testEnv(), encoding: 'utf8' });
    expect(r.status).toBe(4);
    expect(r.stderr).toBe("dircache: needs Node.js 20.19 or later; this is v20.15.1\n");
    expect(fs.readdirSync(ws)).toEqual([]);
  });
});
