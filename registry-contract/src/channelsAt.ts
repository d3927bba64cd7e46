import type { ExtractAbiEventNames, ExtractAbiFunction } from 'abitype'
import { type BaseContract, Contract, type ContractRunner, Result } from 'ethers'
import type {
  AbiEventArgs,
  AbiFunctionArgs,
  AbiResult,
  ContractMethods,
  ViewOverrides,
} from './contractTypes.ts'
import { STREAM_CHANNELS_ABI } from './generated/streamChannelsAbi.ts'

/** Channel states as stored on-chain: 0 none (unknown id), 1 open, 2 closing, 3 closed. */
export const ChannelStatus = { none: 0, open: 1, closing: 2, closed: 3 } as const

/** A channel status number, 0..3. */
export type ChannelStatus = (typeof ChannelStatus)[keyof typeof ChannelStatus]

type StreamChannelsAbi = typeof STREAM_CHANNELS_ABI

/**
 * A channel as returned by {@link StreamChannelsContract.getChannel}, derived from the ABI's `Channel`
 * struct and readable by name or position. Amounts in base units (wei); times in Unix seconds.
 * - `payer`, `payee`: the two parties.
 * - `token`: zero address for the native coin, else the ERC-20.
 * - `signer`: current receipt signer; the payer when opened with signer 0; never zero for a known channel.
 * - `deposit`: total escrowed over the channel's life. `claimed`: total paid to the payee so far.
 * - `closeDeadline`: when the challenge period ends; 0 until `requestClose`.
 * - `status`: {@link ChannelStatus} as a number (raw ethers would give a bigint).
 * - `previousSigner`: signer replaced by the last `setSigner`, or zero; its receipts stay valid until
 *   `previousSignerValidUntil` (exclusive).
 */
export type ChannelView = AbiResult<
  ExtractAbiFunction<StreamChannelsAbi, 'getChannel'>['outputs'][0]['components'],
  { status: ChannelStatus }
>

/** Names of StreamChannels' events. */
export type StreamChannelsEventName = ExtractAbiEventNames<StreamChannelsAbi>

/**
 * Decoded arguments of a StreamChannels event (`channels.interface.parseLog(log).args`), derived from
 * the ABI; amounts are bigint base units.
 */
export type StreamChannelsEventArgs<N extends StreamChannelsEventName> = AbiEventArgs<StreamChannelsAbi, N>

/**
 * StreamChannels bound to an address. Every method's arguments and return type are derived from the
 * generated ABI ({@link STREAM_CHANNELS_ABI}): `open` (pass `{ value: amount }` for native deposits;
 * `staticCall` returns the channel id), `topUp`, `claim` (`staticCall` returns the amount paid),
 * `closeWithReceipt`, `requestClose`, `finalize`, `setSigner`, and the views `receiptDigest`,
 * `domainSeparator`, `challengePeriod` (seconds), `eip712Domain` and the constants. Only `getChannel`
 * (status converted to a number) and `connect` (keeps the conversion) are typed here.
 */
export interface StreamChannelsContract
  extends BaseContract,
    Omit<ContractMethods<StreamChannelsAbi>, 'getChannel' | 'connect'> {
  /** Reads a channel with `status` as a number; unknown ids give status 0 and zero fields. */
  getChannel(
    channelId: AbiFunctionArgs<StreamChannelsAbi, 'getChannel'>[0],
    overrides?: ViewOverrides,
  ): Promise<ChannelView>
  /** The same contract with another runner. */
  connect(runner: ContractRunner | null): StreamChannelsContract
}

/** The `Channel` struct's field names, in ABI order (`status` is the one converted). */
const channelKeys: readonly string[] = STREAM_CHANNELS_ABI.find(
  (item) => item.type === 'function' && item.name === 'getChannel',
)!.outputs![0]!.components!.map((field) => field.name)

/**
 * Binds StreamChannels at `address`, no compilation needed. An ethers `Contract` with the generated JSON
 * ABI, except that `getChannel` returns `status` as a number and `connect` keeps that conversion.
 *
 * @param address - StreamChannels address
 * @param runner - a signer (to send) or a provider (to read)
 * @returns the typed contract
 */
export function channelsAt(address: string, runner: ContractRunner | null): StreamChannelsContract {
  const contract = new Contract(address, STREAM_CHANNELS_ABI, runner)
  const getChannel = contract.getFunction('getChannel')
  Object.defineProperties(contract, {
    getChannel: {
      value: async (
        channelId: AbiFunctionArgs<StreamChannelsAbi, 'getChannel'>[0],
        overrides?: ViewOverrides,
      ): Promise<ChannelView> => {
        const raw: Result =
          overrides === undefined ? await getChannel(channelId) : await getChannel(channelId, overrides)
        const items = channelKeys.map((key, index) => (key === 'status' ? Number(raw[index]) : raw[index]))
        return Result.fromItems(items, [...channelKeys]) as unknown as ChannelView
      },
    },
    connect: { value: (next: ContractRunner | null) => channelsAt(address, next) },
  })
  return contract as unknown as StreamChannelsContract
}
