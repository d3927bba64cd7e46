/**
 * @packageDocumentation
 * `@trickle/sdk`: the programmatic buyer of Trickle. It finds products (registry events + descriptors
 * fetched from an IPFS gateway and checked against their CID), opens and manages payment channels,
 * and streams paid chunks over the WHATWG `WebSocket` (global in browsers and Node ≥ 22), signing
 * cumulative EIP-712 receipts within a spending cap. Runs in browsers and in Node.
 *
 * @example
 * ```ts
 * import { BuyerClient } from '@trickle/sdk'
 * ```
 */

export {
  type Address,
  BaseError,
  type ErrorCode,
  errorCode,
  type Hex,
  hasCode,
  openSignedReading,
  type ProductDescriptor,
  type ReadingProvenance,
  TrickleError,
  verifyReading,
} from '@trickle/protocol'
export { abortable } from './abortable.ts'
export { Budget } from './budget/budget.ts'
export { type AmountFormat, type AmountUnits, formatAmount } from './budget/formatAmount.ts'
export { parseAmount } from './budget/parseAmount.ts'
export {
  BuyerClient,
  type BuyerClientOptions,
  type CallOptions,
  type MarketplaceConfig,
} from './buyerClient.ts'
export {
  type CatalogProduct,
  type CatalogSource,
  joinDescriptor,
  listProducts,
  PRODUCT_KINDS,
} from './catalog.ts'
export { assertChainId } from './chain/assertChainId.ts'
export { type FeeOverrides, feeOverrides } from './chain/feeOverrides.ts'
export { type Eip1193Provider, resolveSigner } from './chain/resolveSigner.ts'
export { type ChannelDetails, type ChannelStatusName, describeChannel } from './channels/describeChannel.ts'
export { type FinalizeResult, finalizeChannel } from './channels/finalizeChannel.ts'
export {
  DEFAULT_LOG_PAGE_BLOCKS,
  type ListChannelsOptions,
  type ListedChannel,
  listChannels,
} from './channels/listChannels.ts'
export { type OpenChannelRequest, type OpenChannelResult, openChannel } from './channels/openChannel.ts'
export { type ReadChannelOptions, readChannel } from './channels/readChannel.ts'
export { type RequestCloseResult, requestChannelClose } from './channels/requestChannelClose.ts'
export { toChainError } from './channels/toChainError.ts'
export { type TopUpResult, topUpChannel } from './channels/topUpChannel.ts'
export type { ChannelReader, ChannelWriter, TransactionOutcome } from './channels/types.ts'
export { createTrickle, type TrickleOptions } from './createTrickle.ts'
export {
  type CatalogErrorCode,
  type ChannelActionErrorCode,
  type CreateClientErrorCode,
  isErrorOf,
  type OpenChannelErrorCode,
  type StreamErrorCode,
} from './errorCodes.ts'
export { TypedEmitter } from './events/typedEmitter.ts'
export {
  createDescriptorFetcher,
  type DescriptorFetcher,
  type DescriptorFetcherOptions,
  MAX_DESCRIPTOR_BYTES,
} from './fetchDescriptor.ts'
export { httpBaseOf } from './http/httpBaseOf.ts'
export { readBounded } from './http/readBounded.ts'
export {
  fetchJobSealingKey,
  type JobQuoteDecline,
  type JobQuoteRequest,
  requestJobCancel,
  requestJobQuote,
  uploadJobModule,
} from './jobs/jobHttp.ts'
export {
  type AttestationExpectation,
  checkJobAttestation,
  type JobOutcome,
  type PaidJob,
  paidJobOf,
} from './jobs/paidJob.ts'
export { type JobChainContext, type JobVerification, verifyJobOnChain } from './jobs/verifyJob.ts'
export { indexedDbKeyStore } from './keys/indexedDbKeyStore.ts'
export { channelKeyOf, memoryKeyStore, type SessionKeyStore } from './keys/sessionKeyStore.ts'
export {
  type ProductQuoteRequest,
  type Quote,
  type QuoteRequest,
  quoteChunks,
  quoteProduct,
} from './quote.ts'
export { receiptSigners } from './receiptSigners.ts'
export { fetchHistory, historyUrlOf } from './stream/fetchHistory.ts'
export {
  type CreditPosition,
  chunksInFlight,
  type HeldFrames,
  heldFrameProblem,
  MAX_HELD_CONTROL_FRAMES,
} from './stream/heldFrameLimit.ts'
export { historyRangeOf, type StreamRange } from './stream/historyRange.ts'
export { type ResumeLeft, reconnectDelay, shouldResume } from './stream/resumingStream.ts'
export {
  type BuyerEvents,
  type Chunk,
  DEFAULT_RECONNECT,
  type PaidStream,
  type ReconnectPolicy,
  type SessionSummary,
  type StreamOptions,
} from './types.ts'
