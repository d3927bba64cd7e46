import type { Hex } from '@trickle/protocol'
import type { ChannelDetails, ChannelStatusName, ListedChannel } from '@trickle/sdk'

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
 * Formats channels as an aligned table for a terminal: id, payee, deposit, claimed, remaining (wei),
 * status, deadline — plus a token column when any channel pays in an ERC-20.
 * @returns text ending in a newline
 */
export function formatChannelTable(channels: readonly ChannelDetails[]): string {
  if (channels.length === 0) return 'no channels opened by this payer\n'
  const withToken = channels.some((c) => BigInt(c.token) !== 0n)
  const header = ['channel', 'payee', 'deposit', 'claimed', 'remaining', 'status', 'deadline']
  if (withToken) header.push('token')
  const rows = channels.map((c) => {
    const row = [
      c.channelId,
      c.payee,
      c.deposit.toString(),
      c.claimed.toString(),
      c.remaining.toString(),
      c.status,
      formatDeadline(c),
    ]
    if (withToken) row.push(BigInt(c.token) === 0n ? 'native' : c.token)
    return row
  })
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const numeric = new Set([2, 3, 4])
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (numeric.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd()
  const unit = withToken ? 'amounts in wei (token base units for ERC-20 channels)' : 'amounts in wei'
  return `${[line(header), ...rows.map(line)].join('\n')}\n${unit}\n`
}
