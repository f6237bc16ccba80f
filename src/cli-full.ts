import yargs, { type Argv, type CommandModule } from 'yargs';
import { EXIT } from './errors.js';
import { readFileSync } from 'node:fs';
import { runGuarded } from './output.js';
import { packagePath } from './package-root.js';
import { globalOptions } from './commands/common.js';
import * as init from './commands/init.js';
import { configCommand } from './commands/config.js';
import * as admin from './commands/admin.js';
import { downloadCommand, uploadCommand } from './commands/transfer.js';
import { runCommand } from './commands/run.js';
import { statsCommand } from './commands/stats.js';
import { serveCommand } from './commands/serve.js';

interface Command {
  command: string;
  describe: string;
  builder: (y: Argv) => Argv<any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- each command types its own args
  handler: (a: never) => void | Promise<void>;
}

const commands: Command[] = [
  { command: init.command, describe: init.describe, builder: init.builder, handler: init.handler },
  configCommand,
  downloadCommand,
  uploadCommand,
  runCommand,
  statsCommand,
  admin.gcCommand,
  admin.repairCommand,
  admin.verifyCommand,
  admin.lsCommand,
  admin.rmCommand,
  serveCommand,
];

/** The whole CLI, with help and usage errors; src/cli.ts sends here what its fast path does not take. */
export async function main(argv: string[]): Promise<void> {
  let y = yargs(argv)
    .scriptName('dircache')
    .usage('$0 <command> [options]\n\nA shared build cache in a directory (NFS-friendly, no daemon).')
    .options(globalOptions)
    .demandCommand(1, 'give a command; see dircache --help')
    .strict()
    .recommendCommands()
    .epilog(
      'Exit codes: 0 ok/hit, 1 miss (download), 2 error, 3 usage, 4 config, 5 lock timeout, 6 permission.\n' +
        'Environment: DIRCACHE_DIR, DIRCACHE_PERM, DIRCACHE_FILE_SYNC, DIRCACHE_REPO_KEY.',
    )
    .fail((msg, err) => {
      if (err) throw err;
      process.stderr.write(`dircache: error: ${msg}\nrun 'dircache --help' for usage\n`);
      process.exit(EXIT.usage);
    })
    .help()
    .alias('help', 'h')
    .version((JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version: string }).version);
  for (const c of commands) y = y.command({ ...c, handler: (a: never) => runGuarded(c.handler, a) } as unknown as CommandModule) as typeof y;
  await y.parseAsync();
}

