/**
 * `@trickle/contracts`: bindings of Trickle's Solidity contracts — `DataRegistry` (product index),
 * `StreamChannels` (payment-channel escrow paid by cumulative EIP-712 receipts) and `JobAttestations`
 * (on-chain anchors of job attestations, tied to the paying channel): their ABIs, typed
 * ethers wrappers, the EIP-712 receipt constants and chain presets. Nothing here compiles or deploys:
 * solc-js, anvil and the deployer live in the dev-only `@trickle/devnet`.
 *
 * @example
 * ```ts
 * import { channelsAt, chainPreset } from '@trickle/contracts'
 * import { JsonRpcProvider } from 'ethers'
 *
 * const provider = new JsonRpcProvider(chainPreset('anvil').rpcUrl)
 * const channels = channelsAt('0x5FbDB2315678afecb367f032d93F642f64180aa3', provider)
 * console.log(await channels.challengePeriod())
 * ```
 *
 * @packageDocumentation
 */

export {
  type AttestationAnchor,
  attestationsAt,
  type FindAttestationOptions,
  type JobAttestationsContract,
  type JobAttestationsEventArgs,
  type JobAttestationsEventName,
} from './attestationsAt.ts'
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
export {
  ChannelStatus,
  type ChannelView,
  channelsAt,
  type StreamChannelsContract,
  type StreamChannelsEventArgs,
  type StreamChannelsEventName,
} from './channelsAt.ts'
export type {
  AbiEventArgs,
  AbiFunctionArgs,
  AbiFunctionReturn,
  AbiResult,
  ContractMethods,
  SendMethod,
  ViewMethod,
  ViewOverrides,
} from './contractTypes.ts'
export { type DecodedRevert, decodeRevert } from './decodeRevert.ts'
export { DATA_REGISTRY_ABI } from './generated/dataRegistryAbi.ts'
export { JOB_ATTESTATIONS_ABI } from './generated/jobAttestationsAbi.ts'
export { STREAM_CHANNELS_ABI } from './generated/streamChannelsAbi.ts'
export { ProductKind, type ProductKindName } from './productKind.ts'
export {
  RECEIPT_DOMAIN_NAME,
  RECEIPT_DOMAIN_VERSION,
  RECEIPT_TYPES,
  type ReceiptValue,
  receiptDomain,
} from './receiptTypes.ts'
export {
  type DataRegistryContract,
  type DataRegistryEventArgs,
  type DataRegistryEventName,
  type ProductView,
  registryAt,
} from './registryAt.ts'
