/**
 * Many clients (issue 5.1): 8 processes download and upload (and `run`, once built) overlapping jobs
 * against one cache small enough to evict all the time. Every hit is checked byte for byte against
 * its dep; afterwards the LRU invariants hold and nothing is left over.
 * DIRCACHE_SOAK=1 runs each worker ten times longer.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Cache } from '../src/cache.js';
import { download } from '../src/download.js';
import { initCache, tempDir, writeFiles } from './helpers.js';
import { NO_LEFTOVERS, cacheProblems, distModule, expectCleanByAdminTools, leftovers } from './invariants.js';
import { depText, jobFiles } from './fixtures/cache-jobs.mjs';

const WORKER = path.join(import.meta.dirname, 'fixtures', 'cache-worker.mjs');
const SOAK = process.env.DIRCACHE_SOAK === '1';
const WORKERS = 8;
const ROUNDS = SOAK ? 600 : 50;
const JOBS = 16;
const VARIANTS = 6;

interface WorkerOut {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a worker to its end: `node cache-worker.mjs ...`, with generous lock settings. */
export function runWorker(args: string[], env: Record<string, string> = {}): Promise<WorkerOut> {
  const p = spawn(process.execPath, [WORKER, ...args], {
    env: { ...process.env, DIRCACHE_DIGEST_CACHE: '', DIRCACHE_LOCK_TIMEOUT: '60s', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d) => (stdout += d));
  p.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => p.on('close', (code) => resolve({ code, stdout, stderr })));
}

describe('many clients', () => {
  it(`${WORKERS} processes x ${ROUNDS} rounds on overlapping jobs under constant eviction: no wrong hit, invariants hold`, async () => {
    const dir = tempDir();
    const root = initCache(path.join(dir, 'cache'), '2M', ['--shards', '2']);
    const useRun = distModule('index') && distModule('run') ? 'run' : '';
    const outs = await Promise.all(
      Array.from({ length: WORKERS }, (_, i) => {
        const ws = path.join(dir, `ws${i}`);
        fs.mkdirSync(ws);
        return runWorker([root, ws, String(1000 + i), String(ROUNDS), String(JOBS), String(VARIANTS), i % 2 ? useRun : '']);
      }),
    );
    const totals = { hits: 0, misses: 0, uploads: 0, exists: 0, runs: 0, evicted: 0 };
    for (const o of outs) {
      expect(o.stderr).toBe('');
      expect(o.code).toBe(0);
      expect(o.stdout).not.toContain('WRONG');
      const s = JSON.parse(o.stdout.trim().split('\n').at(-1)!) as typeof totals & { wrong: number; errors: string[] };
      expect(s.wrong).toBe(0);
      expect(s.errors).toEqual([]);
      for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += s[k];
    }
    // the run did what it is meant to: hits, misses and uploads all happened, and evictions did too
    expect(totals.hits).toBeGreaterThan(0);
    expect(totals.uploads).toBeGreaterThan(0);
    expect(totals.evicted).toBeGreaterThan(0);
    expect(totals.hits + totals.misses + totals.runs).toBe(WORKERS * ROUNDS);

    expect(cacheProblems(root)).toEqual([]);
    expect(leftovers(root)).toEqual(NO_LEFTOVERS);

    // a fresh client gets only right answers for every job and variant
    const ws = path.join(dir, 'fresh');
    fs.mkdirSync(ws);
    const cache = Cache.open({ cache: root, cwd: ws, env: {} });
    let hits = 0;
    for (let j = 0; j < JOBS; j++) {
      for (let v = 0; v < VARIANTS; v++) {
        fs.rmSync(path.join(ws, 'out'), { recursive: true, force: true });
        writeFiles(ws, { [`src/j${j}.c`]: depText(j, v) });
        const r = await download(cache, { job: `stress/j${j}.o`, deps: [`src/j${j}.c`] });
        if (!r.hit) continue;
        hits++;
        for (const [rel, content] of Object.entries(jobFiles(j, v))) expect(fs.readFileSync(path.join(ws, rel), 'utf8')).toBe(content);
      }
    }
    expect(hits).toBeGreaterThan(0);
    expect(cacheProblems(root)).toEqual([]);

    expectCleanByAdminTools(root);
    fs.rmSync(dir, { recursive: true, force: true });
  }, SOAK ? 3_600_000 : 150_000);
});
