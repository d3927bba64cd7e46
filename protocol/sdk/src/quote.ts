import { TrickleError } from '@trickle/protocol'

/** What {@link quoteChunks} prices: a number of chunks, or a duration at a chunk rate. */
export type QuoteRequest = { chunks: number } | { durationMs: number; chunksPerSecond: number }

/** A price computed before any money moves. */
export interface Quote {
  /** wei per chunk (the descriptor's `pricePerChunk`; the seller's signed terms may ask less) */
  pricePerChunk: bigint
  /** chunks priced: `chunks`, or `ceil(durationMs × chunksPerSecond / 1000)` */
  chunks: number
  /** wei: `chunks × pricePerChunk` */
  amount: bigint
}

/**
 * Prices `request` at `pricePerChunk`. Pure. Descriptors (`trickle.descriptor/1`) state no chunk
 * rate, so a duration is priced at the caller's `chunksPerSecond` (e.g. the product's sensor rate).
 *
 * @param pricePerChunk - wei
 * @param request - `{ chunks }` (an integer ≥ 0) or `{ durationMs, chunksPerSecond }` (finite, ≥ 0)
 * @throws TrickleError `INVALID_ARGUMENT` for a negative, fractional or non-finite count
 */
export function quoteChunks(pricePerChunk: bigint, request: QuoteRequest): Quote {
  let chunks: number
  if ('chunks' in request) {
    chunks = request.chunks
  } else {
    const { durationMs, chunksPerSecond } = request
    if (!(durationMs >= 0 && chunksPerSecond >= 0) || !Number.isFinite(durationMs * chunksPerSecond)) {
      throw new TrickleError('INVALID_ARGUMENT', 'durationMs and chunksPerSecond must be finite and ≥ 0')
    }
    chunks = Math.ceil((durationMs * chunksPerSecond) / 1000)
  }
  if (!Number.isSafeInteger(chunks) || chunks < 0) {
    throw new TrickleError('INVALID_ARGUMENT', `chunks must be an integer ≥ 0, not ${chunks}`)
  }
  return { pricePerChunk, chunks, amount: BigInt(chunks) * pricePerChunk }
}
