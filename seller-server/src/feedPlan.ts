import { type HistoryRange, MAX_RANGE_LAST, type RangeEcho, TrickleError } from '@trickle/protocol'
import type { FeedSpan } from './mqttSource.ts'
import type { ReadingStore, SpanQuery } from './readingStore.ts'

/** How much of a product's recorded feed a session resuming a live product alone is replayed. */
export interface ReplayLimits {
  /** readings replayed at most (the latest after the resume point); default 4,096 */
  maxChunks: number
  /** payload bytes replayed at most; default 4 MiB */
  maxBytes: number
}

/** Default {@link ReplayLimits}: 4,096 readings or 4 MiB, whichever is reached first. */
export const DEFAULT_REPLAY_LIMITS: ReplayLimits = { maxChunks: 4096, maxBytes: 4 * 1024 * 1024 }

/** What a session of a history range streams: its span of the feed, and the terms' `range` answer. */
export interface RangePlan {
  span: FeedSpan
  echo: RangeEcho
}

/** A history range as a product sells it. */
export interface RangeRequest {
  /** the key the product's readings are recorded under (a dataset's: its source product's) */
  feedKey: string
  /** `dataset` products sell finite ranges only; `stream` products may go on live */
  kind: 'stream' | 'dataset'
  /** the `hello`'s range; `{}` (everything held) when a dataset's `hello` names none */
  range: HistoryRange
  /** with `range.resume`: the feed position of the channel's last paid reading of the product */
  resumeAfter?: number | undefined
  /** ms since the epoch: the `hello`'s time, where a range without `to` ends */
  now: number
}

/**
 * Plans the session of a history range (SPEC.md §History): the recorded readings it selects, at the
 * `hello`, from the seller's {@link ReadingStore}, and whether live ones follow. A resumed range
 * (`range.resume`) starts after the channel's last paid reading of it.
 *
 * @throws TrickleError `RANGE_UNAVAILABLE` (a dataset asked to go live; a finite range that holds no
 *   reading the seller still has), `STORE_FAILED` (the store cannot be read)
 */
export function planRange(store: ReadingStore, request: RangeRequest): RangePlan {
  const { range, feedKey } = request
  const live = range.live === true
  if (live && request.kind === 'dataset') {
    throw new TrickleError(
      'RANGE_UNAVAILABLE',
      'a dataset has no live readings: ask for a range without live',
    )
  }
  const query: SpanQuery =
    range.start !== undefined || range.end !== undefined
      ? { start: range.start, end: range.end, byPosition: true }
      : range.last !== undefined
        ? { last: range.last }
        : { from: range.from, to: range.to ?? request.now }
  const after = range.resume ? request.resumeAfter : undefined
  const span = store.select(feedKey, query, after)
  if (span === undefined) {
    if (!live) throw new TrickleError('RANGE_UNAVAILABLE', 'the range holds no reading this seller still has')
    // Nothing recorded in it (yet): live readings only, from the next one on.
    return {
      span: { after: store.nextPosition(feedKey) - 1, live: true },
      echo: { count: 0, from: 0, to: 0, live: true, start: 0, end: 0 },
    }
  }
  // A live range delivers everything recorded after its start before it goes live, so its count is
  // what was recorded by the `hello`.
  return {
    span: live
      ? { after: span.first - 1, live: true }
      : { after: span.first - 1, through: span.last, live: false },
    echo: { count: span.count, from: span.from, to: span.to, live, start: span.first, end: span.last },
  }
}

/**
 * The span of a session that resumes a live product alone (SPEC.md §Resume, "Live replay"): the
 * recorded readings after its resume point, at most the latest {@link ReplayLimits} of them, then
 * live ones.
 * @param after - the feed position of the channel's last paid reading of the product
 * @throws TrickleError `STORE_FAILED`
 */
export function replaySpan(
  store: ReadingStore,
  feedKey: string,
  after: number,
  limits: ReplayLimits,
): FeedSpan {
  return { after: store.replayStart(feedKey, after, limits.maxChunks, limits.maxBytes), live: true }
}

/**
 * The history range of a `GET /history/<productId>` query (SPEC.md §History, as `hello.range`):
 * `from` and `to` in ms since the epoch, `last` readings, `live=1`.
 * @throws TrickleError `INVALID_ARGUMENT` (not a whole number, `last` with `from`/`to`, `live` with
 *   `to`, `from` after `to`)
 */
export function historyRangeOfQuery(query: URLSearchParams): HistoryRange {
  const whole = (name: string, max = Number.MAX_SAFE_INTEGER) => {
    const text = query.get(name)
    if (text === null) return undefined
    const n = /^[0-9]{1,16}$/.test(text) ? Number(text) : Number.NaN
    if (!Number.isSafeInteger(n) || n > max) {
      throw new TrickleError('INVALID_ARGUMENT', `${name} must be a whole number up to ${max}`)
    }
    return n
  }
  const range: HistoryRange = {}
  const from = whole('from')
  const to = whole('to')
  const last = whole('last', MAX_RANGE_LAST)
  const start = whole('start')
  const end = whole('end')
  if (
    (start !== undefined || end !== undefined) &&
    (from !== undefined || to !== undefined || last !== undefined)
  ) {
    throw new TrickleError(
      'INVALID_ARGUMENT',
      'a range takes positions (start, end), times (from, to) or last',
    )
  }
  if (start !== undefined) range.start = start
  if (end !== undefined) range.end = end
  if (start !== undefined && end !== undefined && start > end) {
    throw new TrickleError('INVALID_ARGUMENT', 'start is after end')
  }
  if (from !== undefined) range.from = from
  if (to !== undefined) range.to = to
  if (last !== undefined) {
    if (last < 1 || from !== undefined || to !== undefined) {
      throw new TrickleError('INVALID_ARGUMENT', 'last must be at least 1, and not with from or to')
    }
    range.last = last
  }
  const live = query.get('live')
  if (live === '1' || live === 'true') {
    if (to !== undefined || end !== undefined) {
      throw new TrickleError('INVALID_ARGUMENT', 'a live range has no end (to, end)')
    }
    range.live = true
  }
  if (from !== undefined && to !== undefined && from > to) {
    throw new TrickleError('INVALID_ARGUMENT', 'from is after to')
  }
  return range
}
