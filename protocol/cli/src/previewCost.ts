import type { Address, Hex } from '@trickle/protocol'
import { type AmountFormat, formatAmount } from './formatAmount.ts'

/** What `trickle buy` is about to do, before any money moves. */
export interface PurchasePlan {
  productId: bigint
  /** the descriptor's name */
  name: string
  /** wei per chunk, the descriptor's price */
  price: bigint
  /** chunks asked for */
  chunks: number
  /** wei the session may spend at most */
  maxSpend: bigint
  /** the seller, payee of a new channel */
  payee: Address
  /** wei to deposit into a new channel; absent when streaming on `channel` */
  deposit?: bigint
  /** the existing channel to stream on */
  channel?: Hex
}

/**
 * The cost preview `trickle buy` prints to stderr before it opens a channel: price × chunks, the cap,
 * the deposit it will lock (or the channel it will use), and a warning when `--max-spend` or the
 * deposit cannot pay for every chunk asked for. Pure.
 *
 * @returns lines without newlines; warnings start with `warning: `
 */
export function previewCost(plan: PurchasePlan, format: AmountFormat = {}): string[] {
  const f = (wei: bigint) => formatAmount(wei, format)
  const total = plan.price * BigInt(plan.chunks)
  const lines = [
    `product ${plan.productId} "${plan.name}": ${plan.chunks} chunks × ${f(plan.price)} = ${f(total)}` +
      ` (--max-spend ${f(plan.maxSpend)})`,
  ]
  if (plan.channel !== undefined) {
    lines.push(`streaming on channel ${plan.channel}`)
  } else if (plan.deposit !== undefined) {
    lines.push(
      `opening a channel to ${plan.payee} with a deposit of ${f(plan.deposit)}; what is not spent ` +
        'stays yours (refund: trickle close, then trickle finalize)',
    )
  }
  const byCap = plan.price === 0n ? Infinity : Number(plan.maxSpend / plan.price)
  if (byCap < plan.chunks) {
    lines.push(`warning: --max-spend ${f(plan.maxSpend)} covers ${byCap} of ${plan.chunks} chunks`)
  }
  if (plan.deposit !== undefined && plan.price > 0n) {
    const byDeposit = Number(plan.deposit / plan.price)
    if (byDeposit < Math.min(plan.chunks, byCap)) {
      lines.push(`warning: the deposit ${f(plan.deposit)} covers ${byDeposit} of ${plan.chunks} chunks`)
    }
  }
  return lines
}
