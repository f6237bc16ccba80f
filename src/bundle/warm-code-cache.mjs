// Makes the V8 code cache that bin/dircache loads the CLI bundle with (npm run build): an upload
// and then a hit of the built CLI on a scratch cache, each run writing the cache at exit, the
// second starting from the first's, so that it holds the functions both paths compile.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../bin/dircache', import.meta.url));
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'dircache-warm-'));
const env = { ...process.env, DIRCACHE_DIGEST_CACHE: path.join(scratch, 'digests') };
for (const k of Object.keys(env)) if (k.startsWith('DIRCACHE_') && k !== 'DIRCACHE_DIGEST_CACHE') delete env[k];
const cache = path.join(scratch, 'cache');
const ws = path.join(scratch, 'ws');

function dircache(args, extraEnv = {}) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: ws, env: { ...env, ...extraEnv }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`dircache ${args[0]} exited ${r.status}: ${r.stderr}`);
}

try {
  fs.mkdirSync(path.join(ws, 'out'), { recursive: true });
  fs.writeFileSync(path.join(ws, 'a.c'), 'int a;\n');
  fs.writeFileSync(path.join(ws, 'out', 'a.o'), 'object\n');
  dircache(['init', cache, '--size', '1M', '-q']);
  const job = ['--cache', cache, '--job', 'a.o', '--dep', 'a.c', '-q'];
  dircache(['upload', ...job, '--target', 'out/a.o', '--repo-key', 'warm-up'], { DIRCACHE_CODE_CACHE: 'write' });
  fs.rmSync(path.join(ws, 'out', 'a.o'));
  dircache(['download', ...job], { DIRCACHE_CODE_CACHE: 'write' });
  if (fs.readFileSync(path.join(ws, 'out', 'a.o'), 'utf8') !== 'object\n') throw new Error('the warm-up hit restored the wrong content');
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
}
