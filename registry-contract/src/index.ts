/**
 * `@trickle/contracts`: Trickle's Solidity contracts — `DataRegistry` (product index) and
 * `StreamChannels` (payment-channel escrow paid by cumulative EIP-712 receipts) — with their compiler
 * (solc-js, cached), typed ethers bindings, EIP-712 receipt constants, a deployer and a local anvil chain.
 *
 * @example
 * ```ts
 * import { Wallet, ZeroAddress } from 'ethers'
 * import { channelsAt, deployContracts, RECEIPT_TYPES, receiptDomain, startLocalChain } from '@trickle/contracts'
 *
 * const chain = await startLocalChain()
 * const [deployer, payer, payee] = chain.privateKeys.map((key) => new Wallet(key, chain.provider)) as [Wallet, Wallet, Wallet]
 * const deployment = await deployContracts(deployer, { challengePeriodSeconds: 3600n })
 * const channels = channelsAt(deployment.channels, payer)
 * const deposit = 10n ** 18n // wei
 * const channelId = await channels.open.staticCall(payee.address, ZeroAddress, deposit, ZeroAddress, { value: deposit })
 * await (await channels.open(payee.address, ZeroAddress, deposit, ZeroAddress, { value: deposit })).wait()
 * const receipt = { channelId, cumulativeAmount: 10n ** 15n, seq: 1n, ackHash: `0x${'11'.repeat(32)}` }
 * const signature = await payer.signTypedData(receiptDomain(chain.chainId, deployment.channels), RECEIPT_TYPES, receipt)
 * const { cumulativeAmount, seq, ackHash } = receipt
 * await (await channels.connect(payee).claim(channelId, cumulativeAmount, seq, ackHash, signature)).wait()
 * await chain.stop()
 * ```
 *
 * @packageDocumentation
 */

export { ContractsError, type ContractsErrorCode } from './ContractsError.ts'
export {
  CHAIN_PRESET_NAMES,
  CHAIN_PRESETS,
  type ChainPreset,
  type ChainPresetName,
  chainPreset,
  type FeeMode,
  isChainPresetName,
} from './chainPresets.ts'
export { ChannelStatus, type ChannelView, channelsAt, type StreamChannelsContract } from './channelsAt.ts'
export type { SendMethod, ViewMethod, ViewOverrides } from './contractTypes.ts'
export { DATA_REGISTRY_ABI } from './dataRegistryAbi.ts'
export { type DecodedRevert, decodeRevert } from './decodeRevert.ts'
export { type Deployment, type DeployOptions, deployContracts } from './deployContracts.ts'
export { findAnvil } from './findAnvil.ts'
export { increaseTime } from './increaseTime.ts'
export {
  type Artifacts,
  type ContractArtifact,
  type LoadArtifactsOptions,
  loadArtifacts,
} from './loadArtifacts.ts'
export { ProductKind, type ProductKindName } from './productKind.ts'
export {
  RECEIPT_DOMAIN_NAME,
  RECEIPT_DOMAIN_VERSION,
  RECEIPT_TYPES,
  type ReceiptValue,
  receiptDomain,
} from './receiptTypes.ts'
export { type DataRegistryContract, type ProductView, registryAt } from './registryAt.ts'
export {
  ANVIL_MNEMONIC,
  type LocalChain,
  type LocalChainOptions,
  startLocalChain,
} from './startLocalChain.ts'
export { STREAM_CHANNELS_ABI } from './streamChannelsAbi.ts'
