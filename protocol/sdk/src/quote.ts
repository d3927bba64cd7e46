import { type ProductDescriptor, TrickleError } from '@trickle/protocol'

/** What {@link quoteChunks} prices: a number of chunks, or a duration at a chunk rate (chunks/s). */
export type QuoteRequest = { chunks: number } | { durationMs: number; chunksPerSecond: number }

/**
 * What {@link quoteProduct} and `BuyerClient.quote` price: a number of chunks, or a duration at
 * `chunksPerSecond` (chunks/s) or, when that is absent, at the rate the product's descriptor states.
 */
export type ProductQuoteRequest = { chunks: number } | { durationMs: number; chunksPerSecond?: number }

/** A price computed before any money moves. */
export interface Quote {
  /** wei per chunk (the descriptor's `pricePerChunk`; the seller's signed terms may ask less) */
  pricePerChunk: bigint
  /**
   * chunks priced: `chunks`, or `ceil(durationMs × chunksPerSecond / 1000)` (float rounding error below
   * one part in 10^12 ignored)
   */
  chunks: number
  /** wei: `chunks × pricePerChunk` */
  amount: bigint
  /** the rate a duration was priced at, chunks/s; absent when `chunks` were asked for */
  chunksPerSecond?: number
}

/**
 * Prices `request` at `pricePerChunk`. Pure: a duration is priced at the `chunksPerSecond` given (see
 * {@link quoteProduct} for the descriptor's rate).
 *
 * @param pricePerChunk - wei
 * @param request - `{ chunks }` (an integer ≥ 0) or `{ durationMs, chunksPerSecond }` (milliseconds and
 *   chunks/s, finite, ≥ 0)
 * @throws TrickleError `INVALID_ARGUMENT` for a negative, fractional or non-finite count
 */
export function quoteChunks(pricePerChunk: bigint, request: QuoteRequest): Quote {
  if ('chunks' in request) return priced(pricePerChunk, request.chunks)
  const { durationMs, chunksPerSecond } = request
  if (!(durationMs >= 0 && chunksPerSecond >= 0) || !Number.isFinite(durationMs * chunksPerSecond)) {
    throw new TrickleError('INVALID_ARGUMENT', 'durationMs and chunksPerSecond must be finite and ≥ 0')
  }
  const exact = (durationMs * chunksPerSecond) / 1000
  // Float error is forgiven below one part in 10^12 before rounding up: 3_600_000 × 1.1 / 1000 comes
  // out as 3960.0000000000005, and an hour at 1.1 chunks/s is 3960 chunks, not 3961.
  return { ...priced(pricePerChunk, Math.ceil(exact - exact * 1e-12)), chunksPerSecond }
}

/**
 * Prices `request` at a product's descriptor: its `pricePerChunk`, and for a duration the caller's
 * `chunksPerSecond` or else the descriptor's (`trickle.descriptor/1` states a nominal rate optionally,
 * SPEC.md §Descriptor). Pure. Both are advisory: the seller's signed terms may ask less per chunk, and
 * the stream may run faster or slower than its nominal rate.
 *
 * @param descriptor - the product's descriptor (only `pricePerChunk` and `chunksPerSecond` are read)
 * @param request - `{ chunks }` (an integer ≥ 0), or `{ durationMs, chunksPerSecond? }` (milliseconds and
 *   chunks/s, finite, ≥ 0)
 * @returns wei per chunk, chunks, their price in wei, and for a duration the rate used
 * @throws TrickleError `INVALID_ARGUMENT` for a negative, fractional or non-finite count, or a duration
 *   without `chunksPerSecond` when the descriptor states no rate
 *
 * @example
 * ```ts
 * import { type ProductDescriptor, quoteProduct } from '@trickle/sdk'
 *
 * declare const descriptor: ProductDescriptor
 * // An hour at the product's rate: ceil(3600 × chunksPerSecond) chunks.
 * if (descriptor.chunksPerSecond !== undefined) {
 *   const hour = quoteProduct(descriptor, { durationMs: 3_600_000 })
 *   console.log(`${hour.amount} wei per hour (${hour.chunks} chunks)`)
 * }
 * ```
 */
export function quoteProduct(
  descriptor: Pick<ProductDescriptor, 'pricePerChunk' | 'chunksPerSecond'>,
  request: ProductQuoteRequest,
): Quote {
  const pricePerChunk = BigInt(descriptor.pricePerChunk)
  if ('chunks' in request) return quoteChunks(pricePerChunk, request)
  const chunksPerSecond = request.chunksPerSecond ?? descriptor.chunksPerSecond
  if (chunksPerSecond === undefined) {
    throw new TrickleError(
      'INVALID_ARGUMENT',
      'the descriptor states no rate (chunksPerSecond): give chunksPerSecond to price a duration',
    )
  }
  return quoteChunks(pricePerChunk, { durationMs: request.durationMs, chunksPerSecond })
}

/** `chunks` at `pricePerChunk`, once `chunks` is known to be a count. */
function priced(pricePerChunk: bigint, chunks: number): Quote {
  if (!Number.isSafeInteger(chunks) || chunks < 0) {
    throw new TrickleError('INVALID_ARGUMENT', `chunks must be an integer ≥ 0, not ${chunks}`)
  }
  return { pricePerChunk, chunks, amount: BigInt(chunks) * pricePerChunk }
}
