import type { Argv } from 'yargs';
import { formatSize } from '../size.js';
import { printResult } from '../output.js';
import { type ClientArgs, clientOptions, openFromArgs } from './common.js';

export const configCommand = {
  command: 'config',
  describe: 'print the effective settings and where each came from (flag, env, repo file, config.py, default)',
  builder: (y: Argv) => clientOptions(y),
  handler(a: ClientArgs): void {
    const s = openFromArgs(a).settings;
    printResult(a, s, () => [
      `cache       ${s.cache}  (${s.sources.cache})`,
      `size        ${formatSize(s.size)}  (config.py; ${s.shards} shard${s.shards > 1 ? 's' : ''} of ${formatSize(Math.floor(s.size / s.shards))})`,
      `perm        ${s.perm}  (${s.sources.perm})`,
      `file_sync   ${s.fileSync}  (${s.sources.file_sync})`,
      `repo_key    ${s.repoKey ?? '<repo root> <HEAD sha>'}  (${s.sources.repo_key})`,
      `lock_stale  ${s.lockStale / 1000} s, lock_timeout ${s.lockTimeout / 1000} s`,
    ]);
  },
};
