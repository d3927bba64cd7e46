import {
  type AddressLike,
  type BaseContract,
  type BigNumberish,
  type BytesLike,
  Contract,
  type ContractRunner,
  Result,
} from 'ethers'
import type { SendMethod, ViewMethod, ViewOverrides } from './contractTypes.ts'
import { STREAM_CHANNELS_ABI } from './streamChannelsAbi.ts'

/** Channel states as stored on-chain: 0 none (unknown id), 1 open, 2 closing, 3 closed. */
export const ChannelStatus = { none: 0, open: 1, closing: 2, closed: 3 } as const

/** A channel status number, 0..3. */
export type ChannelStatus = (typeof ChannelStatus)[keyof typeof ChannelStatus]

/** A channel as returned by {@link StreamChannelsContract.getChannel}. Amounts in base units (wei). */
export interface ChannelView {
  readonly payer: string
  readonly payee: string
  /** Zero address for the native coin, else the ERC-20. */
  readonly token: string
  /** Current receipt signer; the payer when the channel was opened with signer 0. Never zero for a known channel. */
  readonly signer: string
  /** Total escrowed over the channel's life, in base units. */
  readonly deposit: bigint
  /** Total paid to the payee so far, in base units. */
  readonly claimed: bigint
  /** Unix seconds when the challenge period ends; 0 until requestClose. */
  readonly closeDeadline: bigint
  /** {@link ChannelStatus} as a number (raw ethers would give a bigint). */
  readonly status: ChannelStatus
  /** Signer replaced by the last setSigner, or zero. */
  readonly previousSigner: string
  /** Unix seconds until which `previousSigner`'s receipts stay valid (exclusive). */
  readonly previousSignerValidUntil: bigint
}

/** StreamChannels bound to an address, typed by hand from the fixed ABI ({@link STREAM_CHANNELS_ABI}). */
export interface StreamChannelsContract extends BaseContract {
  /** Opens a channel; pass `{ value: amount }` for native deposits. `staticCall` returns the channel id. */
  open: SendMethod<
    [payee: AddressLike, token: AddressLike, amount: BigNumberish, signer: AddressLike],
    string
  >
  /** Adds to an open channel's deposit (base units); anyone may. */
  topUp: SendMethod<[channelId: BytesLike, amount: BigNumberish]>
  /** Pays the payee `min(cumulativeAmount, deposit) - claimed`; `staticCall` returns that amount. */
  claim: SendMethod<
    [
      channelId: BytesLike,
      cumulativeAmount: BigNumberish,
      seq: BigNumberish,
      ackHash: BytesLike,
      signature: BytesLike,
    ],
    bigint
  >
  /** Payee's cooperative close: pays the receipt, refunds the rest to the payer. */
  closeWithReceipt: SendMethod<
    [
      channelId: BytesLike,
      cumulativeAmount: BigNumberish,
      seq: BigNumberish,
      ackHash: BytesLike,
      signature: BytesLike,
    ]
  >
  /** Payer starts the challenge period. */
  requestClose: SendMethod<[channelId: BytesLike]>
  /** Anyone, after the challenge period: refunds `deposit - claimed` to the payer. */
  finalize: SendMethod<[channelId: BytesLike]>
  /** Payer names a new receipt signer; the old one stays valid for one challenge period. */
  setSigner: SendMethod<[channelId: BytesLike, signer: AddressLike]>
  /** The EIP-712 digest a receipt signature covers. */
  receiptDigest: ViewMethod<
    [channelId: BytesLike, cumulativeAmount: BigNumberish, seq: BigNumberish, ackHash: BytesLike],
    string
  >
  /** The EIP-712 domain separator. */
  domainSeparator: ViewMethod<[], string>
  /** Challenge period in seconds. */
  challengePeriod: ViewMethod<[], bigint>
  /** Reads a channel with `status` as a number; unknown ids give status 0 and zero fields. */
  getChannel(channelId: BytesLike, overrides?: ViewOverrides): Promise<ChannelView>
  /** The same contract with another runner. */
  connect(runner: ContractRunner | null): StreamChannelsContract
}

const channelKeys = [
  'payer',
  'payee',
  'token',
  'signer',
  'deposit',
  'claimed',
  'closeDeadline',
  'status',
  'previousSigner',
  'previousSignerValidUntil',
] as const

/**
 * Binds StreamChannels at `address`, no compilation needed. An ethers `Contract` with the human-readable
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
      value: async (channelId: BytesLike, overrides?: ViewOverrides): Promise<ChannelView> => {
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
