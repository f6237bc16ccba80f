import type { Argv } from 'yargs';
import { type OutputFlags, printResult } from '../output.js';
import { defaultServeDir, readPid, serve } from '../serve.js';
import { pidAlive } from '../walk.js';
import { parseDuration } from '../size.js';
import { join } from 'node:path';

type ServeArgs = OutputFlags & { dir?: string; idle: string; stop?: boolean };

export const serveCommand = {
  command: 'serve',
  describe: 'answer dircache-run lookups for this user (started by dircache-run; stops when idle)',
  builder: (y: Argv) =>
    y
      .option('dir', { type: 'string', describe: 'its dir (default: DIRCACHE_SERVE_DIR, else $XDG_RUNTIME_DIR or /dev/shm, /dircache-<uid>)' })
      .option('idle', { type: 'string', default: '10m', describe: 'stop after this long without a request' })
      .option('stop', { type: 'boolean', describe: 'stop the running server and wait for it to end' })
      .epilog(
        'bin/dircache-run takes the arguments of `dircache run`; it starts this server when none runs, and the server then ' +
          'answers hits (restores the targets) without a Node start per job. Misses, uploads, --json and anything unusual are done by ' +
          '`dircache run` itself, so results are the same with or without the server. Exit codes: 0 ok, 2 error, 6 the dir is not yours alone.',
      ),
  async handler(a: ServeArgs): Promise<void> {
    const dir = a.dir ?? defaultServeDir();
    if (a.stop) {
      const pid = await stopServer(dir);
      printResult(a, { stopped: pid !== undefined, pid }, () => [pid === undefined ? 'no server running' : `stopped server ${pid}`]);
      return;
    }
    const r = await serve({ dir, idleMs: parseDuration(a.idle) });
    printResult(a, r, () => [r.started ? `server ${r.pid} stopped` : `a server runs already: ${r.pid}`]);
  },
};

async function stopServer(dir: string): Promise<number | undefined> {
  const pid = readPid(join(dir, 'pid'));
  if (pid === undefined || !pidAlive(pid)) return undefined;
  process.kill(pid, 'SIGTERM');
  while (pidAlive(pid)) await new Promise((r) => setTimeout(r, 20));
  return pid;
}
