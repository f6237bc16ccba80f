import type { Argv } from 'yargs';
import type { Cache } from '../cache.js';
import { readShardList } from '../check.js';
import { readInfo, removeEntry } from '../entries.js';
import { CorruptEntryError, EXIT, UsageError } from '../errors.js';
import { gc } from '../gc.js';
import { cleanup } from '../cleanup.js';
import { parseEntryName } from '../layout.js';
import { printResult, warn } from '../output.js';
import type { Progress } from '../progress.js';
import { startProgress } from '../progress-bar.js';
import { repair } from '../repair.js';
import { formatSize, parseDuration, parseSize } from '../size.js';
import { verify } from '../verify.js';
import { countEntries, globToRegExp, walkEntries } from '../walk.js';
import { type ClientArgs, clientOptions, openFromArgs } from './common.js';

/** Exit code of repair --dry-run and verify when they find problems they did not fix. */
const EXIT_PROBLEMS = EXIT.miss;

const EXIT_EPILOG =
  'Exit codes: 0 done (or nothing found), 1 problems found and not fixed (repair --dry-run, verify without --fix), ' +
  '2 error, 3 usage, 4 config, 5 lock timeout (the message names the lock\'s owner), 6 permission.';

const jobPattern = { type: 'string', describe: "job names to take, a pattern: * any characters ('/' too), ? one character" } as const;
const grace = {
  type: 'string',
  default: '1h',
  describe: "leftovers (reservations, tmp dirs) of another host's client are dead once this old; on this host a dead pid decides",
} as const;

type GcArgs = ClientArgs & { size?: string; percent?: number; 'older-than'?: string; grace: string; 'dry-run'?: boolean; wait?: boolean; 'cleanup-only'?: boolean };

export const gcCommand = {
  command: 'gc',
  describe: 'evict down to the size (or a lower target), evict entries unused for a while, remove leftovers of dead clients',
  builder: (y: Argv) =>
    clientOptions(y)
      .option('size', { type: 'string', describe: 'bring the cache down to this size (e.g. 800G); default its configured size' })
      .option('percent', { type: 'number', describe: 'bring the cache down to this percent of its configured size' })
      .conflicts('size', 'percent')
      .option('older-than', { type: 'string', describe: 'also evict entries not used for this long (30d, 12h)' })
      .option('grace', grace)
      .option('dry-run', { type: 'boolean', describe: 'say what would be removed, remove nothing' })
      .option('wait', { type: 'boolean', describe: 'do the cleanup (delete the trash, remove stale hint links) before exiting, not in a background process' })
      .option('cleanup-only', { type: 'boolean', describe: 'only do the cleanup, in this process (what gc starts in the background)' })
      .conflicts('cleanup-only', ['size', 'percent', 'older-than', 'dry-run', 'wait'])
      .example('$0 gc --percent 90 --older-than 30d --quiet', 'nightly from cron: keep 10% headroom, drop month-old entries')
      .epilog(
        'Evicted entries (and tmp dirs of dead uploads) are renamed into LMAKE/trash: their bytes are free for uploads at once. ' +
          'Deleting them and removing hint links to them is the cleanup, which gc leaves to a detached `dircache gc --cleanup-only` ' +
          '(its pid is in the output); the disk space is free once it is done. Use --wait when it must be free when gc returns. ' +
          'What a killed cleanup leaves, the next gc cleans up.\n\n' +
          EXIT_EPILOG,
      ),
  async handler(a: GcArgs): Promise<void> {
    const cache = openFromArgs(a);
    const graceMs = parseDuration(a.grace);
    if (a['cleanup-only']) {
      const r = await cleanup(cache, { graceMs });
      printResult(a, r, () => [`gc: deleted ${plural(r.trash, 'trash dir')}, removed ${plural(r.hints + r.hintTmp, 'stale hint link')}`]);
      return;
    }
    const target = a.size !== undefined ? parseSize(a.size) : a.percent !== undefined ? percentOf(cache, a.percent) : undefined;
    const opts = {
      target,
      olderThan: a['older-than'] !== undefined ? parseDuration(a['older-than']) : undefined,
      graceMs,
      dryRun: a['dry-run'],
      wait: a.wait,
    };
    const progress = startProgress(a, 'gc', cache.settings.shards, 'shards');
    const r = await gc(cache, { ...opts, progress }).finally(() => progress.stop());
    for (const w of r.warnings) warn(a, w);
    const would = r.dryRun ? 'would evict' : 'evicted';
    printResult(a, r, () => [
      `gc${r.dryRun ? ' (dry run)' : ''}: ${would} ${plural(r.entries, 'entry', 'entries')} (${formatSize(r.bytes)}); ` +
        `${r.dryRun ? 'would release' : 'released'} ${plural(r.reservations, 'dead reservation')} (${formatSize(r.reservedBytes)}); ` +
        `${r.dryRun ? 'would trash' : 'trashed'} ${plural(r.tmp, 'tmp dir')}; ` +
        (r.dryRun || a.wait
          ? `${r.dryRun ? 'would delete' : 'deleted'} ${plural(r.trash, 'trash dir')}, ${r.dryRun ? 'would remove' : 'removed'} ${plural(r.hints + r.hintTmp, 'stale hint link')}`
          : `deleting ${plural(r.trash, 'trash dir')} and stale hint links in the background${r.cleanupPid ? ` (pid ${r.cleanupPid})` : ''}`),
    ]);
  },
};

