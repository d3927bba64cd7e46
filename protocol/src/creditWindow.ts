import type { CreditWindow } from './frames.ts'

/**
 * The window after a receipt that was not late: one `step` larger, capped at
 * `max` (Filecoin retrieval's growing payment interval).
 * @param current - chunks
 * @returns chunks
 */
export function growWindow(window: CreditWindow, current: number): number {
  return Math.min(window.max, current + window.step)
}

/**
 * The floor of the window after a late receipt: `initial` (the seller never goes below the chunks
 * still unpaid; see `SellerSession`).
 * @returns chunks
 */
export function resetWindow(window: CreditWindow): number {
  return window.initial
}

/**
 * How many more chunks the seller may send now.
 *
 * @param window - current window size, chunks
 * @param unpaid - chunks delivered but not covered by a durable receipt
 * @param depositHeadroom - wei of deposit not yet covered by the durable receipt
 * @param outstanding - wei already owed for the unpaid chunks
 * @param pricePerChunk - wei
 * @returns chunks (≥ 0): bounded by the window and by what the deposit can still pay for
 */
export function sendableChunks(
  window: number,
  unpaid: number,
  depositHeadroom: bigint,
  outstanding: bigint,
  pricePerChunk: bigint,
): number {
  const byWindow = Math.max(0, window - unpaid)
  if (pricePerChunk === 0n) return byWindow
  const left = depositHeadroom - outstanding
  if (left <= 0n) return 0
  const byDeposit = left / pricePerChunk
  return byDeposit < BigInt(byWindow) ? Number(byDeposit) : byWindow
}
