import { parseFast } from './argv.js';
import { type OutputFlags, runGuarded } from './output.js';
import { globalOptions } from './commands/common.js';
import { downloadCommand, uploadCommand } from './commands/transfer.js';
import { runCommand } from './commands/run.js';

/**
 * The entry point. A build calls dircache once per job, so download, upload and run in their plain
 * forms skip loading yargs (see src/argv.ts); everything else goes to the full CLI. This file is
 * bundled as CommonJS (bin/dircache): Node's ES module loader alone costs a hit several ms, so it
 * has no top-level await, and the full CLI stays a separate ES module bundle, imported on demand.
 */
const hot = [downloadCommand, uploadCommand, runCommand];
const argv = process.argv.slice(2);
const fast = parseFast(argv, hot, globalOptions);
if (fast) {
  // parseFast checked the args against this command's own option specs
  const handler = hot.find((c) => c.command === fast.command)!.handler as (a: OutputFlags) => Promise<void>;
  void runGuarded(handler, fast.args as OutputFlags);
} else {
  void import('./cli-full.js').then((full) => full.main(argv));
}