function percentOf(cache: Cache, percent: number): number {
  if (!(percent > 0 && percent <= 100)) throw new UsageError(`--percent ${percent}: give a number above 0 and at most 100`, 'EBADPERCENT');
  return Math.floor((cache.settings.size * percent) / 100);
}

type RepairArgs = ClientArgs & { grace: string; 'dry-run'?: boolean };

export const repairCommand = {
  command: 'repair',
  describe: 'rebuild every shard\'s LRU from what is on disk; remove incomplete entries, foreign files, broken hints, dead leftovers',
  builder: (y: Argv) =>
    clientOptions(y)
      .option('grace', grace)
      .option('dry-run', { type: 'boolean', describe: 'print the problems, fix nothing (exit 1 if there are any)' })
      .epilog(EXIT_EPILOG),
  async handler(a: RepairArgs): Promise<void> {
    const cache = openFromArgs(a);
    const progress = startProgress(a, 'repair', 0);
    const r = await repair(cache, { dryRun: a['dry-run'], graceMs: parseDuration(a.grace), progress }).finally(() => progress.stop());
    printResult(a, r, () => [
      ...r.problems,
      r.problems.length === 0
        ? `repair: nothing to fix; ${plural(r.entries, 'entry', 'entries')} (${formatSize(r.bytes)})`
        : `repair: ${plural(r.problems.length, 'problem')} ${r.dryRun ? 'found, nothing changed (run without --dry-run to fix)' : 'fixed'}; ` +
          `${plural(r.entries, 'valid entry', 'valid entries')} (${formatSize(r.bytes)})`,
    ]);
    if (r.dryRun && r.problems.length) process.exitCode = EXIT_PROBLEMS;
  },
};

type VerifyArgs = ClientArgs & { job?: string; fix?: boolean };

export const verifyCommand = {
  command: 'verify',
  describe: 're-hash entries against their info and report corrupt ones; --fix removes them',
  builder: (y: Argv) =>
    clientOptions(y)
      .option('job', jobPattern)
      .option('fix', { type: 'boolean', describe: 'remove corrupt entries (through the LRU, so the total stays right)' })
      .epilog(EXIT_EPILOG),
  async handler(a: VerifyArgs): Promise<void> {
    const cache = openFromArgs(a);
    const progress = startProgress(a, 'verify', countEntries(cache.root, cache.settings.shards));
    const r = await verify(cache, { pattern: a.job !== undefined ? globToRegExp(a.job) : undefined, fix: a.fix, progress }).finally(() => progress.stop());
    printResult(a, r, () => [
      ...r.corrupt.map((c) => `corrupt: ${c.id}${c.job !== undefined ? ` (${c.job})` : ''}: ${c.problem}`),
      `verify: checked ${plural(r.checked, 'entry', 'entries')} (${formatSize(r.bytes)}): ${r.corrupt.length} corrupt` + (a.fix ? `, ${r.removed} removed` : ''),
    ]);
    if (r.corrupt.length > r.removed) process.exitCode = EXIT_PROBLEMS;
  },
};

export interface ListedEntry {
  id: string;
  job: string;
  which: 'first' | 'last';
  shard: number;
  size: number;
  /** last use (epoch ms): a hit, or when it was placed */
  lastUse: number;
  created: number;
  exeTime: number;
}

