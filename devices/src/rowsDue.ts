/**
 * The replay schedule: how many rows are due after `elapsedMs` at `rowsPerSecond`, the first row
 * being due at once (t = 0) and row *n* (0-based) at `n / rowsPerSecond` seconds.
 *
 * The replayer publishes `rowsDue(now − start) − rowsSoFar` rows per timer tick, so the pace follows
 * elapsed time, not the number of ticks: late or irregular ticks do not accumulate drift.
 *
 * @param elapsedMs - time since the replay started, in ms (negative counts as "not started")
 * @param rowsPerSecond - replay rate in rows/s, > 0
 * @returns the number of rows due so far (non-decreasing in `elapsedMs`)
 */
export function rowsDue(elapsedMs: number, rowsPerSecond: number): number {
  if (!(elapsedMs >= 0)) return 0
  // The epsilon absorbs float error such as 0.1 rows/s × 30_000 ms = 2.9999999999999996.
  return Math.floor((elapsedMs * rowsPerSecond) / 1000 + 1e-9) + 1
}
