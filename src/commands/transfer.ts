import type { Argv } from 'yargs';
import { EXIT } from '../errors.js';
import { formatSize } from '../size.js';
import { printResult, warn } from '../output.js';
import { type ClientArgs, clientFromArgs, clientOptionSpec, jobOptions, parseInputs, repoKeyOption } from './common.js';

type JobArgs = ClientArgs & { job: string; dep?: string[]; input?: string[] };

export const downloadCommand = {
  command: 'download',
  describe: 'restore a job\'s targets from the cache into this workspace (exit 0 hit, 1 miss)',
  options: { ...clientOptionSpec, ...jobOptions },
  builder: (y: Argv) => y.options(downloadCommand.options).example('$0 download --job obj/a.o --dep src/a.c', ''),
  async handler(a: JobArgs): Promise<void> {
    const r = await clientFromArgs(a).download({ job: a.job, deps: a.dep, inputs: parseInputs(a.input) });
    for (const w of r.warnings) warn(a, w);
    printResult(a, r, () => [
      r.hit ? `hit: ${a.job}: restored ${r.files} file(s), ${formatSize(r.bytes)} from ${r.entry} in ${r.elapsedMs.toFixed(1)} ms` : `miss: ${a.job}`,
    ]);
    if (!r.hit) process.exitCode = EXIT.miss;
  },
};

export const uploadCommand = {
  command: 'upload',
  describe: "store a job's targets in the cache, keyed by job, deps, inputs and repo key",
  options: {
    ...clientOptionSpec,
    ...jobOptions,
    ...repoKeyOption,
    target: { type: 'string', array: true, demandOption: true, describe: 'a file, symlink or dir (recursively) the job produced, relative to cwd' },
    'exe-time': { type: 'number', describe: 'seconds the job took (what a hit saves)' },
  } as const,
  builder: (y: Argv) => y.options(uploadCommand.options).example('$0 upload --job obj/a.o --target obj/a.o --dep src/a.c --input cc=gcc-12', ''),
  async handler(a: JobArgs & { target: string[]; 'repo-key'?: string; 'exe-time'?: number }): Promise<void> {
    const r = await clientFromArgs(a).upload({ job: a.job, targets: a.target, deps: a.dep, inputs: parseInputs(a.input), repoKey: a['repo-key'], exeTime: a['exe-time'] });
    for (const w of r.warnings) warn(a, w);
    printResult(a, r, () => [
      r.uploaded
        ? `uploaded: ${a.job}: ${r.files} file(s), ${formatSize(r.bytes)} as ${r.entry}${r.evicted ? ` (evicted ${r.evicted})` : ''}`
        : r.reason === 'disabled'
          ? `not uploaded: ${a.job}: this client may not write (DIRCACHE_MODE)`
          : `not uploaded: ${a.job}: an equal entry is already cached (${r.entry})`,
    ]);
  },
};
