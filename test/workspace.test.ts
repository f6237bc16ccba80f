/** Restoring into a workspace that other restores are writing to at the same time (make -j). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, cliSpawn, git, initCache, makeRepo, tempDir } from './helpers.js';

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
