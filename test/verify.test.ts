import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkCache } from '../src/check.js';
import { snapshot } from './helpers.js';
import { admin, download, entryOf, headOf, listed, makeFixture, upload } from './admin-fixture.js';

// real CLI runs, many per test: allow for a loaded machine
describe('dircache verify', { timeout: 300_000 }, () => {
  it('finds one flipped byte, and --fix removes that entry through the LRU', () => {
    const f = makeFixture();
    for (const j of ['good', 'bad', 'other']) upload(f, j);
    const badDir = entryOf(f, 'bad');
    const data = path.join(badDir, 'data', 'out', 'bad.bin');
    const bytes = fs.readFileSync(data);
    bytes[777] = bytes[777]! ^ 1;
    fs.writeFileSync(data, bytes);
    const badSize = listed(f).find((e) => e.job === 'bad')!.size;
    const before = snapshot(f.cache);

    const r = admin(f, 'verify');
    expect(r.code).toBe(1);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^corrupt: bad\/key-\w+-last|^corrupt: bad\/key-\w+-first/);
    expect(lines[0]).toMatch(/\(bad\): data\/out\/bad\.bin does not match its recorded digest \(xxh64:[0-9a-f]{16}, expected xxh64:[0-9a-f]{16}\)$/);
    expect(lines[1]).toMatch(/^verify: checked 3 entries \(.*\): 1 corrupt$/);
    expect(snapshot(f.cache)).toEqual(before);

    const some = admin(f, 'verify', '--job', 'go?d', '--json');
    expect(some.code).toBe(0);
    expect(some.json()).toMatchObject({ checked: 1, corrupt: [] });

    const totalBefore = headOf(f.cache).total;
    const fix = admin(f, 'verify', '--fix', '--json');
    expect(fix.code).toBe(0);
    expect(fix.json()).toMatchObject({ checked: 3, removed: 1, corrupt: [{ job: 'bad' }] });
    expect(fs.existsSync(badDir)).toBe(false);
    expect(headOf(f.cache)).toMatchObject({ entries: 2, total: totalBefore - badSize });
    expect(checkCache(f.cache).problems).toEqual([]);
    expect(download(f, 'bad')).toBe('miss');
    expect(download(f, 'good')).toBe('hit');
    expect(admin(f, 'verify').code).toBe(0);
  });

  it('prints nothing with --quiet and one JSON object with --json', () => {
    const f = makeFixture();
    upload(f, 'a');
    const q = admin(f, 'verify', '--quiet');
    expect(q).toMatchObject({ code: 0, stdout: '', stderr: '' });
    const j = admin(f, 'verify', '--json');
    expect(j.json()).toMatchObject({ checked: 1, removed: 0, corrupt: [] });
  });
});
