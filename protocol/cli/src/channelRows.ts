import type { Hex } from '@trickle/protocol'
import type { ChannelDetails, ChannelStatusName, ListedChannel } from '@trickle/sdk'
import { type AmountFormat, formatAmount } from './formatAmount.ts'
import type { ProductName } from './productsBySeller.ts'

/** A channel as `trickle channel` / `trickle channels --json` print it; wei and seconds as decimal strings. */
export interface ChannelJson {
  channelId: Hex
  payer: string
  payee: string
  /** receipt signer */
  signer: string
  /** zero address for the native coin */
  token: string
  /** wei escrowed over the channel's life */
  deposit: string
  /** wei paid to the payee so far */
  claimed: string
  /** wei still escrowed for the payer (deposit − claimed; "0" once closed) */
  remaining: string
  status: ChannelStatusName
  /** unix seconds when the challenge period ends; "0" until a close is requested */
  closeDeadline: string
  /** whether `trickle finalize` would succeed now */
  finalizable: boolean
  /** block of the open transaction (listings only) */
  openedInBlock?: number
}

/** Turns a channel into the JSON the CLI prints. */
export function toChannelJson(c: ChannelDetails | ListedChannel): ChannelJson {
  return {
    channelId: c.channelId,
    payer: c.payer,
    payee: c.payee,
    signer: c.signer,
    token: c.token,
    deposit: c.deposit.toString(),
    claimed: c.claimed.toString(),
    remaining: c.remaining.toString(),
    status: c.status,
    closeDeadline: c.closeDeadline.toString(),
    finalizable: c.finalizable,
    ...('openedInBlock' in c ? { openedInBlock: c.openedInBlock } : {}),
  }
}

/**
 * A close deadline for humans: ISO 8601 UTC, with `(finalizable)` once it has passed on-chain.
 * @param c - the channel; `-` when no close was requested
 */
export function formatDeadline(c: Pick<ChannelDetails, 'closeDeadline' | 'status' | 'finalizable'>): string {
  if (c.closeDeadline === 0n) return '-'
  const iso = new Date(Number(c.closeDeadline) * 1000).toISOString().replace('.000Z', 'Z')
  return c.finalizable ? `${iso} (finalizable)` : iso
}

/**
 * Formats channels for a terminal in at most 100 columns: per channel, its full id (to paste into
 * `trickle close` / `topup` / `buy --channel`) and status, then indented: the products it can pay for
 * (the payee's, from `catalog`), the seller, deposit, claimed, remaining and the close deadline.
 * Amounts of native-coin channels follow `format`; ERC-20 channels show token base units.
 *
 * @param catalog - products by lower-case seller address (see `productsBySeller`); empty when the
 *   catalog could not be read
 * @returns text ending in a newline
 */
export function formatChannelTable(
  channels: readonly ChannelDetails[],
  catalog: ReadonlyMap<string, readonly ProductName[]> = new Map(),
  format: AmountFormat = {},
): string {
  if (channels.length === 0) return 'no channels opened by this payer\n'
  const blocks = channels.map((c) => {
    const native = BigInt(c.token) === 0n
    const amount = (wei: bigint) => (native ? formatAmount(wei, format) : `${wei} (token ${c.token})`)
    const products = catalog.get(c.payee.toLowerCase()) ?? []
    const named =
      products.length > 0
        ? products.map((p) => clip(`${p.productId} ${p.name}`, 100 - 13))
        : [catalog.size === 0 ? 'unknown (the catalog could not be read)' : 'none listed by this seller']
    const lines = [
      `${c.channelId}  ${c.status}`,
      ...named.map((n, i) => `  ${i === 0 ? 'product    ' : '           '}${n}`),
      `  seller     ${c.payee}`,
      `  deposit    ${amount(c.deposit)}`,
      `  claimed    ${amount(c.claimed)}`,
      `  remaining  ${amount(c.remaining)}`,
    ]
    if (c.closeDeadline !== 0n) lines.push(`  deadline   ${formatDeadline(c)}`)
    return lines.join('\n')
  })
  const many = channels.some((c) => (catalog.get(c.payee.toLowerCase())?.length ?? 0) > 1)
  const note = many ? 'a channel pays its seller: any of the seller’s products can be bought on it\n' : ''
  return `${blocks.join('\n')}\n${note}`
}

/** Cuts `text` to `width` characters, ending in an ellipsis when cut. */
function clip(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`
}
