import cliProgress from 'cli-progress';
import type { OutputFlags } from './output.js';
import { NO_PROGRESS, type Progress } from './progress.js';
import { formatSize } from './size.js';

// Apart from src/progress.ts so that only the admin commands load cli-progress, not every hit.

/** A bar on stderr, only on a terminal and never with --json or --quiet (cron, scripts). */
export function startProgress(flags: OutputFlags, label: string, total: number, unit = 'entries'): Progress {
  if (flags.json || flags.quiet || !process.stderr.isTTY) return NO_PROGRESS;
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {value}/{total} ${unit}, {size}`, stream: process.stderr, clearOnComplete: true, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  let bytes = 0;
  let max = total;
  bar.start(total, 0, { size: formatSize(0) });
  return {
    tick(items = 1, more = 0) {
      bytes += more;
      bar.increment(items, { size: formatSize(bytes) });
    },
    grow(n) {
      if (n > max) bar.setTotal((max = n));
    },
    stop() {
      bar.stop();
    },
  };
}
