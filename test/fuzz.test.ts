/**
 * Bad input, generated (issue 5.7): config.py variants, job names, --input values, and damaged
 * info / lru / head / version files. Each gives a clear error or a miss — never a crash trace,
 * never a wrong hit, never a change to the cache beyond a hit's access record and the client's stats.
 * DIRCACHE_SOAK=1 runs ten times as many cases.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseInputs } from '../src/commands/common.js';
import { parseConfigPy } from '../src/config.js';
import { ConfigError, UsageError } from '../src/errors.js';
import { jobToPath } from '../src/jobpath.js';
import { ADMIN_DIR } from '../src/layout.js';
import { ACCESS_OFFSET, ACCESS_WIDTH } from '../src/records.js';
import { cli, initCache, snapshot, tempDir, writeFiles } from './helpers.js';

const RUNS = process.env.DIRCACHE_SOAK === '1' ? 10 : 1;

describe('config.py variants', () => {
  const good = fc.constantFrom("size = '1.5T'", 'size = 1 << 30', "size = '100M'", "perm = 'group'", "file_sync = 'sync'", 'lock_stale = 30', 'lock_timeout = 120.5', '# a comment', '', '   ');
  const bad = fc.constantFrom("size = '1.5X'", 'size = -1', "perm = 'all'", 'sizes = 1', 'size == 1', "size = '1G", '  size = 1', 'size = 1 +', 'file_sync = sync', 'import os', 'size = 1 << 99', 'lock_stale = "a"');
  const line = fc.oneof(good, bad, fc.string({ maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 20 }));

  it('each parses, or gives one ConfigError naming the file and the line', () => {
    fc.assert(
      fc.property(fc.array(line, { maxLength: 8 }), fc.constantFrom('\n', '\r\n'), (lines, eol) => {
        const text = lines.join(eol);
        try {
          const cfg = parseConfigPy(text, '/c/LMAKE/config.py');
          expect(cfg.size).toBeGreaterThan(0);
        } catch (e) {
          expect(e).toBeInstanceOf(ConfigError);
          const msg = (e as Error).message;
          // a problem on a line names it; only a missing size has no line to point at
          if (!msg.includes('size is required')) expect(msg).toMatch(/^\/c\/LMAKE\/config\.py:\d+: /);
          else expect(msg).toContain('/c/LMAKE/config.py');
          expect(msg).not.toContain('\n    at ');
        }
      }),
      { numRuns: 300 * RUNS },
    );
  });
});

describe('job names', () => {
  const root = '/cache/root';
  const job = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ unit: fc.constantFrom('/', '.', '%', 'k', 'e', 'y', '-', 'L', 'M', 'A', 'K', 'E', '\\', '\0'), maxLength: 20 }), fc.string({ minLength: 200, maxLength: 600 }));

  it('map inside the root, or give a UsageError', () => {
    fc.assert(
      fc.property(job, (name) => {
        let p: string;
        try {
          p = jobToPath(name);
        } catch (e) {
          expect(e).toBeInstanceOf(UsageError);
          return;
        }
        expect(path.isAbsolute(p)).toBe(false);
        expect(p.split('/').every((c) => c !== '' && c !== '.' && c !== '..' && Buffer.byteLength(c) <= 255)).toBe(true);
        expect(p.split('/')[0]!.toUpperCase()).not.toBe(ADMIN_DIR);
        expect(path.resolve(root, p).startsWith(root + '/')).toBe(true);
      }),
      { numRuns: 1000 * RUNS },
    );
  });

  it('are mapped injectively', () => {
    fc.assert(
      fc.property(fc.uniqueArray(job, { maxLength: 30 }), (names) => {
        const seen = new Map<string, string>();
        for (const n of names) {
          let p: string;
          try {
            p = jobToPath(n);
          } catch {
            continue;
          }
          expect(seen.get(p), `${JSON.stringify(n)} and ${JSON.stringify(seen.get(p))} both map to ${p}`).toBeUndefined();
          seen.set(p, n);
        }
      }),
      { numRuns: 300 * RUNS },
    );
  });
});

describe('--input KEY=VALUE', () => {
  it('gives back each value under its key (values may hold =), or one UsageError', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 12 }), { maxLength: 6 }), (items) => {
        let out: Record<string, string>;
        try {
          out = parseInputs(items);
        } catch (e) {
          expect(e).toBeInstanceOf(UsageError);
          expect((e as Error).message).toMatch(/^--input .*(must be KEY=VALUE|given twice)/);
          return;
        }
        for (const item of items) {
          const eq = item.indexOf('=');
          expect(eq).toBeGreaterThan(0);
          expect(out[item.slice(0, eq)]).toBe(item.slice(eq + 1));
        }
      }),
      { numRuns: 500 * RUNS },
    );
  });
});

describe('damaged cache files', () => {
  let dir: string;
  let root: string;
  let entryId: string;
  let pristine: string;
  const TARGET = 'the result of the job\n'.repeat(20);

  beforeAll(() => {
    dir = tempDir();
    pristine = initCache(path.join(dir, 'pristine'), '10M');
    const ws = path.join(dir, 'ws');
    writeFiles(ws, { 'in.c': 'int x;\n', 'out.o': TARGET });
    const r = cli(['upload', '--job', 'obj/out.o', '--target', 'out.o', '--dep', 'in.c', '--json', '--cache', pristine], { cwd: ws });
    expect(r.code).toBe(0);
    entryId = r.json().entry;
    root = path.join(dir, 'cache');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const file = fc.constantFrom('info', 'lru', 'head', 'version');
  const damage = fc.oneof(
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bits: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant('replace' as const), bytes: fc.uint8Array({ maxLength: 64 }) }),
    fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  );

  it('a download gives a clear error or a miss, never a trace or a wrong hit, and changes at most the access record', () => {
    const pathOf = (which: string) =>
      ({ info: path.join(root, entryId, 'info'), lru: path.join(root, entryId, 'lru'), head: path.join(root, ADMIN_DIR, 'shards', '0', 'lru'), version: path.join(root, ADMIN_DIR, 'version') })[which]!;
    fc.assert(
      fc.property(file, damage, (which, d) => {
        fs.rmSync(root, { recursive: true, force: true });
        fs.cpSync(pristine, root, { recursive: true });
        const f = pathOf(which);
        const orig = fs.readFileSync(f);
        let buf: Buffer;
        if (d.kind === 'truncate') buf = orig.subarray(0, d.at % orig.length);
        else if (d.kind === 'flip') {
          buf = Buffer.from(orig);
          buf[d.at % buf.length]! ^= d.bits;
        } else if (d.kind === 'replace') buf = Buffer.from(d.bytes);
        else buf = Buffer.concat([orig, d.bytes]);
        fs.writeFileSync(f, buf);
        const before = snapshot(root);

        const ws = path.join(dir, 'ws2');
        fs.rmSync(ws, { recursive: true, force: true });
        writeFiles(ws, { 'in.c': 'int x;\n' });
        const r = cli(['download', '--job', 'obj/out.o', '--cache', root], { cwd: ws });

        expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
        expect([0, 1, 2, 4]).toContain(r.code);
        if (r.code === 0) expect(fs.readFileSync(path.join(ws, 'out.o'), 'utf8')).toBe(TARGET);
        else {
          expect(fs.existsSync(path.join(ws, 'out.o'))).toBe(false);
          if (r.code !== 1) expect(r.stderr).toMatch(/^dircache: error: \S.*\n$/);
        }
        const after = snapshot(root);
        const lruKey = `${entryId}/lru`;
        for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
          if (before[k] === after[k] || k.startsWith(`${ADMIN_DIR}/stats/`)) continue;
          // a hit writes its access time (and this client's counters), nothing else
          expect(k).toBe(lruKey);
          const [b, a] = [before[k]!, after[k]!].map((s) => Buffer.from(s.split(' ')[2]!, 'base64'));
          expect(a.length).toBe(Math.max(b!.length, ACCESS_OFFSET + ACCESS_WIDTH));
          // (a record shorter than the access field, e.g. an emptied one, only grows by the pwrite)
          for (let i = 0; i < b!.length; i++) if (i < ACCESS_OFFSET || i >= ACCESS_OFFSET + ACCESS_WIDTH) expect(a![i]).toBe(b![i]);
        }
      }),
      { numRuns: 16 * RUNS },
    );
  }, 300_000);
});
