import * as fs from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeEach, describe, expect, it } from 'vitest';
import { cli, cliSpawn, initCache, makeRepo, snapshot, tempDir, writeFiles } from './helpers.js';

let cache: string;
let ws: string;
let env: Record<string, string>;

/** A job that counts its runs in `runs` (outside the targets) and copies in.txt to out.txt. */
const JOB = ['--job', 'copy', '--target', 'out.txt', '--dep', 'in.txt', '--', 'sh', '-c', 'echo run >> runs; cat in.txt > out.txt; echo job-stdout'];
const runs = () => (fs.existsSync(join(ws, 'runs')) ? fs.readFileSync(join(ws, 'runs'), 'utf8').split('\n').filter(Boolean).length : 0);
const stats = () => cli(['stats', '--json'], { env }).json();
/** The cache without LMAKE/stats: what entries, heads and reservations look like. */
const entriesOf = (dir = cache) => Object.fromEntries(Object.entries(snapshot(dir)).filter(([k]) => !k.startsWith('LMAKE/stats/')));

beforeEach(() => {
  const t = tempDir();
  cache = initCache(join(t, 'cache'));
  ws = makeRepo(join(t, 'ws'), { 'in.txt': 'hello\n' });
  env = { DIRCACHE_DIR: cache };
});

describe('dircache run', () => {
  it('misses and runs CMD with stdout inherited and uploads; then hits without running it', () => {
    const a = cli(['run', ...JOB], { cwd: ws, env });
    expect(a.code).toBe(0);
    expect(a.stdout).toBe('job-stdout\n');
    expect(runs()).toBe(1);
    expect(stats()).toMatchObject({ hits: 0, misses: 1, uploads: 1, entries: 1 });

    fs.rmSync(join(ws, 'out.txt'));
    const b = cli(['run', ...JOB], { cwd: ws, env });
    expect(b.code).toBe(0);
    expect(b.stdout).toBe('');
    expect(b.stderr).toMatch(/^dircache: hit: copy: restored 1 file\(s\)/);
    expect(runs()).toBe(1);
    expect(fs.readFileSync(join(ws, 'out.txt'), 'utf8')).toBe('hello\n');
    expect(stats()).toMatchObject({ hits: 1, misses: 1, uploads: 1, bytesOut: 6 });

    const q = cli(['run', '--quiet', ...JOB], { cwd: ws, env });
    expect(q.code).toBe(0);
    expect(q.stderr).toBe('');
  });

  it('treats the command line as an input: another flag is a miss', () => {
    expect(cli(['run', ...JOB], { cwd: ws, env }).code).toBe(0);
    const other = [...JOB.slice(0, -1), JOB.at(-1)! + ' '];
    expect(cli(['run', ...other], { cwd: ws, env }).code).toBe(0);
    expect(runs()).toBe(2);
    expect(stats()).toMatchObject({ hits: 0, misses: 2, uploads: 2 });
  });

  it("passes CMD's exit code through and uploads nothing when it fails", () => {
    const before = entriesOf();
    const r = cli(['run', '--job', 'fail', '--target', 'out.txt', '--', 'sh', '-c', 'echo partial > out.txt; exit 3'], { cwd: ws, env });
    expect(r.code).toBe(3);
    expect(entriesOf()).toEqual(before);
    expect(stats()).toMatchObject({ misses: 1, uploads: 0, entries: 0 });
  });

  it('a target missing after CMD: a warning, nothing uploaded, exit code still 0', () => {
    const before = entriesOf();
    const r = cli(['run', '--job', 'lazy', '--target', 'never.txt', '--', 'true'], { cwd: ws, env });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: upload failed, the job's result is unaffected: target never.txt does not exist/);
    expect(entriesOf()).toEqual(before);
  });

  it('a full cache (entry larger than size) is a warning and never changes the exit code', () => {
    const small = initCache(join(tempDir(), 'small'), '1M');
    fs.writeFileSync(join(ws, 'big.bin'), Buffer.alloc(2 << 20, 1));
    const before = entriesOf(small);
    const r = cli(['run', '--json', '--job', 'big', '--target', 'big.bin', '--', 'sh', '-c', 'exit 0'], { cwd: ws, env: { DIRCACHE_DIR: small } });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: upload failed.*more than a shard's budget/);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(out).toMatchObject({ hit: false, ran: true, exitCode: 0, uploadError: { code: 'ETOOLARGE' } });
    expect(entriesOf(small)).toEqual(before);
  });

  it('--deps-file: the deps CMD reports decide, including files outside the workspace (by absolute path)', () => {
    const outside = join(tempDir(), 'sys.h');
    fs.writeFileSync(outside, 'v1\n');
    writeFiles(ws, { 'a.h': 'a1\n' });
    const job = ['--job', 'cc', '--target', 'out.o', '--deps-file', 'out.d', '--', 'sh', '-c', `echo run >> runs; cat a.h ${outside} > out.o; printf 'out.o: a.h \\\\\\n ${outside}\\n' > out.d`];
    const go = () => cli(['run', ...job], { cwd: ws, env });
    expect(go().code).toBe(0);
    expect(fs.readFileSync(join(ws, 'out.d'), 'utf8')).toBe(`out.o: a.h \\\n ${outside}\n`);
    expect(go().code).toBe(0); // hit
    expect(runs()).toBe(1);
    fs.writeFileSync(outside, 'v2\n');
    expect(go().code).toBe(0); // the outside header changed: miss
    expect(runs()).toBe(2);
    fs.writeFileSync(join(ws, 'a.h'), 'a2\n');
    expect(go().code).toBe(0); // the workspace header changed: miss
    expect(runs()).toBe(3);
    fs.writeFileSync(join(ws, 'a.h'), 'a1\n');
    fs.writeFileSync(outside, 'v1\n');
    expect(go().code).toBe(0); // back to the first contents: hit
    expect(runs()).toBe(3);
    expect(stats()).toMatchObject({ hits: 2, misses: 3, uploads: 3 });
  });

  it('a deps file CMD did not write: warning, nothing uploaded (its deps would be unknown)', () => {
    const before = entriesOf();
    const r = cli(['run', '--job', 'nod', '--target', 'in.txt', '--deps-file', 'missing.d', '--', 'true'], { cwd: ws, env });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/the deps file missing.d was not written by the command/);
    expect(entriesOf()).toEqual(before);
  });

  it('--no-upload consumes only; --no-download always runs CMD', () => {
    const before = entriesOf();
    expect(cli(['run', '--no-upload', ...JOB], { cwd: ws, env }).code).toBe(0);
    expect(entriesOf()).toEqual(before);
    expect(cli(['run', ...JOB], { cwd: ws, env }).code).toBe(0);
    expect(cli(['run', '--no-download', ...JOB], { cwd: ws, env }).code).toBe(0);
    expect(runs()).toBe(3);
    expect(stats()).toMatchObject({ hits: 0, misses: 2, uploads: 1 });
  });

  it('DIRCACHE_MODE=read-only uses hits but leaves the cache unchanged on a miss', () => {
    const before = entriesOf();
    const r = cli(['run', ...JOB], { cwd: ws, env: { ...env, DIRCACHE_MODE: 'read-only' } });
    expect(r.code).toBe(0);
    expect(runs()).toBe(1);
    expect(entriesOf()).toEqual(before);
    expect(cli(['run', ...JOB], { cwd: ws, env }).code).toBe(0);
    expect(cli(['run', ...JOB], { cwd: ws, env: { ...env, DIRCACHE_MODE: 'read-only' } }).code).toBe(0);
    expect(runs()).toBe(2);
  });

  it('DIRCACHE_MODE=write-only never downloads; off needs no cache at all', () => {
    expect(cli(['run', ...JOB], { cwd: ws, env }).code).toBe(0);
    expect(cli(['run', ...JOB], { cwd: ws, env: { ...env, DIRCACHE_MODE: 'write-only' } }).code).toBe(0);
    expect(runs()).toBe(2);
    const off = cli(['run', '--job', 'x', '--target', 'in.txt', '--', 'sh', '-c', 'exit 4'], { cwd: ws, env: { DIRCACHE_MODE: 'off' } });
    expect(off.code).toBe(4);
    expect(off.stderr).toBe('');
  });

  it('a bad DIRCACHE_MODE is a config error naming the variable; CMD does not run, nothing changes', () => {
    const before = snapshot(cache);
    const wsBefore = snapshot(ws);
    const r = cli(['run', ...JOB], { cwd: ws, env: { ...env, DIRCACHE_MODE: 'readonly' } });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/DIRCACHE_MODE='readonly' is not valid: use one of read-write, read-only, write-only, off/);
    expect(snapshot(cache)).toEqual(before);
    expect(snapshot(ws)).toEqual(wsBefore);
  });

  it('usage errors: no command; a reserved input; CMD not found is 127', () => {
    const before = snapshot(cache);
    const none = cli(['run', '--job', 'x', '--target', 'y'], { cwd: ws, env });
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/no command given: put it after --/);
    const reserved = cli(['run', '--job', 'x', '--target', 'y', '--input', 'dircache.command=z', '--', 'true'], { cwd: ws, env });
    expect(reserved.code).toBe(3);
    expect(reserved.stderr).toMatch(/--input dircache.command is reserved/);
    expect(snapshot(cache)).toEqual(before);
    const missing = cli(['run', '--job', 'x', '--target', 'y', '--', 'no-such-command-here'], { cwd: ws, env });
    expect(missing.code).toBe(127);
    expect(missing.stderr).toMatch(/cannot run no-such-command-here: command not found/);
  });

  it('--json prints the result as the last stdout line', () => {
    const r = cli(['run', '--json', ...JOB], { cwd: ws, env });
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('job-stdout');
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ job: 'copy', hit: false, ran: true, exitCode: 0, upload: { uploaded: true } });
  });
});

