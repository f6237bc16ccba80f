import type { Argv } from 'yargs';
import type { DownloadResult } from '../download.js';
import type { RunRequest } from '../run.js';
import { formatSize } from '../size.js';
import { printResult, warn } from '../output.js';
import { type ClientArgs, clientFromArgs, clientOptionSpec, jobOptions, parseInputs, repoKeyOption } from './common.js';

export type RunArgs = ClientArgs & {
  job: string;
  target: string[];
  dep?: string[];
  input?: string[];
  'deps-file'?: string;
  'repo-key'?: string;
  download: boolean;
  upload: boolean;
  '--'?: (string | number)[];
};

export const runCommand = {
  command: 'run',
  describe: "download a job's targets; on a miss run CMD and upload them (exit code: CMD's)",
  options: {
    ...clientOptionSpec,
    ...jobOptions,
    ...repoKeyOption,
    target: { type: 'string', array: true, demandOption: true, describe: 'a file, symlink or dir CMD makes, relative to cwd' },
    'deps-file': { type: 'string', describe: 'a Make-style .d file CMD writes (gcc -MD -MF FILE), read after CMD ran: its prerequisites are deps' },
    download: { type: 'boolean', default: true, describe: 'look in the cache first (--no-download: always run CMD)' },
    upload: { type: 'boolean', default: true, describe: 'store the result after a successful run (--no-upload: consume only)' },
  } as const,
  rest: true,
  builder: (y: Argv) =>
    y
      .usage('$0 run --job NAME --target PATH... [--dep PATH...] [--deps-file FILE] [--input K=V...] -- CMD ARGS...')
      .parserConfiguration({ 'populate--': true })
      .options(runCommand.options)
      .example('$0 run --job obj/a.o --target obj/a.o --deps-file obj/a.d -- gcc -c -MD -MF obj/a.d src/a.c -o obj/a.o', '')
      .epilog(
        'CMD runs without a shell, with stdin/stdout/stderr inherited; SIGTERM/SIGINT/SIGHUP are passed on to it. ' +
          'The exit code is always CMD\'s (128+N if signal N ended it; 0 on a hit). The command line is an input: another flag is another entry. ' +
          'A failed upload is a warning. DIRCACHE_MODE=read-only|write-only|off limits what every job of the build does.',
      ),
  async handler(a: RunArgs): Promise<void> {
    const r = await clientFromArgs(a).run({ ...runRequest(a), forwardSignals: true });
    for (const w of r.warnings) warn(a, w);
    // stdout belongs to CMD; only --json adds a line there (the last one)
    if (a.json) printResult(a, r, () => []);
    else if (r.hit && !a.quiet) process.stderr.write(hitLine(a.job, r.download!));
    process.exitCode = r.exitCode;
  },
};

export function runRequest(a: RunArgs): RunRequest {
  return {
    job: a.job,
    targets: a.target,
    command: (a['--'] ?? []).map(String),
    deps: a.dep,
    depsFile: a['deps-file'],
    inputs: parseInputs(a.input),
    repoKey: a['repo-key'],
    download: a.download,
    upload: a.upload,
  };
}

export const hitLine = (job: string, d: DownloadResult) => `dircache: hit: ${job}: restored ${d.files} file(s), ${formatSize(d.bytes)}, saved ${d.exeTime.toFixed(1)} s\n`;
