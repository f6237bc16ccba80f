import { parseFast } from './argv.js';
import { type OutputFlags, runGuarded } from './output.js';
import { globalOptions } from './commands/common.js';
import { downloadCommand, uploadCommand } from './commands/transfer.js';
import { runCommand } from './commands/run.js';

/**
 * The entry point, bundled as CommonJS and run by bin/dircache. A build calls dircache once per
 * job, so download, upload and run in their plain forms skip loading yargs (see src/argv.ts);
 * everything else goes to the full CLI, a separate ES module bundle that bin/dircache imports on
 * demand (the bundle itself runs as a script compiled with a code cache, where Node 20 has no
 * dynamic import()).
 */
const hot = [downloadCommand, uploadCommand, runCommand];

export function main(argv: string[], importFull: () => Promise<{ main(argv: string[]): Promise<void> }>): Promise<void> {
  const fast = parseFast(argv, hot, globalOptions);
  if (!fast) return importFull().then((full) => full.main(argv));
  // parseFast checked the args against this command's own option specs
  const handler = hot.find((c) => c.command === fast.command)!.handler as (a: OutputFlags) => Promise<void>;
  return runGuarded(handler, fast.args as OutputFlags);
}
