import { channelsAt } from '@trickle/contracts'
import type { Hex } from '@trickle/protocol'
import { feeOverrides } from '../chain/feeOverrides.ts'
import { findEvent, submitTransaction } from './submitTransaction.ts'
import type { ChannelWriter, TransactionOutcome } from './types.ts'

/** A channel closed by {@link finalizeChannel}. */
export interface FinalizeResult extends TransactionOutcome {
  channelId: Hex
  /** wei (token base units) refunded to the payer now: deposit − claimed */
  refund: bigint
  /** wei the payee received over the channel's life (its final `claimed`) */
  paidToPayee: bigint
}

/**
 * Closes a channel after its challenge period (StreamChannels `finalize`; anyone may call, the refund
 * always goes to the payer). Refunds `deposit − claimed`.
 *
 * @param writer - a signer (pays the gas), StreamChannels address, fee mode
 * @param channelId - bytes32 channel id
 * @returns refund and payee total (from `ChannelClosed`) and the transaction
 * @throws TrickleError `UNKNOWN_CHANNEL`, `CLOSE_NOT_REQUESTED` (still open), `CHANNEL_NOT_OPEN`
 *   (already closed), `CHALLENGE_PERIOD_NOT_OVER`, `INSUFFICIENT_FUNDS` (gas), `CHAIN_UNAVAILABLE`,
 *   `TRANSACTION_REVERTED`
 */
export async function finalizeChannel(writer: ChannelWriter, channelId: Hex): Promise<FinalizeResult> {
  const channels = channelsAt(writer.channels, writer.signer)
  const fees = await feeOverrides(writer.provider, writer.fees)
  const outcome = await submitTransaction(`finalize channel ${channelId}`, () =>
    channels.finalize(channelId, fees),
  )
  const event = findEvent(outcome, channels.interface, 'ChannelClosed')
  return {
    ...outcome,
    channelId,
    refund: event.args.getValue('refundedToPayer') as bigint,
    paidToPayee: event.args.getValue('paidToPayee') as bigint,
  }
}