/** Entries as their shards' lists hold them, most recently used first. */
function listEntries(cache: Cache, pattern: RegExp | undefined, onDamage: (msg: string) => void, progress: Progress): ListedEntry[] {
  const out: ListedEntry[] = [];
  for (let shard = 0; shard < cache.settings.shards; shard++) {
    const list = readShardList(cache.root, shard);
    if (list.problems.length) onDamage(`shard ${shard}: its LRU list is damaged (${list.problems[0]}); run dircache repair`);
    for (const id of list.order) {
      progress.tick(1, list.records.get(id)!.size);
      let got;
      try {
        got = readInfo(cache, id);
      } catch (e) {
        if (!(e instanceof CorruptEntryError)) throw e;
        onDamage(e.message);
        continue;
      }
      if (!got || (pattern && !pattern.test(got.info.job))) continue;
      const rec = list.records.get(id)!;
      const which = parseEntryName(id.slice(id.lastIndexOf('/') + 1))!.which;
      out.push({ id, job: got.info.job, which, shard, size: rec.size, lastUse: Math.max(rec.access, rec.placed), created: got.info.created, exeTime: got.info.exeTime });
    }
  }
  return out.sort((x, y) => y.lastUse - x.lastUse);
}

type LsArgs = ClientArgs & { job?: string };

export const lsCommand = {
  command: 'ls',
  describe: 'list entries, most recently used first: last use, age, size, run time, first/last, job',
  builder: (y: Argv) => clientOptions(y).option('job', jobPattern).example("$0 ls --job 'obj/*.o'", '').epilog(EXIT_EPILOG),
  handler(a: LsArgs): void {
    const cache = openFromArgs(a);
    const progress = startProgress(a, 'ls', countEntries(cache.root, cache.settings.shards));
    let entries: ListedEntry[];
    try {
      entries = listEntries(cache, a.job !== undefined ? globToRegExp(a.job) : undefined, (m) => warn(a, m), progress);
    } finally {
      progress.stop();
    }
    const bytes = entries.reduce((n, e) => n + e.size, 0);
    const now = Date.now();
    printResult(a, { entries, count: entries.length, bytes, size: cache.settings.size }, () => [
      ...entries.map((e) =>
        [new Date(e.lastUse).toISOString().slice(0, 19).replace('T', ' '), `${formatAge(now - e.created)} old`.padStart(9), formatSize(e.size).padStart(10), `${e.exeTime}s`.padStart(8), e.which.padEnd(5), e.job].join('  '),
      ),
      `${plural(entries.length, 'entry', 'entries')}, ${formatSize(bytes)} of ${formatSize(cache.settings.size)}`,
    ]);
  },
};

type RmArgs = ClientArgs & { job: string; 'dry-run'?: boolean };

export const rmCommand = {
  command: 'rm',
  describe: 'remove the entries of matching jobs (through the LRU, so the total stays right)',
  builder: (y: Argv) =>
    clientOptions(y)
      .option('job', { ...jobPattern, demandOption: true })
      .option('dry-run', { type: 'boolean', describe: 'list what would be removed, remove nothing' })
      .example("$0 rm --job 'test:*'", 'drop every test result')
      .epilog(EXIT_EPILOG),
  async handler(a: RmArgs): Promise<void> {
    const cache = openFromArgs(a);
    const pattern = globToRegExp(a.job);
    const removed: Array<{ id: string; job: string; bytes: number }> = [];
    for (const { jobPath, id } of walkEntries(cache.root)) {
      let got;
      try {
        got = readInfo(cache, id);
      } catch (e) {
        if (e instanceof CorruptEntryError) continue; // no job name to match; repair's to remove
        throw e;
      }
      if (!got || !pattern.test(got.info.job)) continue;
      const bytes = a['dry-run'] ? 0 : await removeEntry(cache, cache.shardOf(jobPath), id, `rm --job ${a.job}`);
      removed.push({ id, job: got.info.job, bytes });
    }
    const bytes = removed.reduce((n, e) => n + e.bytes, 0);
    printResult(a, { dryRun: !!a['dry-run'], removed, bytes }, () => [
      ...removed.map((e) => `${a['dry-run'] ? 'would remove' : 'removed'} ${e.id} (${e.job})`),
      `rm: ${a['dry-run'] ? 'would remove' : 'removed'} ${plural(removed.length, 'entry', 'entries')}` + (a['dry-run'] ? '' : ` (${formatSize(bytes)})`),
    ]);
  },
};

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** 45s, 12m, 5h, 3d: the largest unit that fits. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}
