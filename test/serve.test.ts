import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REPO, cli, cliSpawn, initCache, makeRepo, tempDir, testEnv } from './helpers.js';

/** bin/dircache-run and `dircache serve`, as a build uses them: real processes, FIFOs, kills. */
const RUN = join(REPO, 'bin', 'dircache-run');

let t: string;
let cache: string;
let ws: string;
let serveDir: string;
let env: Record<string, string>;

/** Copies in.txt to out.txt and counts its runs in `runs` (outside the targets). */
const JOB = ['--job', 'copy', '--target', 'out.txt', '--dep', 'in.txt', '--', 'sh', '-c', 'echo run >> runs; cat in.txt > out.txt'];
const runs = (dir = ws) => (fs.existsSync(join(dir, 'runs')) ? fs.readFileSync(join(dir, 'runs'), 'utf8').split('\n').filter(Boolean).length : 0);
const stats = () => cli(['stats', '--json'], { env }).json();

function runFront(args: readonly string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const r = spawnSync(RUN, args, { cwd: opts.cwd ?? ws, env: testEnv({ DIRCACHE_RUN_DEBUG: '1', ...(opts.env ?? env) }), encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const serverPid = () => {
  const text = fs.existsSync(join(serveDir, 'pid')) ? fs.readFileSync(join(serveDir, 'pid'), 'utf8') : '';
  return /^\d+\n$/.test(text) ? Number(text) : undefined;
};
const alive = (pid: number) => spawnSync('kill', ['-0', String(pid)]).status === 0;

/** Until the server a client started answers: its pid file and request FIFO exist. */
async function serverUp(): Promise<number> {
  for (let i = 0; i < 400; i++) {
    const pid = serverPid();
    if (pid !== undefined && alive(pid) && fs.existsSync(join(serveDir, `in.${pid}`))) return pid;
    await sleep(50);
  }
  throw new Error(`no server came up in ${serveDir}`);
}

async function gone(pid: number): Promise<void> {
  for (let i = 0; i < 400 && alive(pid); i++) await sleep(50);
  expect(alive(pid)).toBe(false);
}

/** The first job starts the server and runs through dircache run; the job is stored. */
async function primed(): Promise<number> {
  const first = runFront(JOB);
  expect(first.code).toBe(0);
  expect(first.stderr).toMatch(/starting dircache serve/);
  return serverUp();
}

beforeEach(() => {
  t = tempDir();
  cache = initCache(join(t, 'cache'));
  ws = makeRepo(join(t, 'ws'), { 'in.txt': 'hello\n' });
  serveDir = join(t, 'serve');
  env = { DIRCACHE_DIR: cache, DIRCACHE_SERVE_DIR: serveDir };
});

afterEach(() => {
  cli(['serve', '--stop', '--dir', serveDir]);
});

describe('dircache-run', () => {
  it('starts a server, which then answers hits: targets byte-exact, CMD not run, one hit counted', async () => {
    await primed();
    expect(runs()).toBe(1);
    fs.rmSync(join(ws, 'out.txt'));
    const hit = runFront(JOB);
    expect(hit.code).toBe(0);
    expect(hit.stdout).toBe('');
    expect(hit.stderr).toMatch(/^dircache: hit: copy: restored 1 file\(s\), 6 B/m);
    expect(hit.stderr).toMatch(/hit answered by dircache serve/);
    expect(fs.readFileSync(join(ws, 'out.txt'), 'utf8')).toBe('hello\n');
    expect(runs()).toBe(1);
    expect(stats()).toMatchObject({ hits: 1, misses: 1, uploads: 1 });

    const quiet = runFront(['-q', ...JOB], { env: { ...env, DIRCACHE_RUN_DEBUG: '0' } });
    expect(quiet).toMatchObject({ code: 0, stdout: '', stderr: '' });
  });

  it('on a miss runs CMD once through dircache run, counting one miss, and stores the result', async () => {
    await primed();
    fs.writeFileSync(join(ws, 'in.txt'), 'changed\n');
    const miss = runFront(JOB);
    expect(miss.code).toBe(0);
    expect(miss.stderr).toMatch(/miss; CMD runs through dircache run/);
    expect(runs()).toBe(2);
    expect(fs.readFileSync(join(ws, 'out.txt'), 'utf8')).toBe('changed\n');
    expect(stats()).toMatchObject({ hits: 0, misses: 2, uploads: 2 });
    fs.rmSync(join(ws, 'out.txt'));
    expect(runFront(JOB).stderr).toMatch(/hit answered by dircache serve/);
    expect(fs.readFileSync(join(ws, 'out.txt'), 'utf8')).toBe('changed\n');
  });

  it("looks up with each client's own cwd and env, not the server's", async () => {
    await primed();
    // a second cache holding another result for the same job, named by a relative --cache from a subdir
    const other = initCache(join(t, 'other'));
    const sub = join(ws, 'sub');
    fs.mkdirSync(sub);
    fs.writeFileSync(join(sub, 'in.txt'), 'other\n');
    const viaOther = ['--cache', '../../other', ...JOB];
    expect(runFront(viaOther, { cwd: sub }).stderr).toMatch(/miss; CMD runs through dircache run/);
    fs.rmSync(join(sub, 'out.txt'));
    const hit = runFront(viaOther, { cwd: sub });
    expect(hit.stderr).toMatch(/hit answered by dircache serve/);
    expect(fs.readFileSync(join(sub, 'out.txt'), 'utf8')).toBe('other\n');
    expect(runs(sub)).toBe(1);
    expect(cli(['stats', '--json', '--cache', other]).json()).toMatchObject({ hits: 1, uploads: 1 });

    // the env of this client (read-only mode) and not the one the server started with
    fs.rmSync(join(ws, 'out.txt'));
    fs.writeFileSync(join(ws, 'in.txt'), 'new\n');
    const ro = runFront(JOB, { env: { ...env, DIRCACHE_MODE: 'read-only' } });
    expect(ro.code).toBe(0);
    expect(stats()).toMatchObject({ uploads: 1 });
  });

  it('leaves --json, --no-download and bad arguments to dircache run, with its messages and exit codes', async () => {
    await primed();
    fs.rmSync(join(ws, 'out.txt'));
    const json = runFront(['--json', ...JOB]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ hit: true, exitCode: 0 });
    expect(json.stderr).not.toMatch(/answered by dircache serve/);

    const noDl = runFront(['--no-download', ...JOB]);
    expect(noDl.code).toBe(0);
    expect(runs()).toBe(2);

    const bad = runFront(['--job', 'copy', '--', 'true']);
    const direct = cli(['run', '--job', 'copy', '--', 'true'], { cwd: ws, env });
    expect(bad.code).toBe(3);
    expect(bad.code).toBe(direct.code);
    expect(bad.stderr).toContain(direct.stderr.trim());
    expect(bad.stderr).toMatch(/dircache serve passed this job on/);
  });

  it('stops waiting for a server killed mid-request and runs the job through dircache run', async () => {
    const pid = await primed();
    fs.rmSync(join(ws, 'out.txt'));
    process.kill(pid, 'SIGSTOP'); // takes the request, never answers
    const client = spawn(RUN, JOB, { cwd: ws, env: testEnv({ ...env, DIRCACHE_RUN_DEBUG: '1' }) });
    let stderr = '';
    client.stderr.on('data', (d) => (stderr += d));
    const code = new Promise<number>((done) => client.on('exit', (c) => done(c ?? -1)));
    await sleep(1500);
    expect(client.exitCode).toBe(null); // still waiting for the stopped server
    process.kill(pid, 'SIGKILL');
    expect(await code).toBe(0);
    expect(stderr).toMatch(/no answer from dircache serve/);
    expect(fs.readFileSync(join(ws, 'out.txt'), 'utf8')).toBe('hello\n');
    expect(runs()).toBe(1); // the job was a hit through dircache run

    // the next client finds the dead server's files, starts another one, and is answered by it
    fs.rmSync(join(ws, 'out.txt'));
    expect(runFront(JOB).stderr).toMatch(/starting dircache serve/);
    const next = await serverUp();
    expect(next).not.toBe(pid);
    fs.rmSync(join(ws, 'out.txt'));
    expect(runFront(JOB).stderr).toMatch(/hit answered by dircache serve/);
    expect(fs.readdirSync(serveDir).filter((n) => n.includes(String(pid)))).toEqual([]);
  });

  it('restores byte-exact under make -j4, every job a hit, and leaves a cache repair finds sound', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 12; i++) files[`in${i}.txt`] = `input ${i}\n`.repeat(i * 50 + 1);
    fs.writeFileSync(join(ws, 'Makefile'), Object.keys(files).map((f, i) => `out${i}.txt: ${f}\n\t${RUN} --job $@ --target $@ --dep $< -- sh -c 'echo run >> runs; cp $< $@'\n`).join('') + `all: ${Object.keys(files).map((_, i) => `out${i}.txt`).join(' ')}\n`);
    for (const [name, content] of Object.entries(files)) fs.writeFileSync(join(ws, name), content);
    const make = () => spawnSync('make', ['-s', '-j4', 'all'], { cwd: ws, env: testEnv(env), encoding: 'utf8' });
    expect(make().status).toBe(0); // cold: runs all, starts the server
    await serverUp();
    expect(runs()).toBe(12);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 12; i++) fs.rmSync(join(ws, `out${i}.txt`));
      const m = make();
      expect(m.status).toBe(0);
      expect(m.stderr.match(/dircache: hit:/g)).toHaveLength(12);
      for (let i = 0; i < 12; i++) expect(fs.readFileSync(join(ws, `out${i}.txt`), 'utf8')).toBe(files[`in${i}.txt`]);
    }
    expect(runs()).toBe(12);
    expect(stats()).toMatchObject({ hits: 24, uploads: 12 });
    const repair = cli(['repair', '--dry-run', '--json'], { env });
    expect(repair.code).toBe(0);
  });
});

