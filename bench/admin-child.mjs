// admin-child.mjs OP ROOT [ARG] — run one admin operation over a cache in a fresh process and print
// {ms, maxRssBytes, ...} as JSON: OP is check (the read-only invariant walk), gc (ARG: target bytes;
// waits for gc's background cleanup too, timing it apart) or repair (ARG: "dry" for a dry run).
import { distHas, lib, libEnv } from './lib.mjs';

const [op, root, arg] = process.argv.slice(2);
const { Cache } = await lib('cache');
const cache = Cache.open({ cache: root, env: libEnv() });
const t0 = performance.now();
let out;
if (op === 'check') {
  const { checkCache } = await lib('check');
  const r = checkCache(root);
  out = { ok: r.ok, problems: r.problems.slice(0, 5), count: r.problems.length };
} else if (op === 'gc') {
  const { gc } = await lib('gc');
  const { listAdminDir, pidAlive } = await lib('walk');
  const r = await gc(cache, { target: Number(arg), graceMs: 3600_000 });
  // gc's own time; then how long its background cleanup took: deleting the trash, and all of it
  // (the walk for stale hints too). The cleanup is our child, so its pid is gone once it exits.
  const gcMs = performance.now() - t0;
  const sleep = () => new Promise((res) => setTimeout(res, 20));
  while (listAdminDir(root, 'trash').length) await sleep();
  const trashMs = performance.now() - t0 - gcMs;
  while (r.cleanupPid !== undefined && pidAlive(r.cleanupPid)) await sleep();
  out = { entries: r.entries, bytes: r.bytes, gcMs, trashPending: r.trashPending, trashMs, cleanupMs: performance.now() - t0 - gcMs };
} else if (op === 'repair' && distHas('repair')) {
  const { repair } = await lib('repair');
  const r = await repair(cache, { dryRun: arg === 'dry', graceMs: 3600_000 });
  out = { entries: r.entries, count: r.problems.length, problems: r.problems.slice(0, 5) };
} else {
  out = { missing: true };
}
const ms = performance.now() - t0;
process.stdout.write(JSON.stringify({ ...out, ms, maxRssBytes: process.resourceUsage().maxRSS * 1024 }) + '\n');
