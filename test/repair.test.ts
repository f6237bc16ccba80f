import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Cache } from '../src/cache.js';
import { checkCache } from '../src/check.js';
import { jobShardIndex, jobToPath } from '../src/jobpath.js';
import { repair } from '../src/repair.js';
import { snapshot } from './helpers.js';
import { admin, download, entryOf, headOf, makeFixture, setHead, upload } from './admin-fixture.js';

// real CLI runs, many per test: allow for a loaded machine
describe('dircache repair', { timeout: 300_000 }, () => {
  it('finds nothing to fix in a healthy cache', () => {
    const f = makeFixture();
    for (const j of ['a', 'b']) upload(f, j);
    const before = snapshot(f.cache);
    const r = admin(f, 'repair', '--dry-run');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^repair: nothing to fix; 2 entries/);
    expect(snapshot(f.cache)).toEqual(before);
  });

  it('after deliberate damage, gives a consistent cache where every valid entry still hits', () => {
    const f = makeFixture();
    const names = ['j1', 'j2', 'j3', 'j4', 'j5', 'j6'];
    for (const j of names) upload(f, j);
    const dirs = Object.fromEntries(names.map((j) => [j, entryOf(f, j)]));
    fs.rmSync(path.join(dirs.j1!, 'lru')); // lost LRU record: the entry is valid, relinked
    const info = path.join(dirs.j2!, 'info');
    fs.truncateSync(info, fs.statSync(info).size - 10); // torn info: removed
    fs.writeFileSync(path.join(f.cache, 'j3', 'notes.txt'), 'orphan'); // foreign file in a job dir
    fs.writeFileSync(path.join(f.cache, 'stray.txt'), 'orphan'); // foreign file at the root
    fs.symlinkSync('../../etc', path.join(f.cache, 'j4', 'deps_hint-0123456789abcdef')); // broken hint
    setHead(f.cache, { ...headOf(f.cache), total: headOf(f.cache).total + 12345 }); // wrong total
    fs.rmSync(path.join(dirs.j5!, 'data'), { recursive: true }); // entry without data: removed

    const before = snapshot(f.cache);
    const dry = admin(f, 'repair', '--dry-run');
    expect(dry.code).toBe(1);
    const lines = dry.stdout.trim().split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^shard 0: j1\/key-\w+-first: its lru record is missing or damaged$/),
        expect.stringMatching(/^shard 0: j2\/key-\w+-first: .*checksum mismatch/),
        'shard 0: j3/notes.txt: not something dircache makes',
        "shard 0: j4/deps_hint-0123456789abcdef: a hint to '../../etc', which is not an entry name",
        expect.stringMatching(/^shard 0: j5\/key-\w+-first: no data dir/),
        'shard 0: LRU list rebuilt from 4 valid entries',
        'stray.txt: not something dircache makes',
      ]),
    );
    expect(lines.at(-1)).toMatch(/^repair: \d+ problems found, nothing changed/);
    expect(snapshot(f.cache)).toEqual(before);
    expect(checkCache(f.cache).ok).toBe(false);

    const fix = admin(f, 'repair');
    expect(fix.code).toBe(0);
    expect(fix.stdout).toMatch(/repair: \d+ problems fixed; 4 valid entries/);
    const again = admin(f, 'repair', '--dry-run');
    expect(again.stdout).toMatch(/^repair: nothing to fix; 4 entries/);
    expect(again.code).toBe(0);
    expect(checkCache(f.cache)).toEqual({ ok: true, problems: [], shards: 1 });
    expect(headOf(f.cache).entries).toBe(4);
    expect(fs.existsSync(path.join(f.cache, 'stray.txt'))).toBe(false);
    expect(fs.existsSync(path.join(f.cache, 'j3', 'notes.txt'))).toBe(false);
    expect(fs.readdirSync(path.join(f.cache, 'LMAKE', 'trash'))).toEqual([]);
    for (const j of ['j1', 'j3', 'j4', 'j6']) expect(download(f, j)).toBe('hit');
    for (const j of ['j2', 'j5']) expect(download(f, j)).toBe('miss');
  });

  it('keeps entries in their recorded order of use when it rebuilds the list', () => {
    const f = makeFixture();
    for (const j of ['a', 'b', 'c']) upload(f, j);
    expect(download(f, 'a')).toBe('hit');
    setHead(f.cache, { newest: null, oldest: null, total: 0, entries: 0 }); // a lost list
    expect(admin(f, 'repair').code).toBe(0);
    const r = admin(f, 'ls', '--json');
    expect(r.json().entries.map((e: { job: string }) => e.job)).toEqual(['a', 'c', 'b']);
    const head = headOf(f.cache);
    expect(head.newest).toMatch(/^a\//);
    expect(head.oldest).toMatch(/^b\//);
    expect(checkCache(f.cache).problems).toEqual([]);
  });

  it('keeps an entry uploaded into a new job dir while it runs (made after its walk of the tree)', async () => {
    const f = makeFixture('10M', ['--shards', '4']);
    const shardOf = (job: string) => jobShardIndex(jobToPath(job), 4);
    const names = Array.from({ length: 40 }, (_, i) => `job${i}`);
    const first = names.find((j) => shardOf(j) === 0)!;
    const late = names.find((j) => shardOf(j) === 3)!;
    upload(f, first);
    let uploaded = false;
    const progress = {
      grow: () => {},
      stop: () => {},
      // the first entry's check: shard 0 is locked, the tree already walked, later shards to come
      tick: () => {
        if (!uploaded) upload(f, late);
        uploaded = true;
      },
    };
    const r = await repair(Cache.open({ cache: f.cache, env: {} }), { graceMs: 60_000, progress });
    expect(uploaded).toBe(true);
    expect(r.problems).toEqual([]);
    expect(r.entries).toBe(2);
    expect(admin(f, 'repair', '--dry-run').stdout).toMatch(/^repair: nothing to fix; 2 entries/);
    expect(download(f, late)).toBe('hit');
  });

  it('redoes a journal left by a holder that died mid-update', () => {
    const f = makeFixture();
    upload(f, 'a');
    const head = headOf(f.cache);
    const body = JSON.stringify([{ op: 'write', path: 'LMAKE/shards/0/lru', text: JSON.stringify({ ...head, total: head.total }) + '\n' }, { op: 'unlink', path: 'LMAKE/shards/0/nothing' }]);
    fs.writeFileSync(path.join(f.cache, 'LMAKE', 'shards', '0', 'journal'), `dircache-journal 1 ${createHash('sha256').update(body).digest('hex')}\n${body}\n`);
    const r = admin(f, 'repair');
    expect(r.stdout).toContain('shard 0: the journal of an update whose holder died is still there');
    expect(fs.existsSync(path.join(f.cache, 'LMAKE', 'shards', '0', 'journal'))).toBe(false);
    const again = admin(f, 'repair', '--dry-run');
    expect(again.stdout).toMatch(/^repair: nothing to fix/);
    expect(again.code).toBe(0);
  });
});
