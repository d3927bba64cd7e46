import { channelsAt } from '@trickle/contracts'
import type { Hex } from '@trickle/protocol'
import { TrickleError } from '@trickle/protocol'
import { feeOverrides } from '../chain/feeOverrides.ts'
import { ensureAllowance } from './ensureAllowance.ts'
import { readChannel } from './readChannel.ts'
import { findEvent, submitTransaction } from './submitTransaction.ts'
import type { ChannelWriter, TransactionOutcome } from './types.ts'

/** A top-up done by {@link topUpChannel}. */
export interface TopUpResult extends TransactionOutcome {
  channelId: Hex
  /** base units credited by this top-up (the amount, except for fee-on-transfer tokens) */
  amount: bigint
  /** the channel's deposit after the top-up, base units */
  deposit: bigint
  /** the ERC-20 approve transaction sent first, if one was needed */
  approveTxHash?: Hex
}

/**
 * Adds `amount` to an open channel's deposit (StreamChannels `topUp`; anyone may). Native-coin
 * channels send `amount` as value; ERC-20 channels approve the contract first when the allowance is
 * short. Transactions are priced per the writer's fee mode.
 *
 * @param writer - signer (pays), StreamChannels address, fee mode
 * @param channelId - bytes32 channel id
 * @param amount - wei (or token base units) to add; above zero
 * @returns the credited amount and new deposit (from `ToppedUp`) and the transaction
 * @throws TrickleError `INVALID_ARGUMENT` (amount ≤ 0), `UNKNOWN_CHANNEL`, `CHANNEL_NOT_OPEN` (closing or
 *   closed), `INSUFFICIENT_FUNDS`, `CHAIN_UNAVAILABLE`, `TRANSACTION_REVERTED`
 */
export async function topUpChannel(
  writer: ChannelWriter,
  channelId: Hex,
  amount: bigint,
): Promise<TopUpResult> {
  if (amount <= 0n) throw new TrickleError('INVALID_ARGUMENT', 'the top-up amount must be above zero')
  // Checked first so an ERC-20 allowance is never granted for a channel that cannot take it.
  const channel = await readChannel(writer, channelId)
  if (channel.status !== 'open') {
    throw new TrickleError(
      'CHANNEL_NOT_OPEN',
      `channel ${channelId} is ${channel.status}; only open channels take top-ups`,
    )
  }
  const native = BigInt(channel.token) === 0n
  const approveTxHash = native ? undefined : await ensureAllowance(writer, channel.token, amount)
  const channels = channelsAt(writer.channels, writer.signer)
  const fees = await feeOverrides(writer.provider, writer.fees)
  const outcome = await submitTransaction(`top up channel ${channelId}`, () =>
    channels.topUp(channelId, amount, { ...fees, ...(native ? { value: amount } : {}) }),
  )
  const event = findEvent(outcome, channels.interface, 'ToppedUp')
  return {
    ...outcome,
    channelId,
    amount: event.args.getValue('amount') as bigint,
    deposit: event.args.getValue('deposit') as bigint,
    ...(approveTxHash !== undefined ? { approveTxHash } : {}),
  }
}
