import { type HistoryRange, type RangeEcho, TrickleError } from '@trickle/protocol'
import { httpBaseOf } from '../http/httpBaseOf.ts'
import { readBounded } from '../http/readBounded.ts'

/** Largest `/history` answer read, bytes: a few numbers. */
const MAX_ANSWER_BYTES = 4096

/**
 * The seller's HTTP URL of a history query, from its WebSocket endpoint: `ws://host:port/…` →
 * `http://host:port/history/<productId>?…` (`wss:` → `https:`).
 * @throws TrickleError `DESCRIPTOR_INVALID` when the endpoint is not a ws:// or wss:// URL
 */
export function historyUrlOf(endpoint: string, productId: bigint, range: HistoryRange): string {
  const query = new URLSearchParams()
  if (range.from !== undefined) query.set('from', String(range.from))
  if (range.to !== undefined) query.set('to', String(range.to))
  if (range.last !== undefined) query.set('last', String(range.last))
  if (range.start !== undefined) query.set('start', String(range.start))
  if (range.end !== undefined) query.set('end', String(range.end))
  if (range.live) query.set('live', '1')
  const search = query.size > 0 ? `?${query}` : ''
  return `${httpBaseOf(endpoint)}/history/${productId}${search}`
}

/**
 * Asks a seller what it holds of a history range now (its `GET /history/<productId>`, SPEC.md
 * §History), to price the range before paying: what a session would send.
 *
 * @param endpoint - the product's WebSocket endpoint (descriptor `endpoint`)
 * @returns `count` readings recorded from `from` to `to` (ms since the epoch), and `live`
 * @throws TrickleError `RANGE_UNAVAILABLE` (the seller holds no reading in the range, or sells no
 *   history), `INVALID_ARGUMENT` (the seller refused the range), `RATE_LIMITED` (too many queries),
 *   `CONNECTION_FAILED` (no answer in `timeoutMs`, or one that is not a history answer),
 *   `ABORTED` (`signal`)
 */
export async function fetchHistory(
  endpoint: string,
  productId: bigint,
  range: HistoryRange,
  options: { timeoutMs?: number; signal?: AbortSignal; fetch?: typeof globalThis.fetch } = {},
): Promise<RangeEcho> {
  const url = historyUrlOf(endpoint, productId, range)
  const deadline = AbortSignal.timeout(options.timeoutMs ?? 10_000)
  const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline
  let status: number
  let body: unknown
  try {
    const response = await (options.fetch ?? globalThis.fetch.bind(globalThis))(url, { signal })
    status = response.status
    body = JSON.parse(new TextDecoder().decode(await readBounded(response, MAX_ANSWER_BYTES)))
  } catch (cause) {
    if (options.signal?.aborted) throw new TrickleError('ABORTED', 'the history query was aborted', { cause })
    throw new TrickleError('CONNECTION_FAILED', `the seller did not answer ${url}`, { cause })
  }
  const answer = (body ?? {}) as Record<string, unknown>
  const message = typeof answer.message === 'string' ? answer.message.slice(0, 200) : `HTTP ${status}`
  if (status === 404)
    throw new TrickleError('RANGE_UNAVAILABLE', `the seller has no such history: ${message}`)
  if (status === 400) throw new TrickleError('INVALID_ARGUMENT', `the seller refused the range: ${message}`)
  if (status === 429)
    throw new TrickleError('RATE_LIMITED', 'the seller asks to slow down: try again in a second')
  const count = answer.count
  const from = answer.from
  const to = answer.to
  const start = answer.start
  const end = answer.end
  if (
    status !== 200 ||
    !Number.isSafeInteger(count) ||
    !Number.isSafeInteger(from) ||
    !Number.isSafeInteger(to) ||
    !Number.isSafeInteger(start) ||
    !Number.isSafeInteger(end) ||
    typeof answer.live !== 'boolean' ||
    (count as number) < 0
  ) {
    throw new TrickleError('CONNECTION_FAILED', `the seller's history answer is not valid (HTTP ${status})`)
  }
  return {
    count: count as number,
    from: from as number,
    to: to as number,
    live: answer.live,
    start: start as number,
    end: end as number,
  }
}
