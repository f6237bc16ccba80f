/** A cache with a workspace and jobs uploaded through the CLI, for the admin tool tests. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { cli, git, initCache, makeRepo, tempDir } from './helpers.js';

export interface Fixture {
  cache: string;
  /** where jobs are uploaded from */
  ws: string;
  /** a clone at the same commit, with no outputs: where downloads go */
  other: string;
  /** each job's output content */
  content: Map<string, Buffer>;
}

export function makeFixture(size = '10M', extra: string[] = ['--shards', '1']): Fixture {
  const dir = tempDir();
  const cache = initCache(path.join(dir, 'cache'), size, extra);
  const ws = makeRepo(path.join(dir, 'ws'), { 'src.c': 'int x;\n' });
  const other = path.join(dir, 'other');
  git(dir, 'clone', '-q', ws, other);
  return { cache, ws, other, content: new Map() };
}

const outName = (job: string) => `out/${job.replace(/[^a-z0-9]/gi, '_')}.bin`;

export function upload(f: Fixture, job: string, bytes = 100_000): void {
  const data = randomBytes(bytes);
  fs.mkdirSync(path.join(f.ws, 'out'), { recursive: true });
  fs.writeFileSync(path.join(f.ws, outName(job)), data);
  const r = cli(['upload', '--cache', f.cache, '--job', job, '--target', outName(job), '--dep', 'src.c', '--repo-key', 'k'], { cwd: f.ws });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  f.content.set(job, data);
}

/** Download into the other clone: 'hit' (bytes checked), or 'miss' (nothing written). */
export function download(f: Fixture, job: string): 'hit' | 'miss' {
  const file = path.join(f.other, outName(job));
  fs.rmSync(file, { force: true });
  const r = cli(['download', '--cache', f.cache, '--job', job, '--dep', 'src.c'], { cwd: f.other });
  return downloadOutcome(f, job, r.code);
}

export function downloadOutcome(f: Fixture, job: string, code: number | null, stderr = ''): 'hit' | 'miss' {
  const file = path.join(f.other, outName(job));
  if (code === 0) {
    expect(fs.readFileSync(file).equals(f.content.get(job)!)).toBe(true);
    return 'hit';
  }
  expect(code, stderr).toBe(1);
  expect(fs.existsSync(file)).toBe(false);
  return 'miss';
}

export function admin(f: Fixture, ...args: string[]) {
  return cli([...args, '--cache', f.cache]);
}

/** Jobs listed by `ls --json`, most recently used first. */
export function listed(f: Fixture): Array<{ id: string; job: string; size: number }> {
  const r = admin(f, 'ls', '--json');
  expect(r.code).toBe(0);
  return r.json().entries;
}

export function headOf(cache: string, shard = 0): { newest: string | null; oldest: string | null; total: number; entries: number } {
  const text = fs.readFileSync(path.join(cache, 'LMAKE', 'shards', String(shard), 'lru'), 'utf8');
  return JSON.parse(text.slice(0, text.indexOf('\n')));
}

export function setHead(cache: string, head: object, shard = 0): void {
  fs.writeFileSync(path.join(cache, 'LMAKE', 'shards', String(shard), 'lru'), JSON.stringify(head) + '\n');
}

/** The entry dir of a job's (only) entry. */
export function entryOf(f: Fixture, job: string): string {
  const e = listed(f).find((x) => x.job === job);
  expect(e).toBeDefined();
  return path.join(f.cache, e!.id);
}
