import { type HistoryRange, TrickleError } from '@trickle/protocol'

/**
 * A span of a product's recorded history to buy instead of its live readings (SPEC.md §History):
 * the readings the seller recorded between `from` and `to`, or its latest `last`; with `live`, the
 * stream goes on with live readings after them (a backfill).
 */
export interface StreamRange {
  /** readings recorded at or after this time (a `Date`, or ms since the epoch); default the oldest held */
  from?: Date | number
  /** readings recorded at or before this time; default now. Not with `live` */
  to?: Date | number
  /** the latest this many readings (≥ 1); not with `from` or `to` */
  last?: number
  /**
   * feed positions, inclusive: exactly the readings a seller's answer named (`RangeEcho.start` …
   * `end`, from `BuyerClient.history`), to buy a previewed range as previewed; not with `from`, `to`
   * or `last`
   */
  start?: number
  /** the last feed position, inclusive; not with `live` */
  end?: number
  /** go on with live readings after the range (stream products only) */
  live?: boolean
}

/** The largest `last`, readings (2^31 − 1, as `hello.range.last` allows). */
const MAX_LAST = 0x7fff_ffff

/**
 * Checks a {@link StreamRange} and turns it into the `hello`'s {@link HistoryRange}.
 * @throws TrickleError `INVALID_ARGUMENT` (an invalid date, `last` below 1 or with `from`/`to`, `live`
 *   with `to`, `from` after `to`)
 */
export function historyRangeOf(range: StreamRange): HistoryRange {
  const ms = (name: string, value: Date | number) => {
    const t = value instanceof Date ? value.getTime() : value
    if (!Number.isSafeInteger(t) || t < 0) {
      throw new TrickleError('INVALID_ARGUMENT', `range.${name} must be a valid time after 1970`)
    }
    return t
  }
  const out: HistoryRange = {}
  if (range.from !== undefined) out.from = ms('from', range.from)
  if (range.to !== undefined) out.to = ms('to', range.to)
  if (range.last !== undefined) {
    if (!Number.isSafeInteger(range.last) || range.last < 1 || range.last > MAX_LAST) {
      throw new TrickleError('INVALID_ARGUMENT', `range.last must be a whole number from 1 to ${MAX_LAST}`)
    }
    if (out.from !== undefined || out.to !== undefined) {
      throw new TrickleError('INVALID_ARGUMENT', 'a range takes last, or from and to, not both')
    }
    out.last = range.last
  }
  for (const name of ['start', 'end'] as const) {
    const value = range[name]
    if (value === undefined) continue
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new TrickleError('INVALID_ARGUMENT', `range.${name} must be a feed position (a whole number ≥ 0)`)
    }
    if (out.from !== undefined || out.to !== undefined || out.last !== undefined) {
      throw new TrickleError(
        'INVALID_ARGUMENT',
        'a range takes positions (start, end), times (from, to) or last',
      )
    }
    out[name] = value
  }
  if (out.start !== undefined && out.end !== undefined && out.start > out.end) {
    throw new TrickleError('INVALID_ARGUMENT', 'range.start is after range.end')
  }
  if (range.live) {
    if (out.to !== undefined || out.end !== undefined) {
      throw new TrickleError('INVALID_ARGUMENT', 'a live range has no end (to, end)')
    }
    out.live = true
  }
  if (out.from !== undefined && out.to !== undefined && out.from > out.to) {
    throw new TrickleError('INVALID_ARGUMENT', 'range.from is after range.to')
  }
  return out
}
