import type { Terms } from './frames.ts'

/**
 * Bounds the buyer SDK puts on what a seller may ask for and on what it holds for its application,
 * so that no seller — honest, buggy or hostile — can hang it, overflow a timer, make it sign a value
 * it cannot represent, or fill its memory (issue 10).
 */

/** Shortest `heartbeatMs` accepted in terms, ms: a faster heartbeat is a ping flood. */
export const MIN_HEARTBEAT_MS = 100

/**
 * Longest `idleTimeoutMs` accepted in terms, ms (10 minutes): the longest a buyer waits on a silent
 * seller. Far below the 2^31 − 1 ms a Node timer can hold.
 */
export const MAX_IDLE_TIMEOUT_MS = 10 * 60 * 1000

/** Shortest `paymentTimeoutMs` accepted in terms, ms: a receipt needs at least a round trip. */
export const MIN_PAYMENT_TIMEOUT_MS = 100

/** Longest `paymentTimeoutMs` accepted in terms, ms (10 minutes). */
export const MAX_PAYMENT_TIMEOUT_MS = 10 * 60 * 1000

/**
 * How far the buyer's clock may be ahead of the seller's, ms: terms are refused as expired only when
 * `expiresAt + TERMS_CLOCK_SKEW_MS ≤ now`. The seller still refuses an `accept` after `expiresAt` by
 * its own clock (SPEC.md §Terms), so the allowance only spares a buyer whose clock runs fast.
 */
export const TERMS_CLOCK_SKEW_MS = 5_000

/**
 * Longest delay a timer may be armed with, ms: Node (and browsers) store it as a signed 32-bit
 * integer, and a longer one fires after 1 ms (`TimeoutOverflowWarning`).
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1

/**
 * Highest `seq` a receipt may carry: it is a `uint64` in the EIP-712 struct and a `number` in the
 * SDK, so at most 2^53 − 1. A chunk labelled `seq` is paid by a receipt with `seq + 1`, so the highest
 * chunk label a buyer can accept is `MAX_RECEIPT_SEQ − 1`.
 */
export const MAX_RECEIPT_SEQ = Number.MAX_SAFE_INTEGER

/** Highest cumulative amount a receipt can state, wei (`uint256`). */
export const MAX_CUMULATIVE_AMOUNT = 2n ** 256n - 1n

/**
 * Default of `StreamOptions.maxBufferedChunks`: chunks received but not yet taken by the application
 * (queued, plus the one its loop body holds).
 */
export const DEFAULT_MAX_BUFFERED_CHUNKS = 64

/** Default of `StreamOptions.maxBufferedBytes`: bytes of chunk payload held for the application (4 MiB). */
export const DEFAULT_MAX_BUFFERED_BYTES = 4 * 1024 * 1024

/**
 * Why the terms' timing parameters are unacceptable, if they are: `heartbeatMs` below
 * {@link MIN_HEARTBEAT_MS}, `idleTimeoutMs` above {@link MAX_IDLE_TIMEOUT_MS}, or `paymentTimeoutMs`
 * outside [{@link MIN_PAYMENT_TIMEOUT_MS}, {@link MAX_PAYMENT_TIMEOUT_MS}]. (`heartbeatMs <
 * idleTimeoutMs` is checked on its own, SPEC.md §Terms check 7.)
 *
 * @param terms - the seller's timing parameters, ms
 * @returns a sentence naming the field, or `undefined` when all are in range
 */
export function termsTimingProblem(
  terms: Pick<Terms, 'heartbeatMs' | 'idleTimeoutMs' | 'paymentTimeoutMs'>,
): string | undefined {
  if (terms.heartbeatMs < MIN_HEARTBEAT_MS) {
    return `heartbeatMs ${terms.heartbeatMs} is below ${MIN_HEARTBEAT_MS} ms`
  }
  if (terms.idleTimeoutMs > MAX_IDLE_TIMEOUT_MS) {
    return `idleTimeoutMs ${terms.idleTimeoutMs} is above ${MAX_IDLE_TIMEOUT_MS} ms`
  }
  if (terms.paymentTimeoutMs < MIN_PAYMENT_TIMEOUT_MS || terms.paymentTimeoutMs > MAX_PAYMENT_TIMEOUT_MS) {
    return `paymentTimeoutMs ${terms.paymentTimeoutMs} is outside ${MIN_PAYMENT_TIMEOUT_MS}–${MAX_PAYMENT_TIMEOUT_MS} ms`
  }
  return undefined
}

/**
 * A delay a timer can be armed with: `ms` clamped to [0, {@link MAX_TIMER_DELAY_MS}] (NaN → 0). A
 * clamped timer fires early; its callback re-checks its deadline and re-arms.
 *
 * @param ms - wanted delay, ms
 * @returns delay to pass to `setTimeout`, ms
 */
export function timerDelay(ms: number): number {
  if (!(ms > 0)) return 0
  return Math.min(ms, MAX_TIMER_DELAY_MS)
}

/** What a stream holds for its application. */
export interface BufferedChunks {
  /** chunks received and not yet taken by the application (queued, plus the one it is handling) */
  chunks: number
  /** their payload, bytes */
  bytes: number
}

/** Limits on {@link BufferedChunks}. */
export interface BufferLimits {
  /** chunks, ≥ 1 */
  maxChunks: number
  /** bytes, ≥ 1 */
  maxBytes: number
}

/**
 * Whether a stream must stop handing frames to its session: it holds `maxChunks` chunks or `maxBytes`
 * bytes for the application. While it does, the SDK holds arriving frames back unprocessed, so it signs
 * no receipt for them and an honest seller stops at its credit window; a seller that sends beyond the
 * window meanwhile is closed (`UNEXPECTED_FRAME`, `heldFrameProblem` of `@trickle/sdk`). The session
 * thus signs receipts for at most `maxChunks` chunks beyond those the application has taken.
 *
 * @param held - chunks and bytes held for the application
 * @param limits - the stream's limits
 */
export function bufferFull(held: BufferedChunks, limits: BufferLimits): boolean {
  return held.chunks >= limits.maxChunks || held.bytes >= limits.maxBytes
}
