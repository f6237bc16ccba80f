import { execFileSync } from 'node:child_process';
import { appendFileSync, closeSync, constants, existsSync, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseFast } from './argv.js';
import { globalOptions, clientFromArgs } from './commands/common.js';
import { type RunArgs, hitLine, runCommand, runRequest } from './commands/run.js';
import { UnsafeDirError } from './errors.js';
import { warningLine } from './output.js';
import { lookUp } from './run.js';
import { pidAlive } from './walk.js';
import { type ServeReply, type ServeRequest, decodeRequest, encodeReply } from './serve-protocol.js';

/**
 * `dircache serve`: a per-user process that answers bin/dircache-run's lookups, so that a hit in a
 * build costs a bash start instead of a Node start (a Make build runs one per job). It only looks
 * up and restores, with the client's cwd and env: misses, uploads and anything unusual are left
 * to `dircache run` itself. The cache stays daemon-less: nothing depends on this process, which
 * stops when idle, when another server takes over, or when its code is replaced.
 *
 * In its dir (the user's own, mode 700): `pid` names the server; `in.<pid>` is its request FIFO,
 * where a client writes its own pid once it has written `q.<client pid>` (the request) and made
 * the FIFO `r.<client pid>` (the reply).
 */
export interface ServeOptions {
  dir: string;
  /** Stop after this long without a request. */
  idleMs: number;
}

/** Where dircache-run finds this user's server; bin/dircache-run applies the same rule. */
export function defaultServeDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DIRCACHE_SERVE_DIR) return env.DIRCACHE_SERVE_DIR;
  const base = env.XDG_RUNTIME_DIR || (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
  return join(base, `dircache-${process.getuid!()}`);
}

/** A client that opened the request FIFO just before it was unlinked still gets its answer. */
const DRAIN_MS = 300;
const FALLBACK: ServeReply = { status: 'fallback', text: '' };

export async function serve(opts: ServeOptions): Promise<{ started: boolean; pid: number }> {
  const { dir } = opts;
  ownDir(dir);
  const pidFile = join(dir, 'pid');
  const other = readPid(pidFile);
  if (other !== undefined && other !== process.pid && pidAlive(other)) return { started: false, pid: other };
  removeLeftovers(dir);
  const fifo = join(dir, `in.${process.pid}`);
  rmSync(fifo, { force: true });
  execFileSync('mkfifo', ['-m', '600', fifo]);
  // read-write: the FIFO never reports end-of-file between clients, and a client's open never blocks
  const input = new Socket({ fd: openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK), readable: true, writable: false });
  writeFileSync(`${pidFile}.${process.pid}`, `${process.pid}\n`);
  renameSync(`${pidFile}.${process.pid}`, pidFile);
  process.chdir('/'); // every path a request uses is resolved against its own cwd
  const code = ownCode();

  return new Promise((resolve) => {
    let inflight = 0;
    let lastRequest = Date.now();
    let stopping = false;
    let closed = false;
    const finishIfDone = () => {
      if (closed && inflight === 0) resolve({ started: true, pid: process.pid });
    };
    const stop = () => {
      if (stopping) return;
      stopping = true;
      clearInterval(watch);
      rmSync(fifo, { force: true });
      if (readPid(pidFile) === process.pid) rmSync(pidFile, { force: true });
      setTimeout(() => {
        input.destroy();
        closed = true;
        finishIfDone();
      }, DRAIN_MS);
    };
    const watch = setInterval(() => {
      const idle = inflight === 0 && Date.now() - lastRequest >= opts.idleMs;
      if (idle || readPid(pidFile) !== process.pid || code.changed()) stop();
    }, Math.min(1000, opts.idleMs));
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, stop);
    process.on('SIGHUP', () => {}); // the terminal that started the build may go away

    let pending = '';
    input.on('data', (chunk: Buffer) => {
      const lines = (pending + chunk.toString('latin1')).split('\n');
      pending = lines.pop()!;
      for (const pid of lines) {
        if (!/^\d+$/.test(pid)) continue;
        inflight++;
        lastRequest = Date.now();
        void handle(dir, pid).finally(() => {
          inflight--;
          finishIfDone();
        });
      }
    });
  });
}

async function handle(dir: string, pid: string): Promise<void> {
  let reply = FALLBACK;
  try {
    const q = join(dir, `q.${pid}`);
    const data = readFileSync(q, 'utf8');
    rmSync(q, { force: true });
    reply = await answer(decodeRequest(data));
  } catch (e) {
    log(dir, `request of pid ${pid}: ${(e as Error).message}`);
  }
  sendReply(join(dir, `r.${pid}`), reply);
}

/** What `dircache run` would do before running CMD, said as a reply. */
async function answer(req: ServeRequest): Promise<ServeReply> {
  const parsed = parseFast(['run', ...req.argv], [runCommand], globalOptions);
  if (!parsed) return FALLBACK; // help, a usage error: the CLI says it
  const a = parsed.args as unknown as RunArgs; // parseFast checked them against run's option specs
  if (a.json || !a.download) return FALLBACK;
  const warnings: string[] = [];
  let got;
  try {
    got = await lookUp(clientFromArgs(a, { cwd: req.cwd, env: req.env }), runRequest(a), warnings);
  } catch {
    return FALLBACK; // a config or usage error: the CLI reports it with its exit code
  }
  const text = a.quiet ? '' : warnings.map(warningLine).join('') + (got?.hit ? hitLine(a.job, got) : '');
  return { status: got?.hit ? 'hit' : 'miss', text };
}

function sendReply(file: string, reply: ServeReply): void {
  let fd: number | undefined;
  try {
    fd = openSync(file, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch {
    // ENXIO: the client stopped waiting (killed); ENOENT: it never made its FIFO
  }
  rmSync(file, { force: true });
  if (fd === undefined) return;
  try {
    if (fstatSync(fd).isFIFO()) writeSync(fd, encodeReply(reply));
  } catch {
    // the client went away meanwhile
  } finally {
    closeSync(fd);
  }
}

/** Anyone who can write the dir could answer in the server's place: it must be ours alone. */
function ownDir(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== process.getuid!() || (st.mode & 0o077) !== 0) {
    throw new UnsafeDirError(`${dir} must be a dir of yours that only you can use (mode 700); remove it, or set DIRCACHE_SERVE_DIR to another`);
  }
}

export function readPid(file: string): number | undefined {
  try {
    const m = /^(\d+)\n$/.exec(readFileSync(file, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** FIFOs and request files of processes that are gone. */
function removeLeftovers(dir: string): void {
  for (const name of readdirSync(dir)) {
    const m = /^(?:in|q|r)\.(\d+)$/.exec(name);
    if (m && !pidAlive(Number(m[1]))) rmSync(join(dir, name), { force: true });
  }
}

/** An upgrade replaces the code under a running server: it then stops, and the next client starts the new one. */
function ownCode(): { changed(): boolean } {
  const file = fileURLToPath(import.meta.url);
  const mtime = statSync(file).mtimeMs;
  return { changed: () => statSync(file, { throwIfNoEntry: false })?.mtimeMs !== mtime };
}

function log(dir: string, msg: string): void {
  try {
    appendFileSync(join(dir, 'serve.log'), `${new Date().toISOString()} ${msg}\n`);
  } catch {
    // nowhere to say it
  }
}