describe('dircache run: signals', () => {
  async function started(file: string) {
    for (let i = 0; i < 400 && !fs.existsSync(file); i++) await sleep(25);
    expect(fs.existsSync(file)).toBe(true);
  }
  const exited = (p: ReturnType<typeof cliSpawn>) => new Promise<number | null>((r) => p.on('exit', (code) => r(code)));

  it.each(['SIGTERM', 'SIGINT', 'SIGHUP'] as const)('%s to dircache run reaches CMD; its exit status is ours; nothing uploaded', async (sig) => {
    const before = entriesOf();
    const script = `trap 'echo got > got; exit 7' ${sig.slice(3)}; echo > started; while :; do sleep 0.05; done`;
    const p = cliSpawn(['run', '--job', 'sig', '--target', 'in.txt', '--', 'sh', '-c', script], { cwd: ws, env });
    await started(join(ws, 'started'));
    p.kill(sig);
    expect(await exited(p)).toBe(7);
    expect(fs.readFileSync(join(ws, 'got'), 'utf8')).toBe('got\n');
    expect(entriesOf()).toEqual(before);
  });

  it('a CMD killed by the forwarded signal makes dircache exit 128+signal', async () => {
    const p = cliSpawn(['run', '--job', 'sig', '--target', 'in.txt', '--', 'sh', '-c', 'echo > started; exec sleep 30'], { cwd: ws, env });
    await started(join(ws, 'started'));
    p.kill('SIGTERM');
    expect(await exited(p)).toBe(143);
  });
});
