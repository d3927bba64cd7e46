import type { Hex } from '@trickle/protocol'
import type { FinalizeResult, RequestCloseResult, TopUpResult } from '@trickle/sdk'
import { formatDeadline } from './channelRows.ts'
import { type AmountFormat, formatAmount } from './formatAmount.ts'

/** `trickle topup --json` output; wei as decimal strings. */
export interface TopUpJson {
  channelId: Hex
  /** wei credited by this top-up */
  amountWei: string
  /** the channel's deposit afterwards, wei */
  depositWei: string
  txHash: Hex
  /** gas paid for the top-up transaction, wei */
  feeWei: string
  /** the ERC-20 approve sent first, if any */
  approveTxHash?: Hex
}

/** `trickle close --json` output. */
export interface CloseJson {
  channelId: Hex
  /** unix seconds from which `trickle finalize` succeeds */
  closeDeadline: string
  txHash: Hex
  /** gas paid, wei */
  feeWei: string
}

/** `trickle finalize --json` output; wei as decimal strings. */
export interface FinalizeJson {
  channelId: Hex
  /** refunded to the payer now: deposit − claimed */
  refundWei: string
  /** paid to the payee over the channel's life */
  paidToPayeeWei: string
  txHash: Hex
  /** gas paid, wei */
  feeWei: string
}

/** How a transaction is shown to a human: its explorer link when the chain has an explorer. */
function txRef(txHash: Hex, explorerUrl: string | undefined): string {
  return explorerUrl === undefined ? `tx ${txHash}` : `${explorerUrl.replace(/\/$/, '')}/tx/${txHash}`
}

/** JSON of a top-up. */
export function topUpJson(r: TopUpResult): TopUpJson {
  return {
    channelId: r.channelId,
    amountWei: r.amount.toString(),
    depositWei: r.deposit.toString(),
    txHash: r.txHash,
    feeWei: r.fee.toString(),
    ...(r.approveTxHash !== undefined ? { approveTxHash: r.approveTxHash } : {}),
  }
}

/** One line for humans about a top-up, ending in a newline. */
export function formatTopUp(r: TopUpResult, explorerUrl?: string, format: AmountFormat = {}): string {
  const approved =
    r.approveTxHash !== undefined ? `; approved first in ${txRef(r.approveTxHash, explorerUrl)}` : ''
  const f = (wei: bigint) => formatAmount(wei, format)
  return `topped up channel ${r.channelId} with ${f(r.amount)}; deposit now ${f(r.deposit)} (${txRef(r.txHash, explorerUrl)}${approved})\n`
}

/** JSON of a close request. */
export function closeJson(r: RequestCloseResult): CloseJson {
  return {
    channelId: r.channelId,
    closeDeadline: r.closeDeadline.toString(),
    txHash: r.txHash,
    feeWei: r.fee.toString(),
  }
}

/** One line for humans about a close request, ending in a newline. */
export function formatClose(r: RequestCloseResult, explorerUrl?: string): string {
  const deadline = formatDeadline({ closeDeadline: r.closeDeadline, status: 'closing', finalizable: false })
  return (
    `close requested for channel ${r.channelId}; the seller can claim until ${deadline} ` +
    `(unix ${r.closeDeadline}), then run \`trickle finalize ${r.channelId}\` (${txRef(r.txHash, explorerUrl)})\n`
  )
}

/** JSON of a finalize. */
export function finalizeJson(r: FinalizeResult): FinalizeJson {
  return {
    channelId: r.channelId,
    refundWei: r.refund.toString(),
    paidToPayeeWei: r.paidToPayee.toString(),
    txHash: r.txHash,
    feeWei: r.fee.toString(),
  }
}

/** One line for humans about a finalize, ending in a newline. */
export function formatFinalize(r: FinalizeResult, explorerUrl?: string, format: AmountFormat = {}): string {
  const f = (wei: bigint) => formatAmount(wei, format)
  return (
    `finalized channel ${r.channelId}: refunded ${f(r.refund)} to the payer; the payee received ` +
    `${f(r.paidToPayee)} in total (${txRef(r.txHash, explorerUrl)})\n`
  )
}
