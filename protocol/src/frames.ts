import type { WireErrorCode } from './errors.ts'
import type { Address, Hex } from './hex.ts'
import type { JobQuote } from './jobs.ts'

/** Wire protocol version carried in `hello` and `terms`. See SPEC.md §Versioning. */
export const PROTOCOL_VERSION = 1

/** Why a session ended. Sent in the `close` frame. */
export const CLOSE_REASONS = [
  'done',
  'buyer_closed',
  'spending_cap',
  'payment_timeout',
  'deposit_exhausted',
  'protocol_error',
  'terms_rejected',
  'channel_unusable',
  'server_shutdown',
  'product_ended',
  'idle_timeout',
  'resource_limit',
] as const
/** A close reason code (string literal). */
export type CloseReason = (typeof CLOSE_REASONS)[number]

/**
 * The credit window, in chunks: the seller starts with `initial` unpaid chunks allowed, adds `step`
 * after each receipt that is not late, never exceeds `max`, and after a late receipt (one that comes
 * more than half the payment timeout after `payment_required`) steps back down to `initial` as the
 * unpaid chunks get paid (after Filecoin retrieval's growing payment intervals; SPEC.md §Credit window).
 */
export interface CreditWindow {
  /** chunks */
  initial: number
  /** chunks */
  step: number
  /** chunks */
  max: number
}

/**
 * What the seller does with a new chunk when `maxQueuedChunks` chunks already wait for a slow buyer
 * (closed credit window or a full socket): `drop_oldest` discards the oldest queued chunk (live data:
 * the freshest readings win), `drop_newest` discards the new one (the queue keeps its order). Either
 * way a dropped chunk is never sent and gets no `seq` (SPEC.md §Back-pressure).
 */
export const OVERFLOW_POLICIES = ['drop_oldest', 'drop_newest'] as const
/** A queue overflow policy (string literal), part of the signed terms. */
export type OverflowPolicy = (typeof OVERFLOW_POLICIES)[number]

/** The state a session starts from on a channel: the last receipt the seller holds (zero if none). */
export interface ResumeBase {
  /** chunks acknowledged so far on the channel */
  seq: number
  /** cumulative amount of the last receipt, wei */
  amount: bigint
  /** rolling hash of the acknowledged chunks (zero hash if none) */
  ackHash: Hex
  /** the buyer's signature of that receipt, `0x` when `seq` is 0 */
  signature: Hex
}

/**
 * A span of a product's recorded feed that a buyer asks for in `hello` (SPEC.md §History): readings
 * the seller recorded between `from` and `to`, or its latest `last` readings; with `live`, the
 * session goes on with live readings after them. `{}` asks for everything the seller still holds.
 */
export interface HistoryRange {
  /** ms since the Unix epoch: readings recorded at or after it (default: the oldest held) */
  from?: number
  /** ms since the Unix epoch: readings recorded at or before it (default: the `hello`); not with `live` */
  to?: number
  /** the latest this many readings (≥ 1); not with `from` or `to` */
  last?: number
  /**
   * feed positions, inclusive: exactly the readings a seller's answer named (`RangeEcho.start` …
   * `end`), e.g. to buy a previewed range as it was previewed; not with `from`, `to` or `last`
   */
  start?: number
  /** the last feed position, inclusive (with `start`; not with `live`) */
  end?: number
  /** after the range, go on with live readings, with no gap and no repeat (stream products only) */
  live?: boolean
  /**
   * this session continues an earlier one of the channel on the same range and product: the seller
   * skips the readings up to the channel's last paid one (SPEC.md §History, "Resuming a range")
   */
  resume?: boolean
}

/**
 * What the seller will send of a requested {@link HistoryRange}, in `terms` (not covered by the terms
 * signature, like the nonce).
 */
export interface RangeEcho {
  /** recorded readings the session sends before it ends (or, `live`, goes live) */
  count: number
  /** ms since the Unix epoch: when the first of them was recorded (0 when `count` is 0) */
  from: number
  /** ms since the Unix epoch: when the last of them was recorded (0 when `count` is 0) */
  to: number
  /** whether live readings follow them */
  live: boolean
  /** the feed position of the first of them (0 when `count` is 0) */
  start: number
  /** the feed position of the last of them (0 when `count` is 0) */
  end: number
}

/**
 * Buyer → seller: open a session for `productId`, paid from `channelId`; with `range`, for a span of
 * the product's recorded history rather than its live readings.
 */
export interface HelloFrame {
  t: 'hello'
  v: number
  productId: bigint
  channelId: Hex
  range?: HistoryRange
  /** a job of a `compute` or `app` product to run, under the provider's quote (SPEC.md §Jobs) */
  job?: JobRequest
}

/**
 * The job a `hello` asks a provider to run (SPEC.md §Jobs): its signed quote and the arguments the
 * quote's `argsHash` covers, in the clear (`args`) or sealed to the provider (`sealedArgs`; exactly
 * one of the two). The module was uploaded before (`PUT /jobs/modules/<sha256>`), or is the app's own.
 */
