/**
 * Milliseconds on a monotonic clock, for elapsed times. Not `performance.now()`: its first use
 * loads perf_hooks, ~2 ms of a CLI hit that no other part of a hit needs.
 */
export const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
