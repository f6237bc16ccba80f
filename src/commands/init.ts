import type { Argv } from 'yargs';
import { initCache } from '../init.js';
import { formatSize } from '../size.js';
import { parseDuration } from '../size.js';
import { type OutputFlags, printResult } from '../output.js';

export const command = 'init <dir>';
export const describe = 'create a cache in DIR (new or empty) with LMAKE/config.py from the template';

export function builder(y: Argv) {
  return y
    .positional('dir', { type: 'string', demandOption: true, describe: 'the cache dir, e.g. on an NFS share' })
    .option('size', { type: 'string', demandOption: true, describe: "total size bound: bytes or k/M/G/T (powers of 1024), e.g. 1.5T" })
    .option('perm', { choices: ['none', 'group', 'other'] as const, default: 'none' as const, describe: "'group'/'other': files get group/other rw whatever the umask; dirs setgid" })
    .option('file-sync', { choices: ['none', 'dir', 'sync'] as const, default: 'dir' as const, describe: 'how hard to push changes to a network filesystem' })
    .option('shards', { type: 'number', describe: 'independent LRUs with a lock each (default: largest of 1,2,4,8,16 leaving >= 1 GiB each)' })
    .option('lock-stale', { type: 'string', describe: 'a lock unchanged this long is broken (default 30s)' })
    .option('lock-timeout', { type: 'string', describe: 'give up waiting for a lock after this long (default 120s)' })
    .example('$0 init /nfs/cache --size 1.5T --perm group', 'a group-shared 1.5 TiB cache');
}

type Args = OutputFlags & { dir: string; size: string; perm: 'none' | 'group' | 'other'; 'file-sync': 'none' | 'dir' | 'sync'; shards?: number; 'lock-stale'?: string; 'lock-timeout'?: string };

export function handler(a: Args): void {
  const r = initCache(a.dir, {
    size: a.size,
    perm: a.perm,
    fileSync: a['file-sync'],
    shards: a.shards,
    lockStale: a['lock-stale'] ? parseDuration(a['lock-stale']) : undefined,
    lockTimeout: a['lock-timeout'] ? parseDuration(a['lock-timeout']) : undefined,
  });
  printResult(a, r, () => [
    `created cache ${r.root}: size ${formatSize(r.size)}, ${r.shards} shard${r.shards > 1 ? 's' : ''}, perm ${r.perm}, file_sync ${r.fileSync}`,
    `settings: ${r.root}/LMAKE/config.py`,
    `to share by ACL instead of perm: ${r.setfacl}`,
    `clients: export DIRCACHE_DIR=${r.root}`,
  ]);
}
