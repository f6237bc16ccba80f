import yargs, { type Argv, type CommandModule } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { EXIT } from './errors.js';
import { type OutputFlags, reportError } from './output.js';
import * as init from './commands/init.js';
import { configCommand } from './commands/config.js';
import * as admin from './commands/admin.js';
import { downloadCommand, uploadCommand } from './commands/transfer.js';
import { runCommand } from './commands/run.js';
import { statsCommand } from './commands/stats.js';

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
];

/** Errors become one line and an exit code; see README "Exit codes". */
function guarded(fn: Command['handler']) {
  return async (a: OutputFlags) => {
    try {
      await fn(a as never);
    } catch (e) {
      process.exitCode = reportError(a, e);
    }
  };
}

export async function main(argv: string[]): Promise<void> {
  let y = yargs(argv)
    .scriptName('dircache')
    .usage('$0 <command> [options]\n\nA shared build cache in a directory (NFS-friendly, no daemon).')
    .option('json', { type: 'boolean', describe: 'print one JSON object (for scripts)' })
    .option('quiet', { alias: 'q', type: 'boolean', describe: 'print nothing but errors' })
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
    .version();
  for (const c of commands) y = y.command({ ...c, handler: guarded(c.handler) } as unknown as CommandModule) as typeof y;
  await y.parseAsync();
}

await main(hideBin(process.argv));
