import type { FeeMode } from '@trickle/contracts'
import type { Address, Hex } from '@trickle/protocol'
import type { ContractTransactionReceipt, Provider, Signer } from 'ethers'

/** What a channel read needs: a provider of the marketplace's chain and the StreamChannels address. */
export interface ChannelReader {
  provider: Provider
  /** StreamChannels address */
  channels: Address
  /**
   * reads happen at this block number at least: the block of the caller's latest transaction, so a
   * provider that still reports an older latest block cannot hide its effects
   */
  minBlock?: number
}

/** What a channel transaction needs: the paying signer (connected to a provider) and the fee mode. */
export interface ChannelWriter extends ChannelReader {
  /** signs and pays for the transactions (the payer for `open` / `requestClose`) */
  signer: Signer
  /** how the chain prices transactions (`legacy` sends type-0 transactions at `eth_gasPrice`) */
  fees: FeeMode
}

/** A mined, successful transaction. */
export interface TransactionOutcome {
  /** transaction hash */
  txHash: Hex
  /** block the transaction was mined in */
  blockNumber: number
  /** wei paid for gas: gas used × effective gas price */
  fee: bigint
  /** the full ethers receipt (logs, gas figures) */
  receipt: ContractTransactionReceipt
}
