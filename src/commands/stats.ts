import type { Argv } from 'yargs';
import { formatSize } from '../size.js';
import { printResult } from '../output.js';
import { type ClientArgs, clientFromArgs, clientOptions } from './common.js';

export const statsCommand = {
  command: 'stats',
  describe: 'hits, misses, uploads, bytes and time saved summed over all clients; size against quota; entry count',
  builder: (y: Argv) => clientOptions(y).example('$0 stats --json', ''),
  handler(a: ClientArgs): void {
    const s = clientFromArgs(a).stats();
    const lookups = s.hits + s.misses;
    printResult(a, s, () => [
      `hits        ${s.hits}${lookups ? ` (${((100 * s.hits) / lookups).toFixed(1)}% of ${lookups} lookups)` : ''}`,
      `misses      ${s.misses}`,
      `uploads     ${s.uploads}`,
      `bytes in    ${formatSize(s.bytesIn)}  (stored by uploads)`,
      `bytes out   ${formatSize(s.bytesOut)}  (restored by hits)`,
      `time saved  ${s.timeSaved.toFixed(1)} s`,
      `size        ${formatSize(s.used)} of ${formatSize(s.quota)} (${s.quota ? ((100 * s.used) / s.quota).toFixed(1) : '0'}%), ${s.entries} entries in ${s.shards} shard${s.shards > 1 ? 's' : ''}`,
      `clients     ${s.clients.length}`,
    ]);
  },
};
