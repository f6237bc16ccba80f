/**
 * The trust boundary (issue 5.8): anyone who can write the share can write an entry, so these tests
 * craft entries by hand — a valid checksum, linked in the LRU so they are real candidates — and show
 * that a download never writes outside the workspace, never follows a stored symlink, and never
 * restores a setuid bit or a device node.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Cache } from '../src/cache.js';
import { type Target, encodeInfo, entrySize } from '../src/info.js';
import { jobToPath } from '../src/jobpath.js';
import { BIN, cli, initCache, snapshot, targetDigest, tempDir, testEnv, writeFiles } from './helpers.js';
import { cacheProblems } from './invariants.js';

let dir: string;
let root: string;
let ws: string;
let elsewhere: string;

beforeEach(() => {
  dir = tempDir();
  root = initCache(path.join(dir, 'cache'), '10M');
  ws = path.join(dir, 'ws');
  elsewhere = path.join(dir, 'elsewhere');
  fs.mkdirSync(ws);
  fs.mkdirSync(elsewhere);
  writeFiles(ws, { 'keep.txt': 'mine\n' });
  writeFiles(elsewhere, { 'victim.txt': 'do not touch\n' });
});

afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

type Crafted = Omit<Partial<Target>, 'kind'> & { path: string; kind: string; data?: string };

/** Write an entry for `job` by hand (checksum valid, no deps: it matches anywhere) and link it as newest. */
async function craft(job: string, targets: Crafted[], dataLinks: Record<string, string> = {}): Promise<string> {
  const id = `${jobToPath(job)}/key-${'c'.repeat(16)}-first`;
  const entry = path.join(root, id);
  fs.mkdirSync(path.join(entry, 'data'), { recursive: true });
  const full: Target[] = [];
  for (const { data, ...t } of targets) {
    if (data !== undefined) {
      const f = path.join(entry, 'data', t.path);
      fs.mkdirSync(path.dirname(f), { recursive: true });
      fs.writeFileSync(f, data);
    }
    full.push({ mode: 0o644, size: data?.length ?? 0, digest: data === undefined ? '' : await targetDigest(data), link: '', ...t } as Target);
  }
  for (const [rel, to] of Object.entries(dataLinks)) fs.symlinkSync(to, path.join(entry, 'data', rel));
  const text = encodeInfo({ job, repoKey: 'crafted', inputs: {}, deps: [], targets: full, exeTime: 1, host: 'evil', user: 'mallory', created: Date.now() });
  fs.writeFileSync(path.join(entry, 'info'), text);
  const cache = Cache.open({ cache: root, cwd: ws, env: {} });
  const size = full.reduce((n, t) => n + t.size, 0) + Buffer.byteLength(text);
  expect(size).toBe(entrySize({ targets: full } as never, text));
  await cache.updateShard(cache.shardOf(jobToPath(job)), 'craft', (txn) => txn.pushNewest(id, size, Date.now(), Date.now()));
  return id;
}

function downloadCli(job: string) {
  return cli(['download', '--job', job, '--cache', root], { cwd: ws });
}

/** What must hold after any crafted download: nothing outside the workspace changed or appeared. */
function expectNothingOutside(before: Record<string, string>): void {
  expect(fs.readdirSync(dir).sort()).toEqual(['cache', 'elsewhere', 'ws']);
  expect(snapshot(elsewhere)).toEqual(before);
}

function expectNoSetuid(d: string): void {
  for (const [rel, what] of Object.entries(snapshot(d))) {
    const mode = parseInt(what.split(' ')[1]!, 8);
    if (what.startsWith('file') || what.startsWith('dir')) expect(mode & 0o7000, `${rel} has ${what}`).toBe(what.startsWith('dir') ? mode & 0o2000 : 0);
  }
}