export interface JobRequest {
  quote: JobQuote
  /** the quote's EIP-712 signature by the provider's terms key */
  signature: Hex
  /** WASI `argv`, the program name first (at most 64, each at most 1,024 characters) */
  args?: string[]
  /**
   * the same arguments as their JSON array text (UTF-8) sealed to the provider's terms key
   * (`sealTo`, SPEC.md §Jobs "Sealed jobs"), at most {@link MAX_SEALED_ARGS_BYTES} bytes
   */
  sealedArgs?: Uint8Array
  /** seal the job's `out`, `err` and `file` records to the key that signs the session's `accept` */
  sealResults?: boolean
}

/** The largest `sealedArgs` of a {@link JobRequest}, bytes. */
export const MAX_SEALED_ARGS_BYTES = 96 * 1024

/** The terms of a session, signed by the seller's registered key (EIP-712, see `terms.ts`). */
export interface Terms {
  v: number
  productId: bigint
  channelId: Hex
  /** who is paid: the channel's payee */
  payee: Address
  /** wei per chunk */
  pricePerChunk: bigint
  /** bytes of chunk payload, at most */
  maxChunkBytes: number
  window: CreditWindow
  /** the buyer sends a receipt at least every this many chunks */
  receiptEvery: number
  /** ms the seller waits after `payment_required` before it closes */
  paymentTimeoutMs: number
  /** ms (duration) of silence from the buyer after which the seller sends `ping` */
  heartbeatMs: number
  /** ms (duration) of silence from the peer after which either side closes with `idle_timeout` */
  idleTimeoutMs: number
  /** chunks the seller queues for a slow buyer, at most (≥ 1) */
  maxQueuedChunks: number
  /** which chunk the seller drops when the queue is full */
  overflow: OverflowPolicy
  chainId: number
  /** the StreamChannels contract receipts are signed for */
  channels: Address
  /** ms since the Unix epoch after which the terms may not be accepted */
  expiresAt: number
  /** where the session starts on this channel */
  base: ResumeBase
}

/** Seller → buyer: the terms, with the seller key's signature. */
export interface TermsFrame extends Terms {
  t: 'terms'
  signature: Hex
  /**
   * 32 random bytes, fresh per session, that the buyer signs in `accept` (SPEC.md §Authentication);
   * not covered by the terms signature
   */
  nonce: Hex
  /** the answer to `hello.range`: what the session will send of it (absent without a range) */
  range?: RangeEcho
}

/**
 * Buyer → seller: the buyer accepts the terms whose EIP-712 digest is `termsDigest`, and proves it
 * holds the channel's signer key: `signature` is that key's EIP-712 `Accept(channelId, termsDigest,
 * nonce)` signature in the receipt domain (see `accept.ts`).
 */
export interface AcceptFrame {
  t: 'accept'
  termsDigest: Hex
  signature: Hex
  /**
   * chunks the buyer wants in this session, at most (absent: no limit): the seller sends no more, so
   * a buyer that stops at a count leaves no chunk in flight (SPEC.md §Channel debt)
   */
  maxChunks?: number
}

/** Seller → buyer: chunk number `seq` (0-based, counted over the whole channel). */
export interface ChunkFrame {
  t: 'chunk'
  seq: number
  data: Uint8Array
}

/**
 * Buyer → seller: a signed cumulative receipt covering chunks `[0, seq)` of the channel, worth
 * `amount` wei in total, with `ackHash` the rolling hash of those chunks.
 */
export interface ReceiptFrame {
  t: 'receipt'
  seq: number
  amount: bigint
  ackHash: Hex
  signature: Hex
}

/** Seller → buyer: the credit window is spent; pay `owed` wei (covering `seq` chunks) before `deadline`. */
export interface PaymentRequiredFrame {
  t: 'payment_required'
  seq: number
  owed: bigint
  /** ms since the Unix epoch */
  deadline: number
}

/** Either side: the session ends. */
export interface CloseFrame {
  t: 'close'
  reason: CloseReason
  message: string
}

/** Either side: something was wrong. */
export interface ErrorFrame {
  t: 'error'
  code: WireErrorCode
  message: string
}

/**
 * Either side: liveness probe; answered by `pong` with the same `n`. The reference seller sends one
 * after `heartbeatMs` of silence from the buyer, with `n` counting its pings from 1.
 */
export interface PingFrame {
  t: 'ping'
  n: number
}

/** Answer to `ping`. */
export interface PongFrame {
  t: 'pong'
  n: number
}

/** Every frame of protocol version 1. */
export type Frame =
  | HelloFrame
  | TermsFrame
  | AcceptFrame
  | ChunkFrame
  | ReceiptFrame
  | PaymentRequiredFrame
  | CloseFrame
  | ErrorFrame
  | PingFrame
  | PongFrame

/** The `t` tag of a frame. */
export type FrameType = Frame['t']
