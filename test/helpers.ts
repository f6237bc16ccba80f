/** Shared test harness: temp dirs, real git repos, and the built CLI run as a child process. */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTargetHash } from '../src/digest.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const BIN = path.join(REPO, 'bin', 'dircache');

const tempDirs: string[] = [];

/** A fresh dir under the OS temp dir, removed when the test file is done (test/setup.ts). */
export function tempDir(prefix = 'dircache-test-'): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  tempDirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json: () => any; // eslint-disable-line @typescript-eslint/no-explicit-any -- parsed --json output
}

/** This process's environment without any DIRCACHE_* setting, with no digest cache, plus `extra`. */
export function testEnv(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('DIRCACHE_')) delete env[k];
  return Object.assign(env, { DIRCACHE_DIGEST_CACHE: '' }, extra);
}

/** Run the built CLI. Env is isolated: no DIRCACHE_* from the outer environment, a private digest cache. */
export function cli(args: readonly string[], opts: { cwd?: string; env?: Record<string, string | undefined>; input?: string } = {}): CliResult {
  const env = testEnv(opts.env);
  const r: SpawnSyncReturns<string> = spawnSync(process.execPath, [BIN, ...args], { cwd: opts.cwd, env, encoding: 'utf8', input: opts.input });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout) };
}

/** Same, not waiting: for concurrency and kill tests. */
export function cliSpawn(args: readonly string[], opts: { cwd?: string; env?: Record<string, string | undefined> } = {}) {
  const env = testEnv(opts.env);
  return spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function git(cwd: string, ...args: string[]): string {
  const r = spawnSync('git', ['-c', 'user.email=test@example.com', '-c', 'user.name=test', '-c', 'init.defaultBranch=main', ...args], { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout.trim();
}

/** A git repo with the given files committed. */
export function makeRepo(dir: string, files: Record<string, string>): string {
  fs.mkdirSync(dir, { recursive: true });
  git(dir, 'init', '-q');
  writeFiles(dir, files);
  git(dir, 'add', '-A');
  git(dir, 'commit', '-qm', 'init');
  return dir;
}

export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), content);
  }
}

/** Every file, dir and symlink under `dir`, with content, mode and link target: to prove "nothing changed". */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const rel = path.relative(dir, p);
      const st = fs.lstatSync(p);
      if (st.isSymbolicLink()) out[rel] = `link ${fs.readlinkSync(p)}`;
      else if (st.isDirectory()) {
        out[rel + '/'] = `dir ${(st.mode & 0o7777).toString(8)}`;
        walk(p);
      } else out[rel] = `file ${(st.mode & 0o7777).toString(8)} ${fs.readFileSync(p).toString('base64')}`;
    }
  };
  walk(dir);
  return out;
}

/** Init a cache through the CLI; throws with its stderr if that fails. */
export function initCache(dir: string, size = '100M', extra: string[] = []): string {
  const r = cli(['init', dir, '--size', size, ...extra]);
  if (r.code !== 0) throw new Error(`init failed: ${r.stderr}`);
  return dir;
}

/** The target digest an uploader records for this content. */
export async function targetDigest(data: string | Uint8Array): Promise<string> {
  const h = (await loadTargetHash())();
  h.update(typeof data === 'string' ? Buffer.from(data) : data);
  return h.digest();
}
