import { channelsAt } from '@trickle/contracts'
import type { Hex } from '@trickle/protocol'
import { TrickleError } from '@trickle/protocol'
import type { Provider } from 'ethers'
import { type ChannelDetails, describeChannel } from './describeChannel.ts'
import { toChainError } from './toChainError.ts'
import type { ChannelReader } from './types.ts'

/** Options of {@link readChannel}. */
export interface ReadChannelOptions {
  /**
   * the lowest block to read at: the block of a transaction the caller just sent (e.g. the channel's
   * `open`). A provider may report a stale latest block for a while after a transaction was mined
   * (ethers' `JsonRpcProvider` polls and caches it); reading below the transaction's block would not see
   * its effects (`UNKNOWN_CHANNEL` right after `open`)
   */
  minBlock?: number
}

/**
 * Reads one channel from StreamChannels at the latest block, or at `options.minBlock` when the
 * provider's latest block is older.
 *
 * @param reader - provider and StreamChannels address
 * @param channelId - bytes32 channel id
 * @param options - `minBlock`: block number to read at, at least
 * @returns the channel as of that block (its number and timestamp included)
 * @throws TrickleError `UNKNOWN_CHANNEL` (no such channel), `CHAIN_UNAVAILABLE` (RPC failed)
 */
export async function readChannel(
  reader: ChannelReader,
  channelId: Hex,
  options: ReadChannelOptions = {},
): Promise<ChannelDetails> {
  const block = await latestBlock(reader.provider, options.minBlock ?? reader.minBlock)
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
 * Number and timestamp (unix seconds) of the latest block, or of block `minBlock` when the provider's
 * latest is older than that.
 * @param provider - the chain's provider
 * @param minBlock - block number to return at least
 * @throws TrickleError `CHAIN_UNAVAILABLE`
 */
export async function latestBlock(
  provider: Provider,
  minBlock?: number,
): Promise<{ number: number; timestamp: bigint }> {
  try {
    let block = await provider.getBlock('latest')
    if (block !== null && minBlock !== undefined && block.number < minBlock) {
      block = await provider.getBlock(minBlock)
    }
    if (block === null) throw new Error('the node returned no latest block')
    return { number: block.number, timestamp: BigInt(block.timestamp) }
  } catch (cause) {
    if (cause instanceof TrickleError) throw cause
    throw toChainError(cause, 'read the latest block')
  }
}
