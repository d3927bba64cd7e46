/**
 * @packageDocumentation
 * Trickle's streaming payment protocol: the msgpack frame codec, EIP-712 receipts and terms, the pure
 * buyer and seller session state machines with the credit window, product descriptors, the catalog
 * (registry events + IPFS), the programmatic buyer SDK with its channel operations (open, top up,
 * request close, finalize, list) and the `trickle` CLI. The full protocol is in `protocol/SPEC.md`.
 *
 * @example
 * ```ts
 * import { decodeFrame, encodeFrame } from '@trickle/protocol'
 * const bytes = encodeFrame({ t: 'ping', n: 1 })
 * console.log(decodeFrame(bytes)) // { t: 'ping', n: 1 }
 * ```
 */

export { recoverPublicKey, SECP256K1_BACKEND } from '#secp256k1'
export {
  ACCEPT_TYPE,
  ACCEPT_TYPEHASH,
  type AcceptValue,
  acceptDigest,
  recoverAcceptSigner,
  signAccept,
} from './accept.ts'
export { BuyerChannelAccount } from './buyerChannelAccount.ts'
export {
  BuyerClient,
  type BuyerClientOptions,
  type Chunk,
  type MarketplaceConfig,
  type PaidStream,
  type SessionSummary,
  type StreamOptions,
} from './buyerClient.ts'
export { type BuyerEffect, BuyerSession, type BuyerSessionConfig, closeError } from './buyerSession.ts'
export {
  type CatalogProduct,
  type CatalogSource,
  joinDescriptor,
  listProducts,
  PRODUCT_KINDS,
} from './catalog.ts'
export { assertChainId } from './chain/assertChainId.ts'
export { type FeeOverrides, feeOverrides } from './chain/feeOverrides.ts'
export { type ChannelDetails, type ChannelStatusName, describeChannel } from './channels/describeChannel.ts'
export { type FinalizeResult, finalizeChannel } from './channels/finalizeChannel.ts'
export {
  DEFAULT_LOG_PAGE_BLOCKS,
  type ListChannelsOptions,
  type ListedChannel,
  listChannels,
} from './channels/listChannels.ts'
export { type OpenChannelRequest, type OpenChannelResult, openChannel } from './channels/openChannel.ts'
export { readChannel } from './channels/readChannel.ts'
export { type RequestCloseResult, requestChannelClose } from './channels/requestChannelClose.ts'
export { toChainError } from './channels/toChainError.ts'
export { type TopUpResult, topUpChannel } from './channels/topUpChannel.ts'
export type { ChannelReader, ChannelWriter, TransactionOutcome } from './channels/types.ts'
export { DEFAULT_MAX_FRAME_BYTES, decodeFrame, encodeFrame } from './codec.ts'
export { growWindow, resetWindow, sendableChunks } from './creditWindow.ts'
export {
  decodeDescriptor,
  encodeDescriptor,
  type ProductDescriptor,
  parseDescriptor,
  productDescriptorSchema,
} from './descriptor.ts'
export { ERROR_CODES, type ErrorCode, hasCode, isErrorCode, TrickleError } from './errors.ts'
export { createDescriptorFetcher, type DescriptorFetcher } from './fetchDescriptor.ts'
export * from './frames.ts'
export { type Address, fromHex, type Hex, toHex } from './hex.ts'
export { keccak256Bytes, keccakReady } from './keccak.ts'
export {
  checkReceiptSignature,
  extendAckHash,
  nextAckHash,
  parseReceiptSignature,
  RECEIPT_TYPEHASH,
  RECEIPT_TYPES,
  type ReceiptDomain,
  type ReceiptValue,
  receiptDigest,
  receiptDomainSeparator,
  recoverDigestSigner,
  recoverReceiptSigner,
  signReceipt,
  ZERO_HASH,
} from './receipt.ts'
export { receiptSigners } from './receiptSigners.ts'
export { type ChannelDebt, SellerChannelLedger, type SellerLane } from './sellerChannelLedger.ts'
export {
  type AcceptedReceipt,
  type ChannelAccess,
  type ChannelInfo,
  CLOSE_LINGER_MS,
  type ConnectionLiveness,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_HELLO_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  type ReceiptVerification,
  type SellerEffect,
  type SellerPolicy,
  SellerSession,
  type SellerSessionStats,
} from './sellerSession.ts'
export {
  type BufferedChunks,
  type BufferLimits,
  bufferFull,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_BUFFERED_CHUNKS,
  MAX_CUMULATIVE_AMOUNT,
  MAX_IDLE_TIMEOUT_MS,
  MAX_PAYMENT_TIMEOUT_MS,
  MAX_RECEIPT_SEQ,
  MAX_TIMER_DELAY_MS,
  MIN_HEARTBEAT_MS,
  MIN_PAYMENT_TIMEOUT_MS,
  TERMS_CLOCK_SKEW_MS,
  termsTimingProblem,
  timerDelay,
} from './sessionLimits.ts'
export { recoverTermsSigner, signTerms, TERMS_TYPES, termsDigest } from './terms.ts'