describe('crafted entries', () => {
  const refused: Array<[string, Crafted[], RegExp]> = [
    ['a target path with ..', [{ path: '../escape', kind: 'file', data: 'pwned\n' }], /target path '\.\.\/escape' has a '\.\.' component/],
    ['a deeper .. path', [{ path: 'a/../../escape', kind: 'file', data: 'pwned\n' }], /has a '\.\.' component/],
    ['an absolute target path', [{ path: '/tmp/dircache-trust-abs', kind: 'file', data: 'pwned\n' }], /is absolute/],
    ['a setuid file', [{ path: 'tool', kind: 'file', mode: 0o4755, data: '#!/bin/sh\n' }], /mode 4755; setuid, setgid, sticky and type bits are refused/],
    ['a setgid dir', [{ path: 'd', kind: 'dir', mode: 0o2755 }], /mode 2755; setuid/],
    ['a device node', [{ path: 'dev', kind: 'chardev', mode: 0o666 }], /unsupported kind 'chardev'/],
    ['a fifo', [{ path: 'pipe', kind: 'fifo', mode: 0o666 }], /unsupported kind 'fifo'/],
  ];
  for (const [what, targets, message] of refused) {
    it(`refuses ${what}: a miss with a warning, nothing written anywhere`, async () => {
      await craft('evil', targets);
      const outside = snapshot(elsewhere);
      const mine = snapshot(ws);
      const r = downloadCli('evil');
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('miss: evil\n');
      expect(r.stderr).toMatch(/^dircache: warning: skipping damaged entry: .*\n$/);
      expect(r.stderr).toMatch(message);
      expect(snapshot(ws)).toEqual(mine);
      expectNothingOutside(outside);
      expect(fs.existsSync('/tmp/dircache-trust-abs')).toBe(false);
    });
  }

  it('does not write through a symlink already in the workspace (out -> elsewhere, target out/x)', async () => {
    fs.symlinkSync(elsewhere, path.join(ws, 'out'));
    await craft('evil', [{ path: 'out/x', kind: 'file', data: 'pwned\n' }]);
    const outside = snapshot(elsewhere);
    const mine = snapshot(ws);
    const r = downloadCli('evil');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('refusing to restore through the symlink out in the workspace');
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    expect(snapshot(ws)).toEqual(mine);
    expectNothingOutside(outside);
  });

  it('does not write through a symlink target it restores itself (lnk -> elsewhere, then lnk/x)', async () => {
    await craft('evil', [
      { path: 'lnk', kind: 'symlink', link: elsewhere },
      { path: 'lnk/x', kind: 'file', data: 'pwned\n' },
    ]);
    const outside = snapshot(elsewhere);
    const mine = snapshot(ws);
    const r = downloadCli('evil');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('target lnk/x is under lnk, which is a symlink, not a dir');
    expect(snapshot(ws)).toEqual(mine);
    expectNothingOutside(outside);
  });

  it('restores a symlink to /etc/passwd as a link, never copying what it points at', async () => {
    await craft('links', [
      { path: 'pw', kind: 'symlink', link: '/etc/passwd' },
      { path: 'up', kind: 'symlink', link: '../elsewhere/victim.txt' },
    ]);
    const outside = snapshot(elsewhere);
    const r = downloadCli('links');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const [name, to] of [['pw', '/etc/passwd'], ['up', '../elsewhere/victim.txt']]) {
      expect(fs.lstatSync(path.join(ws, name!)).isSymbolicLink()).toBe(true);
      expect(fs.readlinkSync(path.join(ws, name!))).toBe(to);
    }
    expectNothingOutside(outside);
  });

  const secret = 'do not touch\n';
  const throughLinks: Array<[string, string, Record<string, (elsewhere: string) => string>]> = [
    ['as the data file itself', 'victim.txt', { 'victim.txt': (e) => path.join(e, 'victim.txt') }],
    ['as a dir on the way to it', 'sub/victim.txt', { sub: (e) => e }],
  ];
  for (const [what, target, links] of throughLinks) {
    it(`does not read a data file through a symlink stored in the entry ${what}: a miss, the entry is dropped`, async () => {
      // the info promises exactly the content the link points at, so only refusing to follow it helps
      const id = await craft('evil', [{ path: target, kind: 'file', size: secret.length, digest: await targetDigest(secret) }], Object.fromEntries(Object.entries(links).map(([k, f]) => [k, f(elsewhere)])));
      const mine = snapshot(ws);
      const r = downloadCli('evil');
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`target ${target} is reached through a symlink inside the entry`);
      expect(r.stderr).toContain('was removed');
      expect(snapshot(ws)).toEqual(mine);
      expect(fs.existsSync(path.join(root, id))).toBe(false);
      expect(cacheProblems(root)).toEqual([]);
    });
  }

  // a file of more than one 1 MiB chunk is copied by the kernel while it is hashed: both ways are guarded
  for (const [kind, bytes] of [['small', 1000], ['big', 3 * 2 ** 20]] as const) {
    it(`does not hang on a FIFO in the place of a ${kind} data file: a miss, the entry is dropped`, async () => {
      const id = await craft('evil', [{ path: 'pipe.txt', kind: 'file', data: 'h'.repeat(bytes) }]);
      const data = path.join(root, id, 'data', 'pipe.txt');
      fs.rmSync(data);
      execFileSync('mkfifo', [data]);
      const mine = snapshot(ws);
      const r = downloadCli('evil');
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/is corrupt and was removed: target pipe\.txt does not match its recorded digest \(got 0 bytes/);
      expect(snapshot(ws)).toEqual(mine);
      expect(fs.existsSync(path.join(root, id))).toBe(false);
      expect(cacheProblems(root)).toEqual([]);
    });

    it(`refuses a crafted size of a ${kind} file: the content does not match the size and digest recorded, a miss and the entry is removed`, async () => {
      const id = await craft('evil', [{ path: 'big', kind: 'file', data: 'x'.repeat(bytes) }]);
      fs.writeFileSync(path.join(root, id, 'data', 'big'), 'x'.repeat(bytes * 5)); // more than the info says
      const mine = snapshot(ws);
      const r = downloadCli('evil');
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`is corrupt and was removed: target big does not match its recorded digest \\(got more than ${bytes} bytes`));
      expect(snapshot(ws)).toEqual(mine);
      expect(fs.existsSync(path.join(root, id))).toBe(false);
      expect(cacheProblems(root)).toEqual([]);
    });

    it(`never restores a setuid bit on a ${kind} file, whatever the data file in the entry carries`, async () => {
      const id = await craft('tool', [{ path: 'bin/tool', kind: 'file', mode: 0o755, data: '#!/bin/sh\necho hi\n'.padEnd(bytes, '#') }]);
      fs.chmodSync(path.join(root, id, 'data', 'bin', 'tool'), 0o4755);
      const r = downloadCli('tool');
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(fs.statSync(path.join(ws, 'bin', 'tool')).mode & 0o7777).toBe(0o755);
      expect(fs.statSync(path.join(ws, 'bin', 'tool')).size).toBe(bytes);
      expectNoSetuid(ws);
    });
  }

  it('reads a crafted data file far bigger than its recorded size only up to that size: under a 64 MiB file size limit, a 1 GiB one is a clean miss', async () => {
    const recorded = 3 * 2 ** 20;
    const id = await craft('evil', [{ path: 'big', kind: 'file', data: 'x'.repeat(recorded) }]);
    fs.truncateSync(path.join(root, id, 'data', 'big'), 2 ** 30); // sparse: no disk space taken
    const mine = snapshot(ws);
    // copying the whole file would end on the limit (EFBIG), not on the mismatch
    const r = spawnSync('bash', ['-c', 'ulimit -f 65536 && exec "$@"', 'bash', process.execPath, BIN, 'download', '--job', 'evil', '--cache', root], { cwd: ws, env: testEnv(), encoding: 'utf8' });
    expect(r.stderr).toMatch(new RegExp(`is corrupt and was removed: target big does not match its recorded digest \\(got more than ${recorded} bytes`));
    expect(r.status).toBe(1);
    expect(snapshot(ws)).toEqual(mine);
    expect(fs.existsSync(path.join(root, id))).toBe(false);
    expect(cacheProblems(root)).toEqual([]);
  });
});
