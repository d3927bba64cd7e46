import type { Hex } from '@trickle/protocol'
import { TrickleError } from '@trickle/protocol'
import type { BuyerClient } from '@trickle/sdk'

/**
 * Checks that the client's key pays for the channel before money is added to it: StreamChannels lets
 * anyone top up, but the deposit (and its refund) belongs to the channel's payer.
 * @throws TrickleError `NOT_PAYER` naming the payer and `--force`; `UNKNOWN_CHANNEL`, `CHAIN_UNAVAILABLE`
 */
export async function assertPayer(client: BuyerClient, channelId: Hex): Promise<void> {
  const { payer } = await client.channel(channelId)
  if (payer.toLowerCase() !== client.payerAddress.toLowerCase()) {
    throw new TrickleError(
      'NOT_PAYER',
      `channel ${channelId} is paid for by ${payer}, not by this key (${client.payerAddress}): the ` +
        'top-up and its refund would be theirs; pass --force to top it up anyway',
    )
  }
}
