import * as fs from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, openCache } from '../src/index.js';
import { initCache, makeRepo, snapshot, tempDir } from './helpers.js';

let root: string;
let a: string;
let b: string;

beforeEach(() => {
  const t = tempDir();
  root = initCache(join(t, 'cache'));
  a = makeRepo(join(t, 'a'), { 'src.txt': 'source\n' });
  b = makeRepo(join(t, 'b'), { 'src.txt': 'source\n' });
});

const env = { DIRCACHE_DIGEST_CACHE: '' };

describe('library API', () => {
  it('upload from one workspace, download into another, with stats counted as the CLI does', async () => {
    fs.writeFileSync(join(a, 'out.txt'), 'built\n');
    const ca = openCache({ cache: root, cwd: a, env });
    const up = await ca.upload({ job: 'build', targets: ['out.txt'], deps: ['src.txt'], exeTime: 2.5 });
    expect(up).toMatchObject({ uploaded: true, files: 1 });

    const cb = openCache({ cache: root, cwd: b, env });
    const down = await cb.download({ job: 'build' });
    expect(down).toMatchObject({ hit: true, files: 1, bytes: 6, exeTime: 2.5 });
    expect(fs.readFileSync(join(b, 'out.txt'), 'utf8')).toBe('built\n');
    expect(cb.stats()).toMatchObject({ hits: 1, misses: 0, uploads: 1, bytesIn: up.bytes, bytesOut: 6, timeSaved: 2.5, entries: 1 });
  });

  it('run: a miss runs the command in cwd and uploads; the next run in another clone is a hit', async () => {
    const cmd = ['sh', '-c', 'tr a-z A-Z < src.txt > out.txt'];
    const ra = await openCache({ cache: root, cwd: a, env }).run({ job: 'upper', targets: ['out.txt'], deps: ['src.txt'], command: cmd });
    expect(ra).toMatchObject({ hit: false, ran: true, exitCode: 0, upload: { uploaded: true } });
    const rb = await openCache({ cache: root, cwd: b, env }).run({ job: 'upper', targets: ['out.txt'], deps: ['src.txt'], command: cmd });
    expect(rb).toMatchObject({ hit: true, ran: false, exitCode: 0 });
    expect(fs.readFileSync(join(b, 'out.txt'), 'utf8')).toBe('SOURCE\n');
  });

  it('run: a failing command keeps its exit code and uploads nothing', async () => {
    const c = openCache({ cache: root, cwd: a, env });
    const r = await c.run({ job: 'bad', targets: ['src.txt'], command: ['sh', '-c', 'exit 5'] });
    expect(r).toMatchObject({ hit: false, ran: true, exitCode: 5 });
    expect(r.upload).toBeUndefined();
    expect(c.stats()).toMatchObject({ uploads: 0, entries: 0 });
  });

  it('modes: read-only never stores, write-only never looks, off needs no cache', async () => {
    fs.writeFileSync(join(a, 'out.txt'), 'x');
    const before = snapshot(root);
    const ro = openCache({ cache: root, cwd: a, env, mode: 'read-only' });
    expect(await ro.upload({ job: 'j', targets: ['out.txt'] })).toMatchObject({ uploaded: false, reason: 'disabled' });
    expect(snapshot(root)).toEqual(before);

    await openCache({ cache: root, cwd: a, env }).upload({ job: 'j', targets: ['out.txt'] });
    const wo = openCache({ cache: root, cwd: b, env, mode: 'write-only' });
    expect(await wo.download({ job: 'j' })).toMatchObject({ hit: false });
    expect(fs.existsSync(join(b, 'out.txt'))).toBe(false);

    const off = openCache({ cwd: b, env: { DIRCACHE_MODE: 'off' } });
    expect(off.mode).toBe('off');
    expect(await off.run({ job: 'j', targets: ['out.txt'], command: ['sh', '-c', 'echo y > out.txt'] })).toMatchObject({ ran: true, exitCode: 0, upload: { uploaded: false, reason: 'disabled' } });
  });

  it('gc evicts down to a target, as dircache gc does', async () => {
    fs.writeFileSync(join(a, 'out.txt'), 'x'.repeat(1000));
    const c = openCache({ cache: root, cwd: a, env });
    await c.upload({ job: 'j', targets: ['out.txt'] });
    expect(c.stats().entries).toBe(1);
    const r = await c.gc({ target: 0, graceMs: 60_000 });
    expect(r).toMatchObject({ entries: 1, dryRun: false });
    expect(c.stats()).toMatchObject({ entries: 0, used: 0 });
  });

  it('a bad DIRCACHE_MODE is a ConfigError naming the variable', () => {
    let err: unknown;
    try {
      openCache({ cache: root, cwd: a, env: { DIRCACHE_MODE: 'sometimes' } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('EMODE');
    expect((err as Error).message).toMatch(/^DIRCACHE_MODE='sometimes' is not valid/);
  });
});
