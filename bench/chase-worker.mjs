// chase-worker.mjs KIB START_MS DUR_MS — follows a random cycle through KIB KiB of memory, one
// 64-byte line per step, from START_MS for DUR_MS; prints {"steps": N}. Each step waits on the
// last, so the rate is the latency of wherever those lines are: this machine's caches, or DRAM.
const [kib, start, dur] = process.argv.slice(2).map(Number);
const STRIDE = 16; // int32s per 64-byte line
const lines = (kib * 1024) / 64;
const order = Array.from({ length: lines }, (_, i) => i);
for (let i = lines - 1; i > 0; i--) {
  const j = Math.floor(Math.random() * (i + 1));
  [order[i], order[j]] = [order[j], order[i]];
}
const next = new Int32Array(lines * STRIDE);
for (let i = 0; i < lines; i++) next[order[i] * STRIDE] = order[(i + 1) % lines] * STRIDE;
let p = 0;
const walk = (n) => {
  for (let k = 0; k < n; k++) p = next[p];
};
while (Date.now() < start) walk(10_000);
let steps = 0;
while (Date.now() < start + dur) {
  walk(10_000);
  steps += 10_000;
}
process.stdout.write(JSON.stringify({ steps, end: p }) + '\n');
