import { ChannelStatus, type ChannelView, channelsAt } from '@trickle/contracts'
import type { Provider } from 'ethers'
import { TrickleError } from '../errors.ts'
import type { Address, Hex } from '../hex.ts'

/** A channel's on-chain state as `trickle channel` prints it; wei and seconds as decimal strings. */
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
  status: 'open' | 'closing' | 'closed'
  /** unix seconds when the challenge period ends; "0" until a close is requested */
  closeDeadline: string
}

const STATUS_NAMES = Object.fromEntries(
  Object.entries(ChannelStatus).map(([name, n]) => [n, name]),
) as Record<number, string>

/**
 * Reads a channel from StreamChannels.
 * @param provider - any provider of the marketplace's chain
 * @param channels - StreamChannels address
 * @throws TrickleError `UNKNOWN_CHANNEL` (no such channel), `CHAIN_UNAVAILABLE` (RPC failed)
 */
export async function showChannel(
  provider: Provider,
  channels: Address,
  channelId: Hex,
): Promise<ChannelJson> {
  let view: ChannelView
  try {
    view = await channelsAt(channels, provider).getChannel(channelId)
  } catch (cause) {
    const reason = (cause as { shortMessage?: string }).shortMessage ?? (cause as Error).message
    throw new TrickleError('CHAIN_UNAVAILABLE', `could not read channel ${channelId}: ${reason}`, { cause })
  }
  if (view.status === ChannelStatus.none) {
    throw new TrickleError('UNKNOWN_CHANNEL', `no channel ${channelId} on StreamChannels ${channels}`)
  }
  return {
    channelId,
    payer: view.payer,
    payee: view.payee,
    signer: view.signer,
    token: view.token,
    deposit: view.deposit.toString(),
    claimed: view.claimed.toString(),
    status: STATUS_NAMES[view.status] as ChannelJson['status'],
    closeDeadline: view.closeDeadline.toString(),
  }
}
