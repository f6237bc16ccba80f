// dc-client.mjs CACHE WORKSPACE JOBS START_MS DUR_MS — one dircache client: library hits on uniformly
// random filler jobs (metadata-bound: one 64-byte target) from START_MS for DUR_MS; prints counts.
import { lib } from '../lib.mjs';
import { fillJob } from '../fill.mjs';

const { Cache } = await lib('cache');
const { download } = await lib('download');
const [root, ws, jobs, start, dur] = process.argv.slice(2);
const cache = Cache.open({ cache: root, cwd: ws, env: {} });
while (Date.now() < +start) await new Promise((r) => setTimeout(r, Math.min(20, +start - Date.now())));
const end = +start + +dur;
let hits = 0, misses = 0;
while (Date.now() < end) {
  const r = await download(cache, { job: fillJob(Math.floor(Math.random() * +jobs)), deps: ['fill/absent.h'] });
  if (r.hit) hits++;
  else misses++;
}
process.stdout.write(JSON.stringify({ hits, misses }) + '\n');
