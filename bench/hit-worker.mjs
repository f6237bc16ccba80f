// hit-worker.mjs CACHE WORKSPACE JOB START_MS DUR_MS — library hits on one job, back to back,
// from START_MS for DUR_MS; prints {"hits": N}.
import { lib } from './lib.mjs';
import { clearTarget, hit } from './setup.mjs';

const { Cache } = await lib('cache');
const [root, ws, job, start, dur] = process.argv.slice(2);
const cache = Cache.open({ cache: root, cwd: ws, env: {} });
await hit(cache, job); // warm
while (Date.now() < +start) await new Promise((r) => setTimeout(r, Math.min(20, +start - Date.now())));
const end = +start + +dur;
let hits = 0;
while (Date.now() < end) {
  clearTarget(ws); // see setup.mjs: each hit writes a new file
  await hit(cache, job);
  hits++;
}
process.stdout.write(JSON.stringify({ hits }) + '\n');
