import { channelsAt } from '@trickle/contracts'
import type { Hex } from '@trickle/protocol'
import { feeOverrides } from '../chain/feeOverrides.ts'
import { findEvent, submitTransaction } from './submitTransaction.ts'
import type { ChannelWriter, TransactionOutcome } from './types.ts'

/** A close request made by {@link requestChannelClose}. */
export interface RequestCloseResult extends TransactionOutcome {
  channelId: Hex
  /** unix seconds from which the channel can be finalized (block time + challenge period) */
  closeDeadline: bigint
}

/**
 * Starts a channel's challenge period (StreamChannels `requestClose`, payer only): the payee can still
 * claim until `closeDeadline`, after which anyone may {@link finalizeChannel} and the payer gets the rest.
 *
 * @param writer - the payer's signer, StreamChannels address, fee mode
 * @param channelId - bytes32 channel id
 * @returns the deadline (from `CloseRequested`) and the transaction
 * @throws TrickleError `UNKNOWN_CHANNEL`, `NOT_PAYER`, `CHANNEL_NOT_OPEN` (already closing or closed),
 *   `INSUFFICIENT_FUNDS` (gas), `CHAIN_UNAVAILABLE`, `TRANSACTION_REVERTED`
 */
export async function requestChannelClose(
  writer: ChannelWriter,
  channelId: Hex,
): Promise<RequestCloseResult> {
  const channels = channelsAt(writer.channels, writer.signer)
  const fees = await feeOverrides(writer.provider, writer.fees)
  const outcome = await submitTransaction(`request the close of channel ${channelId}`, () =>
    channels.requestClose(channelId, fees),
  )
  const event = findEvent(outcome, channels.interface, 'CloseRequested')
  return { ...outcome, channelId, closeDeadline: event.args.getValue('closeDeadline') as bigint }
}
