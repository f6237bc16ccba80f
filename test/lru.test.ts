import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FsPolicy } from '../src/fsutil.js';
import { initCache } from '../src/init.js';
import { ENTRY_LRU } from '../src/layout.js';
import { ShardTxn, readHead, recordAccess } from '../src/lru.js';
import { decodeEntryLru } from '../src/records.js';
import { checkCache } from './lru-check.js';
import { tempDir } from './helpers.js';

let root: string;
let p: FsPolicy;
const BUDGET = 100;

beforeEach(() => {
  root = path.join(tempDir('dircache-lru-'), 'cache');
  initCache(root, { size: '10M', shards: 1 });
  p = { root, perm: 'none', fileSync: 'none' };
});
afterEach(() => fs.rmSync(path.dirname(root), { recursive: true, force: true }));

/** One committed update, with its trash deleted afterwards, as Cache.updateShard does. */
function update<T>(fn: (t: ShardTxn) => T, budget = BUDGET): T {
  const t = new ShardTxn(p, 0, budget);
  const r = fn(t);
  t.commit();
  for (const d of t.trashed) fs.rmSync(path.join(root, d), { recursive: true, force: true });
  return r;
}

const id = (name: string) => `jobs/${name}/key-00000000000000aa-first`;

/** Make an entry dir and link it at the newest end. */
function insert(name: string, size: number, at: number): string {
  const e = id(name);
  fs.mkdirSync(path.join(root, e), { recursive: true });
  fs.writeFileSync(path.join(root, e, 'marker'), name);
  update((t) => t.pushNewest(e, size, at, at));
  return e;
}

/** Newest-first list, after checking the whole cache's invariants. */
function list(): string[] {
  return checkCache(root)[0]!.list;
}

const rec = (e: string) => decodeEntryLru(fs.readFileSync(path.join(root, e, ENTRY_LRU), 'utf8'), e);

