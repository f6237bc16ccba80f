import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { Cache } from '../src/cache.js';
import { ZERO, clientName, compact, readClientStats, recordStats, sumRecords } from '../src/stats.js';
import { REPO, cli, initCache, makeRepo, snapshot, tempDir } from './helpers.js';

let root: string;
let cache: Cache;
const statsDir = () => join(root, 'LMAKE', 'stats');

beforeEach(() => {
  root = initCache(join(tempDir(), 'cache'));
  cache = Cache.open({ cache: root, env: {} });
});

describe('stats records', () => {
  it('sums records, skipping a line torn by a crash and foreign junk', () => {
    const text = '{"hits":1,"bytesOut":10,"timeSaved":1.5}\n{"misses":1}\nnot json\n{"hits":-5,"uploads":"x"}\n{"hits":1,"bytesO';
    expect(sumRecords(text)).toEqual({ ...ZERO, hits: 1, misses: 1, bytesOut: 10, timeSaved: 1.5 });
  });

  it('names a client by host and uid, safe as a file name', () => {
    expect(clientName('build-01.example.com', 1000)).toBe('build-01.example.com-1000');
    expect(clientName('a/b c', 0)).toBe('a_b_c-0');
  });

  it('each client appends to its own file; readClientStats keeps them apart and sorted', async () => {
    await recordStats(cache, { hits: 1, bytesOut: 100, timeSaved: 2 }, 'hostb-1');
    await recordStats(cache, { misses: 1 }, 'hosta-1');
    await recordStats(cache, { uploads: 1, bytesIn: 50 }, 'hosta-1');
    expect(fs.readdirSync(statsDir()).sort()).toEqual(['hosta-1.log', 'hostb-1.log']);
    expect(readClientStats(cache)).toEqual([
      { client: 'hosta-1', ...ZERO, misses: 1, uploads: 1, bytesIn: 50 },
      { client: 'hostb-1', ...ZERO, hits: 1, bytesOut: 100, timeSaved: 2 },
    ]);
  });

  const files = () => fs.readdirSync(statsDir()).sort();
  const segments = () => files().filter((f) => f.startsWith('c-1.fold-'));

  it('compaction folds the log into totals; its segment goes at the next compaction; nothing lost', async () => {
    for (let i = 0; i < 5; i++) await recordStats(cache, { hits: 1, bytesOut: 7 }, 'c-1');
    await compact(cache, 'c-1');
    const first = segments();
    expect(first).toHaveLength(1);
    expect(files()).toEqual(['c-1.json', ...first].sort());
    await recordStats(cache, { misses: 1 }, 'c-1');
    await compact(cache, 'c-1');
    expect(segments()).toHaveLength(1);
    expect(segments()).not.toEqual(first);
    expect(readClientStats(cache)).toEqual([{ client: 'c-1', ...ZERO, hits: 5, misses: 1, bytesOut: 35 }]);
  });

  it('a job that appends to the log just as it is renamed is counted once', async () => {
    await recordStats(cache, { hits: 2 }, 'c-1');
    await compact(cache, 'c-1');
    // the late writer opened the log before the rename and writes after the compactor read it
    fs.appendFileSync(join(statsDir(), segments()[0]!), '{"uploads":1}\n{"hits":1,"byt');
    expect(readClientStats(cache)).toEqual([{ client: 'c-1', ...ZERO, hits: 2, uploads: 1 }]);
    await compact(cache, 'c-1');
    expect(readClientStats(cache)).toEqual([{ client: 'c-1', ...ZERO, hits: 2, uploads: 1 }]);
  });

  it('a compactor killed after renaming the log, before writing totals, loses nothing', async () => {
    await recordStats(cache, { hits: 2 }, 'c-1');
    await compact(cache, 'c-1');
    fs.writeFileSync(join(statsDir(), 'c-1.fold-0123456789ab'), '{"misses":3}\n');
    expect(readClientStats(cache)).toEqual([{ client: 'c-1', ...ZERO, hits: 2, misses: 3 }]);
    await compact(cache, 'c-1');
    expect(readClientStats(cache)).toEqual([{ client: 'c-1', ...ZERO, hits: 2, misses: 3 }]);
    await compact(cache, 'c-1');
    expect(files()).toEqual(['c-1.json']);
    expect(readClientStats(cache)).toEqual([{ client: 'c-1', ...ZERO, hits: 2, misses: 3 }]);
  });

  it('concurrent jobs of one client (make -j) neither lose nor double a count, through compactions', async () => {
    const N = 4;
    const PER = 1500; // ~35 bytes a record: several 64 KiB compactions while others append
    const script = `
      const { Cache } = await import(${JSON.stringify(join(REPO, 'dist/cache.js'))});
      const { recordStats } = await import(${JSON.stringify(join(REPO, 'dist/stats.js'))});
      const cache = Cache.open({ cache: process.argv[1], env: {} });
      for (let i = 0; i < ${PER}; i++) {
        const w = await recordStats(cache, { hits: 1, bytesOut: 3 }, 'busy-1');
        if (w) { console.error(w); process.exit(1); }
      }`;
    const codes = await Promise.all(
      Array.from({ length: N }, () => new Promise<number | null>((done) => spawn(process.execPath, ['--input-type=module', '-e', script, root], { stdio: 'inherit' }).on('exit', done))),
    );
    expect(codes).toEqual(Array(N).fill(0));
    expect(fs.readdirSync(statsDir())).toContain('busy-1.json');
    expect(readClientStats(cache)).toEqual([{ client: 'busy-1', ...ZERO, hits: N * PER, bytesOut: 3 * N * PER }]);
  });
});

describe('dircache stats', () => {
  it('sums all clients and shows size against quota and the entry count', async () => {
    await recordStats(cache, { hits: 3, bytesOut: 300, timeSaved: 4.5 }, 'other-7');
    const ws = makeRepo(join(tempDir(), 'ws'), { 'a.txt': 'aaaa' });
    const env = { DIRCACHE_DIR: root };
    expect(cli(['run', '--job', 'j', '--target', 'b.txt', '--', 'cp', 'a.txt', 'b.txt'], { cwd: ws, env }).code).toBe(0);
    const s = cli(['stats', '--json'], { env }).json();
    expect(s).toMatchObject({ hits: 3, misses: 1, uploads: 1, bytesOut: 300, timeSaved: 4.5, entries: 1, quota: 100 << 20, shards: 1 });
    expect(s.used).toBe(s.bytesIn);
    expect(s.used).toBeGreaterThan(4);
    expect(s.clients.map((c: { client: string }) => c.client).sort()).toEqual([clientName(), 'other-7'].sort());

    const human = cli(['stats'], { env });
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^hits +3 \(75\.0% of 4 lookups\)$/m);
    expect(human.stdout).toMatch(/^size +.* of 100 MB \(.*%\), 1 entries in 1 shard$/m);
    expect(human.stdout).toMatch(/^clients +2$/m);
  });

  it('an empty cache has zero counters; a missing cache is a clear error that changes nothing', () => {
    expect(cli(['stats', '--json'], { env: { DIRCACHE_DIR: root } }).json()).toMatchObject({ hits: 0, misses: 0, used: 0, entries: 0, clients: [] });
    const dir = tempDir();
    const before = snapshot(dir);
    const r = cli(['stats'], { env: { DIRCACHE_DIR: dir } });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/dircache: error: .*config\.py/);
    expect(snapshot(dir)).toEqual(before);
  });
});
