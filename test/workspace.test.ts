/** Restoring into a workspace: all or nothing, and beside other restores writing to it at the same time (make -j). */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Cache } from '../src/cache.js';
import { download } from '../src/download.js';
import { decodeInfo } from '../src/info.js';
import { upload } from '../src/upload.js';
import { restoreTargets } from '../src/workspace.js';
import { cli, cliSpawn, git, initCache, makeRepo, snapshot, targetDigest, tempDir, writeFiles } from './helpers.js';

describe('a target whose data was altered in the cache (same size)', () => {
  it('is refused with EDIGEST; the workspace is as it was, new dirs included; the download is a miss and drops the entry', async () => {
    const dir = tempDir();
    const root = initCache(path.join(dir, 'cache'), '10M');
    const ws = makeRepo(path.join(dir, 'ws'), { 'src.c': 'int x;\n' });
    writeFiles(ws, { 'out/a.txt': 'first target\n', 'out/sub/b.txt': 'second target\n' });
    const cache = Cache.open({ cache: root, cwd: ws, env: {} });
    const up = await upload(cache, { job: 'j', targets: ['out'], deps: ['src.c'], repoKey: 'k' });
    const entry = path.join(root, up.entry!);
    const info = decodeInfo(fs.readFileSync(path.join(entry, 'info'), 'utf8'), up.entry!);
    expect(info.targets.find((t) => t.path === 'out/sub/b.txt')?.digest).toBe(await targetDigest('second target\n'));
    fs.writeFileSync(path.join(entry, 'data/out/sub/b.txt'), 'second targeT\n');

    fs.rmSync(path.join(ws, 'out'), { recursive: true });
    writeFiles(ws, { 'out/a.txt': 'mine\n' });
    const before = snapshot(ws);
    const refused = restoreTargets(ws, path.join(entry, 'data'), info.targets);
    await expect(refused).rejects.toMatchObject({
      code: 'EDIGEST',
      message: `target out/sub/b.txt does not match its recorded digest (got 14 bytes, ${await targetDigest('second targeT\n')}, expected 14 bytes, ${await targetDigest('second target\n')})`,
    });
    expect(snapshot(ws)).toEqual(before);

    const r = await download(cache, { job: 'j', deps: ['src.c'] });
    expect(r).toMatchObject({ hit: false, warnings: [expect.stringMatching(/^entry j\/key-[0-9a-f]{16}-first is corrupt and was removed: target out\/sub\/b\.txt does not match its recorded digest/)] });
    expect(snapshot(ws)).toEqual(before);
    expect(fs.existsSync(entry)).toBe(false);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('a target of several chunks (uploaded one chunk while the next is read, restored by a kernel copy while it is hashed)', () => {
  it('uploads and restores byte-exact, and a byte altered mid-file is refused with no temp file left', async () => {
    const dir = tempDir();
    const root = initCache(path.join(dir, 'cache'), '100M');
    const ws = makeRepo(path.join(dir, 'ws'), { 'src.c': 'int x;\n' });
    const content = randomBytes(5 * 2 ** 20 + 12345); // five full 1 MiB chunks and a short one
    fs.writeFileSync(path.join(ws, 'big.bin'), content);
    const cache = Cache.open({ cache: root, cwd: ws, env: {} });
    const up = await upload(cache, { job: 'big', targets: ['big.bin'], deps: ['src.c'], repoKey: 'k' });
    const info = decodeInfo(fs.readFileSync(path.join(root, up.entry!, 'info'), 'utf8'), up.entry!);
    expect(info.targets[0]).toMatchObject({ size: content.length, digest: await targetDigest(content) });
    expect(fs.readFileSync(path.join(root, up.entry!, 'data', 'big.bin')).equals(content)).toBe(true);

    fs.rmSync(path.join(ws, 'big.bin'));
    expect(await download(cache, { job: 'big', deps: ['src.c'] })).toMatchObject({ hit: true, files: 1, bytes: content.length });
    expect(fs.readFileSync(path.join(ws, 'big.bin')).equals(content)).toBe(true);

    fs.rmSync(path.join(ws, 'big.bin'));
    const data = path.join(root, up.entry!, 'data', 'big.bin');
    const fd = fs.openSync(data, 'r+');
    fs.writeSync(fd, Buffer.from([content[3 * 2 ** 20]! ^ 1]), 0, 1, 3 * 2 ** 20);
    fs.closeSync(fd);
    const before = snapshot(ws);
    await expect(restoreTargets(ws, path.join(root, up.entry!, 'data'), info.targets)).rejects.toMatchObject({ code: 'EDIGEST' });
    expect(snapshot(ws)).toEqual(before);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('an entry data file rewritten in place while restores copy it', () => {
  it('is never handed out with bytes other than those it was hashed with: each restore is byte-exact or refused', async () => {
    const dir = tempDir();
    const root = initCache(path.join(dir, 'cache'), '100M');
    const ws = makeRepo(path.join(dir, 'ws'), { 'src.c': 'int x;\n' });
    const content = randomBytes(16 * 2 ** 20); // big enough to be copied by the kernel while it is hashed
    fs.writeFileSync(path.join(ws, 'big.bin'), content);
    const cache = Cache.open({ cache: root, cwd: ws, env: {} });
    const up = await upload(cache, { job: 'big', targets: ['big.bin'], deps: ['src.c'], repoKey: 'k' });
    const info = decodeInfo(fs.readFileSync(path.join(root, up.entry!, 'info'), 'utf8'), up.entry!);
    const dataDir = path.join(root, up.entry!, 'data');
    // a byte near the end flips and flips back, nonstop: a restore whose hash read one value and
    // whose copy read the other would hand out a file that its digest does not describe
    const at = content.length - 100;
    const flipper = spawn(process.execPath, ['-e', `
      const fs = require('node:fs');
      const fd = fs.openSync(${JSON.stringify(path.join(dataDir, 'big.bin'))}, 'r+');
      const bytes = [Buffer.from([${content[at]! ^ 1}]), Buffer.from([${content[at]}])];
      for (let i = 0; ; i++) fs.writeSync(fd, bytes[i & 1], 0, 1, ${at});`], { stdio: 'ignore' });
    try {
      let exact = 0, refused = 0;
      for (let i = 0; i < 20; i++) {
        fs.rmSync(path.join(ws, 'big.bin'), { force: true });
        try {
          await restoreTargets(ws, dataDir, info.targets);
        } catch (e) {
          expect(e).toMatchObject({ code: 'EDIGEST' });
          expect(fs.existsSync(path.join(ws, 'big.bin'))).toBe(false);
          refused++;
          continue;
        }
        expect(fs.readFileSync(path.join(ws, 'big.bin')).equals(content)).toBe(true);
        exact++;
      }
      expect(exact + refused).toBe(20);
    } finally {
      flipper.kill('SIGKILL');
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('restores running side by side in one workspace', () => {
  it('all hit when they create the same new output dirs at once', async () => {
    const dir = tempDir();
    const cache = initCache(path.join(dir, 'cache'), '50M');
    const ws = makeRepo(path.join(dir, 'ws'), { 'src.c': 'int x;\n' });
    const jobs = Array.from({ length: 12 }, (_, i) => `obj${i}`);
    for (const j of jobs) {
      fs.mkdirSync(path.join(ws, 'out', 'deep'), { recursive: true });
      fs.writeFileSync(path.join(ws, 'out', 'deep', `${j}.o`), `object ${j}\n`);
      const r = cli(['upload', '--cache', cache, '--job', j, '--target', `out/deep/${j}.o`, '--dep', 'src.c'], { cwd: ws });
      expect(r.stderr).toBe('');
    }
    for (let round = 0; round < 3; round++) {
      const other = path.join(dir, `other${round}`);
      git(dir, 'clone', '-q', ws, other);
      const runs = jobs.map((j) => {
        const c = cliSpawn(['download', '--cache', cache, '--job', j, '--dep', 'src.c'], { cwd: other });
        let stderr = '';
        c.stderr.on('data', (d) => (stderr += d));
        return new Promise<[number | null, string]>((res) => c.on('close', (code) => res([code, stderr])));
      });
      for (const [code, stderr] of await Promise.all(runs)) {
        expect(stderr).toBe('');
        expect(code).toBe(0);
      }
      for (const j of jobs) expect(fs.readFileSync(path.join(other, 'out', 'deep', `${j}.o`), 'utf8')).toBe(`object ${j}\n`);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