describe('ShardTxn keeps the list consistent both ways and the head total right', () => {
  it('insert links each new entry at the newest end', () => {
    expect(list()).toEqual([]);
    const a = insert('a', 10, 1);
    expect(list()).toEqual([a]);
    const b = insert('b', 20, 2);
    const c = insert('c', 30, 3);
    expect(list()).toEqual([c, b, a]);
    expect(readHead(root, 0)).toEqual({ newest: c, oldest: a, total: 60, entries: 3 });
  });

  it('a hit rewrites only the access time, in place, and leaves the list as it was', () => {
    const a = insert('a', 10, 1);
    const b = insert('b', 20, 2);
    const file = path.join(root, a, ENTRY_LRU);
    const before = fs.readFileSync(file, 'utf8');
    const ino = fs.statSync(file).ino;
    expect(recordAccess(p, a, 123456)).toBe(true);
    const after = fs.readFileSync(file, 'utf8');
    expect(fs.statSync(file).ino).toBe(ino); // same file: no temp + rename
    expect(after.length).toBe(before.length);
    expect(after.split('\n').slice(1)).toEqual(before.split('\n').slice(1));
    expect(rec(a)).toMatchObject({ access: 123456, placed: 1, size: 10 });
    expect(list()).toEqual([b, a]);
    fs.rmSync(path.join(root, b), { recursive: true });
    expect(recordAccess(p, b, 5)).toBe(false); // gone: no file made
    expect(fs.existsSync(path.join(root, b))).toBe(false);
  });

  it('replace: the old entry goes to trash, the new one is linked newest with its size', () => {
    const a = insert('a', 10, 1);
    const b = insert('b', 20, 2);
    insert('c', 30, 3);
    const tmp = 'LMAKE/tmp/new-b';
    fs.mkdirSync(path.join(root, tmp));
    fs.writeFileSync(path.join(root, tmp, 'marker'), 'b2');
    const trashed = update((t) => {
      expect(t.remove(b)).toBe(20);
      t.rename(tmp, b);
      t.pushNewest(b, 25, 4, 4);
      return [...t.trashed];
    });
    expect(fs.readFileSync(path.join(root, b, 'marker'), 'utf8')).toBe('b2');
    expect(fs.existsSync(path.join(root, tmp))).toBe(false);
    for (const d of trashed) expect(fs.existsSync(path.join(root, d))).toBe(false);
    expect(list()).toEqual([b, id('c'), a]);
    expect(readHead(root, 0).total).toBe(65);
  });

  it('evict removes unread entries from the old end until the need fits', () => {
    const a = insert('a', 10, 1);
    const b = insert('b', 20, 2);
    const c = insert('c', 30, 3);
    const evicted = update((t) => t.makeRoom(BUDGET - 60 + 15, 10));
    expect(evicted).toEqual([a, b]);
    expect(fs.existsSync(path.join(root, a))).toBe(false);
    expect(fs.existsSync(path.join(root, b))).toBe(false);
    expect(list()).toEqual([c]);
    expect(readHead(root, 0).total).toBe(30);
    expect(update((t) => t.makeRoom(70, 11))).toEqual([]); // fits: nothing evicted
  });

  it('second chance: an entry read since it reached the old end is relinked newest, not evicted', () => {
    const a = insert('a', 40, 1);
    const b = insert('b', 40, 2);
    const c = insert('c', 20, 3);
    recordAccess(p, a, 10);
    expect(update((t) => t.makeRoom(20, 50))).toEqual([b]);
    expect(list()).toEqual([a, c]);
    expect(rec(a)).toMatchObject({ access: 10, placed: 50 });
    // relinked, a counts as unread again only from its new place: the next eviction takes c first
    expect(update((t) => t.makeRoom(60, 51))).toEqual([c]);
    expect(list()).toEqual([a]);
  });

  it('entries found re-read in one pass are relinked in the order of their access', () => {
    const a = insert('a', 20, 1);
    const b = insert('b', 20, 2);
    const c = insert('c', 20, 3);
    const d = insert('d', 20, 4);
    const e = insert('e', 20, 5);
    recordAccess(p, a, 30);
    recordAccess(p, b, 10);
    recordAccess(p, c, 20);
    expect(update((t) => t.makeRoom(20, 40))).toEqual([d]);
    expect(list()).toEqual([a, c, b, e]);
  });

  it('when every entry was read, they are relinked and the least recently read one goes', () => {
    const a = insert('a', 50, 1);
    const b = insert('b', 50, 2);
    recordAccess(p, a, 20);
    recordAccess(p, b, 10);
    expect(update((t) => t.makeRoom(10, 30))).toEqual([b]);
    expect(list()).toEqual([a]);
  });

  it('reservations count in the total; when they hold the whole budget, making room fails and changes nothing', () => {
    const a = insert('a', 30, 1);
    update((t) => {
      t.makeRoom(60, 2);
      t.reserve({ token: 'tok1', host: 'h', pid: 1, bytes: 60, start: 2, tmp: 'LMAKE/tmp/tok1' });
    });
    expect(checkCache(root)[0]).toMatchObject({ total: 90, reserved: 60 });
    const head = readHead(root, 0);
    update((t) => t.reserve({ token: 'tok2', host: 'h', pid: 1, bytes: 40, start: 3, tmp: 'LMAKE/tmp/tok2' }), 1000);
    expect(() => update((t) => t.makeRoom(100, 4), 100)).toThrow(/cannot make room for 100 bytes/);
    update((t) => expect(t.releaseIfHeld({ token: 'tok2', bytes: 40 })).toBe(true), 1000);
    expect(readHead(root, 0)).toEqual(head);
    expect(fs.existsSync(path.join(root, a))).toBe(true);
    update((t) => expect(t.releaseIfHeld({ token: 'tok1', bytes: 60 })).toBe(true));
    expect(checkCache(root)[0]).toMatchObject({ list: [a], total: 30, reserved: 0 });
  });

  it('random sequences of insert / hit / replace / evict keep every invariant; re-read entries go last, in access order', () => {
    type Op = { k: 'insert'; n: number; size: number } | { k: 'hit'; n: number } | { k: 'replace'; n: number; size: number } | { k: 'evict'; need: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ k: fc.constant('insert' as const), n: fc.nat(7), size: fc.integer({ min: 1, max: 40 }) }),
      fc.record({ k: fc.constant('hit' as const), n: fc.nat(7) }),
      fc.record({ k: fc.constant('replace' as const), n: fc.nat(7), size: fc.integer({ min: 1, max: 40 }) }),
      fc.record({ k: fc.constant('evict' as const), need: fc.integer({ min: 0, max: BUDGET }) }),
    );
    let round = 0;
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 30 }), (ops) => {
        // a fresh cache per run
        const dir = path.join(path.dirname(root), `run${round++}`);
        initCache(dir, { size: '10M', shards: 1 });
        root = dir;
        p = { ...p, root };
        let clock = 1;
        for (const o of ops) {
          const linked = list();
          expect(readHead(root, 0).total).toBeLessThanOrEqual(BUDGET);
          const e = id(`j${'n' in o ? o.n : 0}`);
          if (o.k === 'insert' || o.k === 'replace') {
            if (o.k === 'insert' && linked.includes(e)) continue;
            if (o.k === 'replace' && !linked.includes(e)) continue;
            const tmp = `LMAKE/tmp/t${clock}`;
            fs.mkdirSync(path.join(root, tmp));
            fs.mkdirSync(path.join(root, path.dirname(e)), { recursive: true });
            const at = clock++;
            update((t) => {
              if (o.k === 'replace') t.remove(e);
              t.makeRoom(o.size, at);
              t.rename(tmp, e);
              t.pushNewest(e, o.size, at, at);
            });
            expect(list()[0]).toBe(e);
          } else if (o.k === 'hit') {
            if (!linked.includes(e)) continue;
            recordAccess(p, e, clock++);
            expect(list()).toEqual(linked);
          } else {
            const before = new Map(linked.map((x) => [x, rec(x)]));
            const evicted = update((t) => t.makeRoom(o.need, clock++));
            // a re-read entry goes only once every unread one has gone, and then the least recently read first
            const wasRead = (x: string) => before.get(x)!.access > before.get(x)!.placed;
            const survivors = linked.filter((x) => !evicted.includes(x));
            if (evicted.some(wasRead)) {
              expect(survivors.filter((x) => !wasRead(x)), 'unread entries kept while a re-read one was evicted').toEqual([]);
              const lastGone = Math.max(...evicted.filter(wasRead).map((x) => before.get(x)!.access));
              for (const x of survivors) expect(before.get(x)!.access).toBeGreaterThanOrEqual(lastGone);
            }
            const after = list();
            expect(after.length).toBe(linked.length - evicted.length);
            expect(checkCache(root)[0]!.total + o.need).toBeLessThanOrEqual(BUDGET);
          }
        }
      }),
      { numRuns: 40 },
    );
  });
});