describe('dircache serve', () => {
  it('stops when idle, removing its pid file and FIFO', async () => {
    const server = cliSpawn(['serve', '--dir', serveDir, '--idle', '1s']);
    const pid = await serverUp();
    expect(pid).toBe(server.pid);
    const code = await new Promise<number>((done) => server.on('exit', (c) => done(c ?? -1)));
    expect(code).toBe(0);
    expect(fs.readdirSync(serveDir).filter((n) => n === 'pid' || n.startsWith('in.'))).toEqual([]);
  });

  it('leaves a running server alone, and --stop ends it', async () => {
    const pid = await primed();
    const second = cli(['serve', '--dir', serveDir, '--json']);
    expect(second.code).toBe(0);
    expect(second.json()).toEqual({ started: false, pid });
    expect(alive(pid)).toBe(true);
    const stop = cli(['serve', '--stop', '--dir', serveDir, '--json']);
    expect(stop.json()).toEqual({ stopped: true, pid });
    expect(alive(pid)).toBe(false);
    expect(fs.existsSync(join(serveDir, 'pid'))).toBe(false);
    expect(cli(['serve', '--stop', '--dir', serveDir]).stdout).toBe('no server running\n');
  });

  it('stops when its code is replaced (an upgrade); the next client starts the new one', async () => {
    const pid = await primed();
    const code = join(REPO, 'dist', 'bundle', 'cli-full.js'); // the server runs the full CLI
    const st = fs.statSync(code);
    fs.utimesSync(code, st.atime, new Date(st.mtimeMs + 1000));
    await gone(pid);
    expect(runFront(JOB).stderr).toMatch(/starting dircache serve/);
  });

  it('refuses a dir others may write, changing nothing; dircache-run then still does the job', () => {
    fs.mkdirSync(serveDir, { mode: 0o777 });
    fs.chmodSync(serveDir, 0o777);
    const r = cli(['serve', '--dir', serveDir]);
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(new RegExp(`dircache: error: ${serveDir} must be a dir of yours that only you can use \\(mode 700\\)`));
    expect(fs.readdirSync(serveDir)).toEqual([]);
    const job = runFront(JOB);
    expect(job.code).toBe(0);
    expect(fs.readFileSync(join(ws, 'out.txt'), 'utf8')).toBe('hello\n');
    expect(fs.readdirSync(serveDir)).toEqual([]);
  });

  it('runs bin/dircache-run as `dircache run` when DIRCACHE_SERVE=off', () => {
    const r = runFront(JOB, { env: { ...env, DIRCACHE_SERVE: 'off' } });
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(/starting dircache serve/);
    expect(fs.existsSync(serveDir)).toBe(false);
    expect(runs()).toBe(1);
  });
});
