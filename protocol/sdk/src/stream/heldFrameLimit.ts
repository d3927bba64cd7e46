import type { CreditWindow } from '@trickle/protocol'

/** Frames other than chunks a stream holds while its buffer is full, at most (`payment_required`, pings…). */
export const MAX_HELD_CONTROL_FRAMES = 64

/** What a stream holds back from its session while the application's buffer is full. */
export interface HeldFrames {
  /** chunk frames held */
  chunks: number
  /** other frames held */
  controls: number
  /** bytes of every held frame, as received */
  bytes: number
}

/** Where a session stands in its credit window, as the buyer counts it. */
export interface CreditPosition {
  /** the accepted terms' window, chunks; undefined before terms */
  window: CreditWindow | undefined
  /** receipts this session has sent: the seller's window grew by at most one `step` for each */
  receiptsSent: number
  /** chunks the session received after the last receipt it sent */
  unpaidReceived: number
}

/**
 * Chunks an honest seller may have in flight towards the buyer beyond those the session received:
 * its credit window is `window.initial`, one `step` larger per receipt at most, never above `max`
 * (SPEC.md §Credit window), and every chunk the buyer received after its last receipt already counts
 * against it. A buyer that stops signing (its application's buffer is full) therefore receives at most
 * this many more chunks from a seller that follows the protocol. Pure.
 *
 * @param position - the session's window, receipts sent and unpaid chunks
 * @returns chunks (≥ 0); 0 before terms
 */
export function chunksInFlight(position: CreditPosition): number {
  const w = position.window
  if (!w) return 0
  const grown = w.initial + w.step * position.receiptsSent
  return Math.max(0, Math.min(w.max, grown) - position.unpaidReceived)
}

/**
 * Why a stream must give up holding frames for its full buffer, if it must: the seller sent more
 * chunks than its credit window allows while the buyer signed nothing (`chunksInFlight`), more than
 * `maxBytes` bytes in all, or more than {@link MAX_HELD_CONTROL_FRAMES} other frames. A seller that
 * follows the protocol stops at its window, so none of these happen while the buffer's byte limit
 * holds a window (`window.max × maxChunkBytes`: 1 MiB for the reference policy). Pure.
 *
 * @param held - what is held now (the frame just received included)
 * @param position - the session's credit position
 * @param maxBytes - bytes the stream may hold back, at most (the stream's `maxBufferedBytes`)
 * @returns a sentence for the `UNEXPECTED_FRAME` error, or undefined while within bounds
 */
export function heldFrameProblem(
  held: HeldFrames,
  position: CreditPosition,
  maxBytes: number,
): string | undefined {
  const allowed = chunksInFlight(position)
  if (held.chunks > allowed) {
    return `the seller sent ${held.chunks} chunks beyond the last receipt; its credit window allows ${allowed}`
  }
  if (held.bytes > maxBytes)
    return `the seller sent more than ${maxBytes} bytes while the buyer's buffer was full`
  if (held.controls > MAX_HELD_CONTROL_FRAMES) {
    return `the seller sent more than ${MAX_HELD_CONTROL_FRAMES} control frames while the buyer's buffer was full`
  }
  return undefined
}
