// Rows: gc evicting half of a 100,000-entry cache (and its background cleanup); peak memory of gc and repair over it.
import * as path from 'node:path';
import { REPO, cliEnv, distHas, fmtMB, fmtRate, libEnv, row, run } from './lib.mjs';

function child(op, root, arg = '') {
  const r = run(process.execPath, [path.join(REPO, 'bench', 'admin-child.mjs'), op, root, arg], { env: cliEnv() });
  return JSON.parse(r.stdout);
}

/**
 * The filled cache must be one repair finds nothing to fix in (or, without repair, one that passes
 * the read-only invariant walk), or no figure measured on it means anything.
 */
export function checkFilled(root) {
  const r = distHas('repair') ? { how: 'repair --dry-run', ...child('repair', root, 'dry') } : { how: 'invariant walk', ...child('check', root) };
  if (r.count) throw new Error(`${r.how} finds ${r.count} problems in the filled cache: ${r.problems.join('; ')}`);
  return r;
}

export async function measureAdmin(shared) {
  const root = shared.bigCache;
  const n = shared.bigEntries;
  const rows = [];
  const check = checkFilled(root);
  const { Cache } = await import(path.join(REPO, 'dist', 'cache.js'));
  const { readHead } = await import(path.join(REPO, 'dist', 'lru.js'));
  const cache = Cache.open({ cache: root, env: libEnv() });
  let total = 0;
  for (let s = 0; s < cache.settings.shards; s++) total += readHead(root, s).total;
  const g = distHas('gc') ? child('gc', root, String(Math.floor(total / 2))) : { missing: true };
  if (g.missing) {
    rows.push(row({ id: 'gc', what: 'gc evicting half of the entries', value: 'not measured', note: 'dist/gc.js missing' }));
  } else {
    const rate = g.entries / (g.gcMs / 1000);
    const s = (ms) => `${(ms / 1000).toFixed(1)} s`;
    rows.push(row({
      id: 'gc', what: `gc evicting ${g.entries.toLocaleString('en-US')} of ${n.toLocaleString('en-US')} entries`, value: fmtRate(rate, 'entries/s'),
      goal: '>= 5,000/s', pass: rate >= 5000,
      note: `${s(g.gcMs)}, library gc() to half the bytes, until it returns; its background cleanup then took ` +
        `${s(g.trashMs)} to delete the ${g.trashPending.toLocaleString('en-US')} trash dirs (${fmtRate(g.trashPending / (g.trashMs / 1000), 'dirs/s')}), ` +
        `${s(g.cleanupMs)} in all with the walk for stale hint links`,
    }));
  }
  rows.push(row({
    id: 'admin-rss', what: `peak RSS of gc and repair over ${n.toLocaleString('en-US')} entries`,
    value: `gc ${g.missing ? 'not measured' : fmtMB(g.maxRssBytes)}; ${check.how} ${fmtMB(check.maxRssBytes)}`,
    note: `gc's own process (its background cleanup is another); ${check.how} walked the filled cache in ${(check.ms / 1000).toFixed(1)} s and found nothing to fix (the filler's output is a valid cache)`,
  }));
  return rows;
}
