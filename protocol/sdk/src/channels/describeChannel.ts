import { ChannelStatus, type ChannelView } from '@trickle/contracts'
import type { Address, Hex } from '@trickle/protocol'
import { TrickleError } from '@trickle/protocol'

/** A known channel's status: `open` (streaming, top-ups allowed), `closing` (challenge period), `closed`. */
export type ChannelStatusName = 'open' | 'closing' | 'closed'

/**
 * A payment channel as a buyer sees it, read at one block. Amounts are in the channel token's base
 * units (wei for the native coin).
 */
export interface ChannelDetails {
  channelId: Hex
  payer: Address
  payee: Address
  /** zero address for the native coin, else the ERC-20 */
  token: Address
  /** current receipt signer */
  signer: Address
  /** wei escrowed over the channel's life (every top-up included) */
  deposit: bigint
  /** wei paid to the payee so far */
  claimed: bigint
  /**
   * wei still escrowed for the payer: `deposit − claimed` while open or closing (what `finalize`
   * refunds unless the payee claims more first); 0 once closed, when it has been paid out
   */
  remaining: bigint
  status: ChannelStatusName
  /** unix seconds when the challenge period ends; 0 until a close is requested */
  closeDeadline: bigint
  /** whether `finalize` succeeds now: closing and the block's timestamp has reached `closeDeadline` */
  finalizable: boolean
  /** the block the state was read at */
  blockNumber: number
  /** that block's timestamp, unix seconds (chain time, which `finalizable` is judged by) */
  blockTimestamp: bigint
}

const NAMES: Readonly<Record<number, ChannelStatusName>> = {
  [ChannelStatus.open]: 'open',
  [ChannelStatus.closing]: 'closing',
  [ChannelStatus.closed]: 'closed',
}

/**
 * Turns StreamChannels' `getChannel` view into {@link ChannelDetails}. Pure. A channel may be finalized
 * once `block.timestamp >= closeDeadline` (StreamChannels' half-open windows), so `finalizable` is
 * judged against the timestamp of the block the view was read at.
 *
 * @param channelId - the channel's id
 * @param view - `getChannel(channelId)` at block `block`
 * @param block - number and timestamp (unix seconds) of that block
 * @throws TrickleError `UNKNOWN_CHANNEL` when the view is of an unknown id (status 0)
 */
export function describeChannel(
  channelId: Hex,
  view: ChannelView,
  block: { number: number; timestamp: bigint },
): ChannelDetails {
  const status = NAMES[view.status]
  if (status === undefined) throw new TrickleError('UNKNOWN_CHANNEL', `no channel ${channelId}`)
  return {
    channelId,
    payer: view.payer as Address,
    payee: view.payee as Address,
    token: view.token as Address,
    signer: view.signer as Address,
    deposit: view.deposit,
    claimed: view.claimed,
    remaining: status === 'closed' ? 0n : view.deposit - view.claimed,
    status,
    closeDeadline: view.closeDeadline,
    finalizable: status === 'closing' && block.timestamp >= view.closeDeadline,
    blockNumber: block.number,
    blockTimestamp: block.timestamp,
  }
}
