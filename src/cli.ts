import { parseFast } from './argv.js';
import { type OutputFlags, runGuarded } from './output.js';
import { globalOptions } from './commands/common.js';
import { downloadCommand, uploadCommand } from './commands/transfer.js';
import { runCommand } from './commands/run.js';

/**
 * The entry point. A build calls dircache once per job, so download, upload and run in their plain
 * forms skip loading yargs (see src/argv.ts); everything else goes to the full CLI.
 */
const hot = [downloadCommand, uploadCommand, runCommand];
const argv = process.argv.slice(2);
const fast = parseFast(argv, hot, globalOptions);
if (fast) {
  // parseFast checked the args against this command's own option specs
  const handler = hot.find((c) => c.command === fast.command)!.handler as (a: OutputFlags) => Promise<void>;
  await runGuarded(handler, fast.args as OutputFlags);
} else {
  await (await import('./cli-full.js')).main(argv);
}
