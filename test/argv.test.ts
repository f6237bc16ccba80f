import { describe, expect, it } from 'vitest';
import { parseFast } from '../src/argv.js';
import { globalOptions } from '../src/commands/common.js';
import { downloadCommand, uploadCommand } from '../src/commands/transfer.js';
import { runCommand } from '../src/commands/run.js';
import { cli, tempDir } from './helpers.js';

const hot = [downloadCommand, uploadCommand, runCommand];
const parse = (...argv: string[]) => parseFast(argv, hot, globalOptions);

describe('the fast path of the hot commands', () => {
  it('parses the plain forms: --opt value, --opt=value, greedy arrays, --no-x, -q, numbers, -- CMD', () => {
    expect(parse('upload', '--job', 'obj/a.o', '--target', 'a.o', 'b.o', '--dep=src/a.c', '--dep', 'x.h', '--exe-time', '2.5', '-q', '--json')).toEqual({
      command: 'upload',
      args: { job: 'obj/a.o', target: ['a.o', 'b.o'], dep: ['src/a.c', 'x.h'], 'exe-time': 2.5, quiet: true, json: true },
    });
    expect(parse('run', '--job', 'j', '--target', 't', '--no-upload', '--perm', 'group', '--', 'gcc', '-c', '--', 'x')).toEqual({
      command: 'run',
      args: { job: 'j', target: ['t'], upload: false, download: true, perm: 'group', '--': ['gcc', '-c', '--', 'x'] },
    });
    expect(parse('download', '--job', 'j', '--json=false', '--input', 'cc=gcc=12')).toEqual({ command: 'download', args: { job: 'j', json: false, input: ['cc=gcc=12'] } });
  });

  it('leaves everything else to yargs: help, other commands, unknown or misspelt options, bad values', () => {
    for (const argv of [
      [],
      ['--help'],
      ['download', '--help'],
      ['download', '--job', 'j', '-h'],
      ['gc', '--size', '1G'],
      ['download'], // --job is required
      ['download', '--job'], // no value
      ['download', '--job', '-x'],
      ['download', '--job', 'a', '--job', 'b'], // a scalar twice
      ['download', '--job', 'j', '--bogus', 'x'],
      ['download', '--job', 'j', '--perm', 'world'], // not a choice
      ['download', '--job', 'j', 'stray'],
      ['download', '--job', 'j', '--', 'x'], // download takes no command
      ['upload', '--job', 'j', '--target', 't', '--exe-time', 'soon'],
      ['upload', '--job', 'j', '--target', 't', '--no-job'],
      ['run', '--job', 'j', '--target', 't', '--upload=maybe'],
      ['download', '--fileSync', 'dir', '--job', 'j'], // yargs' camel-case spelling
    ]) {
      expect(parse(...argv), argv.join(' ')).toBeUndefined();
    }
  });

  it('gives the same outcome through the CLI whichever parser takes the command line', () => {
    const dir = tempDir();
    const fast = cli(['download', '--cache', dir, '--job', 'j']);
    const full = cli(['download', '--cache=' + dir, '--job', 'j', '--fileSync', 'dir']);
    for (const r of [fast, full]) {
      expect(r.code).toBe(4);
      expect(r.stderr).toBe(`dircache: error: ${dir} is not a dircache cache (no LMAKE/config.py); create one with: dircache init ${dir} --size SIZE\n`);
    }
  });
});
