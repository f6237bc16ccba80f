// hit-worker.mjs CACHE WORKSPACE JOB START_MS DUR_MS — library hits on one job, back to back,
// from START_MS for DUR_MS; prints {"hits": N, "cpuMs": this process's CPU time in that window,
// "switches": the times the scheduler took the CPU from it then}.
import { lib, libEnv } from './lib.mjs';
import { clearTarget, hit } from './setup.mjs';

const { Cache } = await lib('cache');
const [root, ws, job, start, dur] = process.argv.slice(2);
const cache = Cache.open({ cache: root, cwd: ws, env: libEnv() });
// Warm up until the start: V8 compiles the hit path's hot functions over the first thousands of
// hits, work that each process does once, which N processes would otherwise all do in the window.
while (Date.now() < +start) {
  clearTarget(ws);
  await hit(cache, job);
}
const end = +start + +dur;
const cpu0 = process.cpuUsage();
const switches0 = process.resourceUsage().involuntaryContextSwitches;
let hits = 0;
while (Date.now() < end) {
  clearTarget(ws); // see setup.mjs: each hit writes a new file
  await hit(cache, job);
  hits++;
}
const cpu = process.cpuUsage(cpu0);
const switches = process.resourceUsage().involuntaryContextSwitches - switches0;
process.stdout.write(JSON.stringify({ hits, cpuMs: (cpu.user + cpu.system) / 1000, switches }) + '\n');
