import { channelsAt } from '@trickle/contracts'
import type { Address, Hex } from '@trickle/protocol'
import { TrickleError } from '@trickle/protocol'
import { zeroPadValue } from 'ethers'
import { type ChannelDetails, describeChannel } from './describeChannel.ts'
import { latestBlock } from './readChannel.ts'
import { toChainError } from './toChainError.ts'
import type { ChannelReader } from './types.ts'

/** Default block range of one `eth_getLogs` request: public RPCs commonly cap ranges at 10,000 blocks. */
export const DEFAULT_LOG_PAGE_BLOCKS = 10_000

/** What {@link listChannels} lists. */
export interface ListChannelsOptions {
  /** the payer whose channels to list */
  payer: Address
  /** first block to search (StreamChannels' deployment block); 0 when absent */
  fromBlock?: number
  /** blocks per `eth_getLogs` request, at least 1; {@link DEFAULT_LOG_PAGE_BLOCKS} when absent */
  pageBlocks?: number
}

/** A channel found by {@link listChannels}: its current state and where it was opened. */
export interface ListedChannel extends ChannelDetails {
  /** block of the `open` transaction */
  openedInBlock: number
  /** hash of the `open` transaction */
  openTxHash: Hex
}

/** Concurrent `getChannel` calls at most (keeps public RPCs from rate-limiting us). */
const READ_CONCURRENCY = 8

/**
 * Lists the channels a payer opened: finds `ChannelOpened` events whose indexed `payer` topic is the
 * payer, requesting `eth_getLogs` one page of `pageBlocks` blocks at a time from `fromBlock` to the
 * latest block (public RPCs refuse wider ranges), then reads each channel's current state at that same
 * latest block, so every row is of one consistent snapshot.
 *
 * @param reader - provider and StreamChannels address
 * @param options - payer, first block, page size in blocks
 * @returns the channels in the order they were opened (closed ones included)
 * @throws TrickleError `INVALID_ARGUMENT` for a bad `fromBlock` / `pageBlocks`; `CHAIN_UNAVAILABLE` when a
 *   page cannot be read (lower `pageBlocks` if the RPC caps the range)
 */
export async function listChannels(
  reader: ChannelReader,
  options: ListChannelsOptions,
): Promise<ListedChannel[]> {
  const from = options.fromBlock ?? 0
  const page = options.pageBlocks ?? DEFAULT_LOG_PAGE_BLOCKS
  if (!Number.isSafeInteger(from) || from < 0) {
    throw new TrickleError('INVALID_ARGUMENT', `fromBlock must be a non-negative integer, got ${from}`)
  }
  if (!Number.isSafeInteger(page) || page < 1) {
    throw new TrickleError('INVALID_ARGUMENT', `pageBlocks must be a positive integer, got ${page}`)
  }
  const block = await latestBlock(reader.provider, reader.minBlock)
  const channels = channelsAt(reader.channels, reader.provider)
  const topics = [
    channels.interface.getEvent('ChannelOpened')!.topicHash,
    null,
    zeroPadValue(options.payer, 32),
  ]
  const opened: { channelId: Hex; blockNumber: number; txHash: Hex }[] = []
  for (let start = from; start <= block.number; start += page) {
    const end = Math.min(start + page - 1, block.number)
    let logs: Awaited<ReturnType<typeof reader.provider.getLogs>>
    try {
      logs = await reader.provider.getLogs({
        address: reader.channels,
        topics,
        fromBlock: start,
        toBlock: end,
      })
    } catch (err) {
      const e = toChainError(err, `read ChannelOpened events of blocks ${start}–${end}`)
      throw new TrickleError(e.code, `${e.shortMessage} (try a smaller page: fewer blocks per request)`, {
        cause: err,
      })
    }
    for (const log of logs) {
      opened.push({
        channelId: log.topics[1] as Hex,
        blockNumber: log.blockNumber,
        txHash: log.transactionHash as Hex,
      })
    }
  }
  const listed: ListedChannel[] = []
  for (let i = 0; i < opened.length; i += READ_CONCURRENCY) {
    const batch = opened.slice(i, i + READ_CONCURRENCY)
    const views = await Promise.all(
      batch.map((o) =>
        channels.getChannel(o.channelId, { blockTag: block.number }).catch((err: unknown) => {
          throw toChainError(err, `read channel ${o.channelId}`)
        }),
      ),
    )
    batch.forEach((o, k) => {
      listed.push({
        ...describeChannel(o.channelId, views[k]!, block),
        openedInBlock: o.blockNumber,
        openTxHash: o.txHash,
      })
    })
  }
  return listed
}
