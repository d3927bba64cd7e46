/**
 * @packageDocumentation
 * Trickle's streaming payment protocol core: the msgpack frame codec, EIP-712 receipts, terms and
 * accepts, the pure buyer and seller session state machines with the credit window and channel
 * ledgers, product descriptors and the error model. It runs unchanged in browsers and in Node (no
 * `node:` module, no `Buffer`; `npm run check:browser` walks the import graph). The buyer SDK is
 * `@trickle/sdk`, the CLI `@trickle/cli`; the full protocol is in `protocol/SPEC.md`.
 *
 * @example
 * ```ts
 * import { decodeFrame, encodeFrame } from '@trickle/protocol'
 * const bytes = encodeFrame({ t: 'ping', n: 1 })
 * console.log(decodeFrame(bytes)) // { t: 'ping', n: 1 }
 * ```
 */

export { BaseError, type BaseErrorOptions, errorCode } from '@trickle/errors'
export {
  ACCEPT_TYPE,
  ACCEPT_TYPEHASH,
  type AcceptValue,
  acceptDigest,
  recoverAcceptSigner,
  signAccept,
} from './accept.ts'
export { BuyerChannelAccount } from './buyerChannelAccount.ts'
export { type BuyerEffect, BuyerSession, type BuyerSessionConfig, closeError } from './buyerSession.ts'
export { DEFAULT_MAX_FRAME_BYTES, decodeFrame, encodeFrame, MAX_RANGE_LAST } from './codec.ts'
export { growWindow, resetWindow, sendableChunks } from './creditWindow.ts'
export { type CryptoBackend, cryptoBackend, portableCrypto, useCryptoBackend } from './cryptoBackend.ts'
export {
  decodeDescriptor,
  encodeDescriptor,
  type ProductDescriptor,
  parseDescriptor,
  productDescriptorSchema,
} from './descriptor.ts'
export {
  ERROR_CODES,
  type ErrorCode,
  hasCode,
  isErrorCode,
  isWireErrorCode,
  LOCAL_ERROR_CODES,
  type LocalErrorCode,
  TrickleError,
  WIRE_ERROR_CODES,
  type WireErrorCode,
  wireCodeOf,
} from './errors.ts'
export * from './frames.ts'
export { type Address, fromHex, type Hex, toHex } from './hex.ts'
export * from './jobSealing.ts'
export * from './jobs.ts'
export { keccak256Bytes } from './keccak.ts'
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
export {
  openSignedReading,
  type ReadingProvenance,
  SIGNED_READING_VERSION,
  type SignedReading,
  signReading,
  verifyReading,
} from './signedReading.ts'
export { recoverTermsSigner, signTerms, TERMS_TYPES, termsDigest } from './terms.ts'
