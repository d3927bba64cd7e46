import { channelsAt } from '@trickle/contracts'
import type { Hex } from '@trickle/protocol'
import { TrickleError } from '@trickle/protocol'
import type { Provider } from 'ethers'
import { type ChannelDetails, describeChannel } from './describeChannel.ts'
import { toChainError } from './toChainError.ts'
import type { ChannelReader } from './types.ts'

/**
 * Reads one channel from StreamChannels at the latest block.
 *
 * @param reader - provider and StreamChannels address
 * @param channelId - bytes32 channel id
 * @returns the channel as of the latest block
 * @throws TrickleError `UNKNOWN_CHANNEL` (no such channel), `CHAIN_UNAVAILABLE` (RPC failed)
 */
export async function readChannel(reader: ChannelReader, channelId: Hex): Promise<ChannelDetails> {
  const block = await latestBlock(reader.provider)
  try {
    const view = await channelsAt(reader.channels, reader.provider).getChannel(channelId, {
      blockTag: block.number,
    })
    return describeChannel(channelId, view, block)
  } catch (err) {
    throw toChainError(err, `read channel ${channelId}`)
  }
}

/**
 * Number and timestamp (unix seconds) of the latest block.
 * @throws TrickleError `CHAIN_UNAVAILABLE`
 */
export async function latestBlock(provider: Provider): Promise<{ number: number; timestamp: bigint }> {
  try {
    const block = await provider.getBlock('latest')
    if (block === null) throw new Error('the node returned no latest block')
    return { number: block.number, timestamp: BigInt(block.timestamp) }
  } catch (cause) {
    if (cause instanceof TrickleError) throw cause
    throw toChainError(cause, 'read the latest block')
  }
}
