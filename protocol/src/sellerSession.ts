import { acceptDigest, recoverAcceptSigner } from './accept.ts'
import { growWindow, resetWindow } from './creditWindow.ts'
import { type ErrorCode, TrickleError, wireCodeOf } from './errors.ts'
import {
  type CloseReason,
  type CreditWindow,
  type Frame,
  type HistoryRange,
  type JobRequest,
  type OverflowPolicy,
  PROTOCOL_VERSION,
  type RangeEcho,
  type ReceiptFrame,
  type ResumeBase,
  type Terms,
} from './frames.ts'
import { type Address, fromHex, type Hex, toHex } from './hex.ts'
import { checkReceiptSignature, extendAckHash, receiptDigest, recoverReceiptSigner } from './receipt.ts'
import { type ChannelDebt, SellerChannelLedger, type SellerLane } from './sellerChannelLedger.ts'
import { termsDigest } from './terms.ts'

/** The seller's policy for a product's sessions. */
export interface SellerPolicy {
  /** wei per chunk */
  pricePerChunk: bigint
  /** bytes */
  maxChunkBytes: number
  window: CreditWindow
  /** chunks between receipts the buyer must send */
  receiptEvery: number
  /** ms to wait after `payment_required` before closing */
  paymentTimeoutMs: number
  /** ms the terms stay valid */
  termsTtlMs: number
  /**
   * chunks buffered while the credit window is closed or the transport is full (≥ 1); beyond it a
   * chunk is dropped as `overflow` says
   */
  maxQueuedChunks: number
  /** which chunk is dropped when the queue is full (default `drop_oldest`) */
  overflow?: OverflowPolicy
  /** ms of silence from the buyer before the seller sends `ping` (default {@link DEFAULT_HEARTBEAT_MS}) */
  heartbeatMs?: number
  /**
   * ms of silence from the buyer before the seller closes with `error IDLE_TIMEOUT` and
   * `close idle_timeout`; must be above `heartbeatMs` (default {@link DEFAULT_IDLE_TIMEOUT_MS})
   */
  idleTimeoutMs?: number
  /**
   * bytes the driver lets wait in the transport's send buffer (e.g. `ws.bufferedAmount`) before it
   * calls {@link SellerSession.transportFull}; a driver setting, not part of the terms
   */
  maxBufferedBytes?: number
}

/** Default `heartbeatMs`, ms. */
export const DEFAULT_HEARTBEAT_MS = 10_000
/** Default `idleTimeoutMs`, ms: three missed heartbeats. */
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000
/**
 * Default time a connection has to send `hello`, ms (SPEC.md §Resource limits). Unlike the idle
 * timeout, frames (e.g. `pong`s) do not extend it.
 */
export const DEFAULT_HELLO_TIMEOUT_MS = 5_000

/** Liveness of a connection before `hello` names a product (and so a {@link SellerPolicy}). */
export interface ConnectionLiveness {
  /** ms since the epoch the connection opened */
  now: number
  /** ms; default {@link DEFAULT_HEARTBEAT_MS} */
  heartbeatMs?: number
  /** ms; default {@link DEFAULT_IDLE_TIMEOUT_MS} */
  idleTimeoutMs?: number
  /**
   * ms from `now` the connection has to send `hello`, whatever else it sends; default
   * {@link DEFAULT_HELLO_TIMEOUT_MS}. Past it: `error HELLO_TIMEOUT`, `close resource_limit`.
   */
  helloTimeoutMs?: number
}

/**
 * How an authenticated session takes its place on the channel's shared ledger (SPEC.md
 * §Authentication): the driver decides (session cap per channel, the payer's other debts) and
 * answers with the ledger to join, or why not.
 */
export interface ChannelAccess {
  /** the ledger of the channel's live sessions, if it has any now: new terms resume from its base */
  readonly ledger: SellerChannelLedger | undefined
  /**
   * Called once the buyer proved it holds the channel's key (valid `accept`).
   * @returns the channel's ledger to join, or the refusal (`CHANNEL_BUSY`, `DEBT_OUTSTANDING`)
   */
  join(): SellerChannelLedger | { code: ErrorCode; message: string }
}

/** What the driver learned about the channel and product on-chain and from its receipt store. */
export interface ChannelInfo {
  productId: bigint
  channelId: Hex
  chainId: number
  /** StreamChannels address */
  channels: Address
  /** the seller's payee address (must be the channel's payee) */
  payee: Address
  /** wei in the channel */
  deposit: bigint
  /** addresses whose receipt signatures count (channel signer, payer, previous signer still valid) */
  signers: readonly Address[]
  /** the last durable receipt of this channel (highest cumulative amount), or the zero base */
  base: ResumeBase
  /**
   * the first chunk label free on the channel: above every stored receipt's `seq` (default
   * `base.seq`), chunks
   */
  nextSeq?: number
  /** the channel's payer (per-payer limits) */
  payer?: Address
  /** the channel's debt recorded when its last session ended (SPEC.md §Channel debt), if any */
  debt?: ChannelDebt
}

/** A receipt the seller accepted, to be stored durably before it counts. */
export interface AcceptedReceipt {
  channelId: Hex
  productId: bigint
  seq: number
  amount: bigint
  ackHash: Hex
  signature: Hex
  signer: Address
}

/** Something the driver must do. The machine never does I/O itself. */
export type SellerEffect =
  | { type: 'send'; frame: Frame }
  /** look up the product, the channel and, when `hello` asked for one, the history `range` */
  | { type: 'resolve'; productId: bigint; channelId: Hex; range?: HistoryRange; job?: JobRequest }
  /**
   * the buyer accepted: start sending. `accept` is what it signed, the digest and the signature
   * (e.g. to recover the public key a sealed job's results are sealed to)
   */
  | { type: 'subscribe'; accept: { signer: Address; digest: Hex; signature: Hex } }
  | { type: 'persist'; receipt: AcceptedReceipt }
  /**
   * `deferred` verification only: recover the signer of `digest` (e.g. in a worker thread) and pass
   * the address, or the error, to {@link SellerSession.verified}. No credit extends before that.
   */
  | { type: 'verify'; seq: number; digest: Hex; signature: Hex }
  | { type: 'close'; reason: CloseReason; code?: ErrorCode }

/**
 * Where a seller session recovers receipt signers: `inline` inside {@link SellerSession.receive}, or
 * `deferred` to the caller through a `verify` effect.
 */
export type ReceiptVerification = 'inline' | 'deferred'

/** Placeholder until `resolved`: nothing is sent before a policy is known. */
const CLOSED_POLICY: SellerPolicy = {
  pricePerChunk: 0n,
  maxChunkBytes: 0,
  window: { initial: 1, step: 0, max: 1 },
  receiptEvery: 1,
  paymentTimeoutMs: 0,
  termsTtlMs: 0,
  maxQueuedChunks: 0,
}

type Phase = 'await_hello' | 'resolving' | 'await_accept' | 'streaming' | 'closing' | 'closed'

/**
 * How long the seller waits, after a buyer's `close`, for the receipt that pays the chunks that were
 * in flight when the buyer closed (SPEC.md §Channel debt), ms.
 */
export const CLOSE_LINGER_MS = 2_000

/** Counters a driver may export as metrics. */
export interface SellerSessionStats {
  chunksSent: number
  /** chunks never sent: above `maxChunkBytes`, or dropped by the queue's `overflow` policy */
  chunksDropped: number
  receiptsAccepted: number
  pingsSent: number
  /** the most chunks ever queued at once (never above `maxQueuedChunks`) */
  peakQueuedChunks: number
}

/**
 * The seller side of one session, pure: frames and events in, effects out; the caller passes the
 * clock (`now`, ms since the epoch) into every call. Enforces SPEC.md's bound: the value delivered but
 * not covered by a durable receipt never exceeds `pricePerChunk × window`, nor the channel's deposit.
 */
export class SellerSession {
  readonly stats: SellerSessionStats = {
    chunksSent: 0,
    chunksDropped: 0,
    receiptsAccepted: 0,
    pingsSent: 0,
    peakQueuedChunks: 0,
  }
  private phase: Phase = 'await_hello'
  private policy: SellerPolicy = CLOSED_POLICY
  private readonly signTerms: (terms: Terms) => Hex
  private readonly domainSeparator: (info: ChannelInfo) => Hex
  private info: ChannelInfo | undefined
  private terms: Terms | undefined
  private digest: Hex | undefined
  private domain: Hex | undefined
  /** the channel's accounting, shared with the channel's other sessions when the driver passes one */
  private ledger = new SellerChannelLedger()
  /** this session's share of the channel */
  private lane: SellerLane = {
    pricePerChunk: 0n,
    sentChunks: 0,
    acceptedChunks: 0,
    durableChunks: 0,
    window: 0,
  }
  /** label after the last chunk this session sent: a receipt for all of them carries it as `seq` */
  private nextSeq = 0
  /** rolling ack hash of this session's chunks, from the base (bytes: hex only when a receipt is checked) */
  private ackHash: Uint8Array = new Uint8Array(32)
  /**
   * Where a receipt may end, from the last durable one on: entry `i` is after this session's
   * `pointsFrom + i` chunks, with receipt `seq` `sentSeqs[i]` (rising) and rolling hash `sentHashes[i]`.
   * Arrays, not a Map by seq: one push per chunk is several times cheaper on the sending path.
   */
  private sentSeqs: number[] = []
  private sentHashes: Uint8Array[] = []
  private pointsFrom = 0
  private accepted: { seq: number; amount: bigint } = { seq: 0, amount: 0n }
  private readonly queue: Uint8Array[] = []
  private paymentDeadline: number | undefined
  /** when `payment_required` was sent (ms), until a receipt arrives */
  private stalledAt: number | undefined
  /** after a late receipt: the window is stepping down to `initial` */
  private shrinking = false
  /** when the last frame from the buyer arrived (ms), once liveness is on */
  private lastHeard: number | undefined
  /** when the last `ping` went out (ms) */
  private lastPing: number | undefined
  private heartbeatMs = DEFAULT_HEARTBEAT_MS
  private idleTimeoutMs = DEFAULT_IDLE_TIMEOUT_MS
  /** whether the transport takes more data (false above the driver's high-water mark) */
  private writable = true
  private readonly verification: ReceiptVerification
  /** receipts that passed every check but the signature, by seq (deferred verification) */
  private readonly verifying = new Map<number, ReceiptFrame>()
  /** chunks the buyer wants in this session, at most (its `accept.maxChunks`) */
  private chunkLimit = Number.POSITIVE_INFINITY
  /** the source has no more data: end once the queue is sent and paid */
  private sourceDone = false
  /** when a `closing` session stops waiting for its last receipt (ms) */
  private closingDeadline: number | undefined
  /** when `hello` is due (ms), while in `await_hello` */
  private helloDeadline: number | undefined
  /** the nonce of the terms sent, which `accept` must sign */
  private nonce: Hex | undefined
  /** how the session joins the channel's ledger once authenticated */
  private access: ChannelAccess | undefined

  /**
   * @param signTerms - signs terms with the seller's registered key (see `signTerms`)
   * @param domainSeparator - the receipt EIP-712 domain separator for a channel's chain/contract
   * @param connection - when the connection opened and its heartbeat/idle timeouts (ms) until a
   *   policy is known; without it liveness starts at {@link resolved}
   * @param verification - `inline` (default): a receipt's signer is recovered inside
   *   {@link receive}; `deferred`: `receive` emits a `verify` effect and the caller answers with
   *   {@link verified}, so the ~2 ms recovery can run off the caller's event loop
   */
  constructor(
    signTerms: (terms: Terms) => Hex,
    domainSeparator: (info: ChannelInfo) => Hex,
    connection?: ConnectionLiveness,
    verification: ReceiptVerification = 'inline',
  ) {
    this.signTerms = signTerms
    this.domainSeparator = domainSeparator
    this.verification = verification
    if (connection) {
      this.lastHeard = connection.now
      this.heartbeatMs = connection.heartbeatMs ?? DEFAULT_HEARTBEAT_MS
      this.idleTimeoutMs = connection.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS
      this.helloDeadline = connection.now + (connection.helloTimeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS)
    }
  }

  /** Whether the session has ended. */
  get closed(): boolean {
    return this.phase === 'closed'
  }

  /** The current credit window, chunks. */
  get windowSize(): number {
    return this.lane.window
  }

  /** Chunks this session sent that no durable receipt covers yet. */
  get unpaidChunks(): number {
    return this.lane.sentChunks - this.lane.durableChunks
  }

  /** The resume base put in the terms, once resolved. */
  get base(): ResumeBase | undefined {
    return this.terms?.base
  }

  /** Chunks waiting to be sent (never above the policy's `maxQueuedChunks`). */
  get queuedChunks(): number {
    return this.queue.length
  }

  /**
   * Chunks an {@link offer} may add now without one being dropped: room in the queue, within what the
   * buyer's `maxChunks` leaves (0 once the source ended or the session is over). A source that can
   * wait (recorded history) offers no more than this.
   */
  get roomForChunks(): number {
    if (this.phase === 'closed' || this.phase === 'closing' || this.sourceDone) return 0
    const queueRoom = this.policy.maxQueuedChunks - this.queue.length
    const wanted = this.chunkLimit - this.lane.sentChunks - this.queue.length
    return Math.max(0, Math.min(queueRoom, wanted))
  }

  /** Handles a decoded frame from the buyer. Any frame counts as a sign of life. */
  receive(frame: Frame, now: number): SellerEffect[] {
    if (this.phase === 'closed') return []
    if (this.lastHeard !== undefined) this.lastHeard = Math.max(this.lastHeard, now)
    if (this.phase === 'closing') return this.whileClosing(frame, now)
    switch (frame.t) {
      case 'ping':
        return [{ type: 'send', frame: { t: 'pong', n: frame.n } }]
      case 'pong':
        return []
      case 'hello':
        if (this.phase !== 'await_hello')
          return this.fail('UNEXPECTED_FRAME', 'hello after the session started')
        if (frame.v !== PROTOCOL_VERSION)
          return this.fail('UNSUPPORTED_VERSION', `protocol version ${frame.v}`)
        this.phase = 'resolving'
        this.helloDeadline = undefined
        return [
          {
            type: 'resolve',
            productId: frame.productId,
            channelId: frame.channelId,
            ...(frame.range !== undefined ? { range: frame.range } : {}),
            ...(frame.job !== undefined ? { job: frame.job } : {}),
          },
        ]
      case 'accept':
        if (this.phase !== 'await_accept') return this.fail('UNEXPECTED_FRAME', 'accept without terms')
        if (frame.termsDigest !== this.digest) return this.fail('TERMS_INVALID', 'accept names other terms')
        if (now >= this.terms!.expiresAt) return this.fail('TERMS_EXPIRED', 'terms expired before accept')
        return this.onAccept(frame.signature, frame.maxChunks, now)
      case 'receipt':
        if (this.phase !== 'streaming') return this.fail('UNEXPECTED_FRAME', 'receipt before accept')
        return this.onReceipt(frame, now)
      case 'close':
        return this.onBuyerClose(now)
      case 'error':
        return []
      default:
        return this.fail('UNEXPECTED_FRAME', `${frame.t} is not sent by buyers`)
    }
  }

  /**
   * The buyer closed. Chunks this session sent that no receipt covers were in flight (or the buyer
   * takes without paying): the seller echoes the close, sends nothing more, and waits up to
   * {@link CLOSE_LINGER_MS} for a receipt that pays them, which an honest buyer sends once the echo
   * tells it nothing else is coming (SPEC.md §Channel debt). Unpaid after that, they stay the
   * channel's debt.
   */
  private onBuyerClose(now: number): SellerEffect[] {
    if (this.phase !== 'streaming' || this.lane.sentChunks <= this.lane.acceptedChunks) {
      return this.end('buyer_closed')
    }
    this.phase = 'closing'
    this.paymentDeadline = undefined
    this.closingDeadline = now + CLOSE_LINGER_MS
    return [{ type: 'send', frame: { t: 'close', reason: 'buyer_closed', message: '' } }]
  }

  /** After the buyer's `close`: only the receipt for the chunks in flight (and pings) count. */
  private whileClosing(frame: Frame, now: number): SellerEffect[] {
    if (frame.t === 'ping') return [{ type: 'send', frame: { t: 'pong', n: frame.n } }]
    if (frame.t === 'receipt') return this.onReceipt(frame, now)
    return []
  }

  /** Ends a `closing` session once its chunks are paid, or its linger is over. */
  private closedAfterLinger(): SellerEffect[] {
    this.phase = 'closed'
    this.closingDeadline = undefined
    return [{ type: 'close', reason: 'buyer_closed' }]
  }

  /**
   * The channel and product checked out: answer with signed terms.
   * @param info - on-chain channel state and the store's last receipt
   * @param policy - the product's pricing and window policy
   * @param channel - how the session joins the channel's ledger, shared with its other live sessions
   *   on this server (SPEC.md §Concurrent sessions), once `accept` proves the buyer holds the
   *   channel's key: a {@link ChannelAccess}, or a ledger to join as it is; when absent, a ledger of
   *   its own restored from `info` (base and recorded debt)
   * @param nonce - the terms' `nonce`, 32 bytes the buyer signs in `accept`; random when absent
   * @param range - what the session will send of the `hello`'s history range (SPEC.md §History), sent
   *   in the terms; the driver calls {@link sourceEnded} once a finite range is offered in full
   */
  resolved(
    info: ChannelInfo,
    policy: SellerPolicy,
    now: number,
    channel?: SellerChannelLedger | ChannelAccess,
    nonce: Hex = randomNonce(),
    range?: RangeEcho,
  ): SellerEffect[] {
    if (this.phase !== 'resolving') return []
    this.policy = policy
    this.heartbeatMs = policy.heartbeatMs ?? DEFAULT_HEARTBEAT_MS
    this.idleTimeoutMs = policy.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS
    this.lastHeard ??= now
    if (channel && !(channel instanceof SellerChannelLedger)) {
      this.access = channel
    } else {
      const ledger = channel ?? SellerChannelLedger.restore(info.base, info.debt)
      this.access = { ledger, join: () => ledger }
    }
    // Nothing is taken on the channel before the buyer proves it holds the channel's key: the terms
    // only peek at the base; the session joins the ledger on a valid `accept`.
    const base = this.access.ledger ? this.access.ledger.baseFor(info.base) : info.base
    this.info = { ...info, base }
    info = this.info
    this.nonce = nonce
    this.domain = this.domainSeparator(info)
    this.nextSeq = info.base.seq
    this.ackHash = fromHex(info.base.ackHash)
    this.accepted = { seq: info.base.seq, amount: info.base.amount }
    this.sentSeqs = [info.base.seq]
    this.sentHashes = [this.ackHash]
    this.pointsFrom = 0
    const p = this.policy
    const terms: Terms = {
      v: PROTOCOL_VERSION,
      productId: info.productId,
      channelId: info.channelId,
      payee: info.payee,
      pricePerChunk: p.pricePerChunk,
      maxChunkBytes: p.maxChunkBytes,
      window: p.window,
      receiptEvery: p.receiptEvery,
      paymentTimeoutMs: p.paymentTimeoutMs,
      heartbeatMs: this.heartbeatMs,
      idleTimeoutMs: this.idleTimeoutMs,
      maxQueuedChunks: p.maxQueuedChunks,
      overflow: p.overflow ?? 'drop_oldest',
      chainId: info.chainId,
      channels: info.channels,
      expiresAt: now + p.termsTtlMs,
      base: info.base,
    }
    this.terms = terms
    this.digest = termsDigest(terms)
    this.phase = 'await_accept'
    const echo = range !== undefined ? { range } : {}
    return [
      { type: 'send', frame: { t: 'terms', ...terms, signature: this.signTerms(terms), nonce, ...echo } },
    ]
  }

  /**
   * `accept` with the right digest, in time: its signature must recover to one of the channel's keys
   * (SPEC.md §Authentication). Only then does the session join the channel's ledger and stream.
   */
  private onAccept(signature: Hex, maxChunks: number | undefined, now: number): SellerEffect[] {
    const info = this.info!
    let signer: Address
    const accepted = { channelId: info.channelId, termsDigest: this.digest!, nonce: this.nonce! }
    try {
      signer = recoverAcceptSigner(this.domain!, accepted, signature)
    } catch (err) {
      return this.fail('AUTH_FAILED', (err as TrickleError).shortMessage)
    }
    if (!info.signers.some((s) => s.toLowerCase() === signer)) {
      return this.fail('AUTH_FAILED', `accept signed by ${signer}, not a key of the channel`)
    }
    const joined = this.access!.join()
    if (!(joined instanceof SellerChannelLedger))
      return this.fail(joined.code, joined.message, 'channel_unusable')
    this.ledger = joined
    this.lane = joined.join(
      info.base,
      info.nextSeq ?? info.base.seq,
      info.deposit,
      this.policy.pricePerChunk,
      this.policy.window.initial,
    ).lane
    if (maxChunks !== undefined) this.chunkLimit = maxChunks
    this.phase = 'streaming'
    const accept = { signer, digest: acceptDigest(this.domain!, accepted), signature }
    return [{ type: 'subscribe', accept }, ...this.pump(now)]
  }

  /** The channel or product is unusable (unknown, closed, wrong payee...). */
  rejected(code: ErrorCode, message: string): SellerEffect[] {
    return this.fail(code, message, 'channel_unusable')
  }

  /**
   * A chunk of product data is available. Sent at once if the window and the transport allow, else
   * queued. The queue never holds more than `maxQueuedChunks`: when it is full, `overflow`
   * `drop_oldest` drops the oldest queued chunk, `drop_newest` drops `data` (SPEC.md §Back-pressure).
   * @param data - chunk payload, at most `maxChunkBytes` bytes (larger payloads are dropped)
   */
  offer(data: Uint8Array, now: number): SellerEffect[] {
    if (this.phase === 'closed') return []
    // The buyer asked for no more: nothing to queue.
    if (this.lane.sentChunks >= this.chunkLimit) return []
    if (data.byteLength > this.policy.maxChunkBytes) {
      this.stats.chunksDropped++
      return []
    }
    if (this.queue.length >= this.policy.maxQueuedChunks) {
      this.stats.chunksDropped++
      if (this.policy.overflow === 'drop_newest' || this.queue.length === 0) {
        return this.phase === 'streaming' ? this.pump(now) : []
      }
      this.queue.shift()
    }
    this.queue.push(data)
    this.stats.peakQueuedChunks = Math.max(this.stats.peakQueuedChunks, this.queue.length)
    return this.phase === 'streaming' ? this.pump(now) : []
  }

  /**
   * The transport is above its high-water mark (e.g. `ws.bufferedAmount`): stop sending chunks; new
   * ones queue (and overflow) until {@link transportDrained}. Pings and closes are still emitted.
   */
  transportFull(): void {
    this.writable = false
  }

  /** The transport is below its low-water mark again: send what the window allows. */
  transportDrained(now: number): SellerEffect[] {
    if (this.writable) return []
    this.writable = true
    return this.phase === 'streaming' ? this.pump(now) : []
  }

  /**
   * The source has no more data (a finite product, or a history range offered in full): the session
   * sends what is queued, asks with `payment_required` for the chunks no receipt covers yet, and
   * closes `product_ended` once they are paid (durably), or `PAYMENT_TIMEOUT` at the deadline.
   */
  sourceEnded(now: number): SellerEffect[] {
    if (this.phase === 'closed' || this.sourceDone) return []
    this.sourceDone = true
    return this.phase === 'streaming' ? this.pump(now) : []
  }

  /**
   * A receipt from {@link SellerEffect} `persist` is durable: it now counts, and credit extends.
   */
  persisted(receipt: AcceptedReceipt, now: number): SellerEffect[] {
    // Points start at the last durable receipt: a later one is still among them (or, paying the
    // channel's debt, that one itself at a higher amount).
    const index = receipt.seq >= this.sentSeqs[0]! ? this.pointAt(receipt.seq) : -1
    if (index >= 0) {
      const chunks = this.pointsFrom + index
      this.ledger.persisted(this.lane, chunks, {
        seq: receipt.seq,
        amount: receipt.amount,
        ackHash: receipt.ackHash,
        signature: receipt.signature,
      })
      // Drop the points before the paid one.
      this.sentSeqs.splice(0, index)
      this.sentHashes.splice(0, index)
      this.pointsFrom = chunks
      // Every chunk sent is paid: a `payment_required` that went out while this receipt was being
      // checked and stored is answered (the buyer has nothing more to sign).
      if (this.unpaidChunks === 0) {
        this.paymentDeadline = undefined
        this.stalledAt = undefined
      }
    }
    if (this.shrinking) {
      // After a late receipt the window steps down to `initial` as the unpaid chunks get paid, so
      // unpaid chunks never exceed the window.
      this.lane.window = Math.max(resetWindow(this.policy.window), this.unpaidChunks)
      if (this.lane.window === this.policy.window.initial) this.shrinking = false
    }
    if (this.phase === 'closing' && this.lane.durableChunks >= this.lane.sentChunks) {
      return this.closedAfterLinger()
    }
    return this.phase === 'streaming' ? this.pump(now) : []
  }

  /**
   * Another session's receipt on the same channel became durable, or one of them ended: this one may
   * be able to send again.
   */
  creditChanged(now: number): SellerEffect[] {
    return this.phase === 'streaming' ? this.pump(now) : []
  }

  /**
   * The driver is done with the session (closed, its receipts stored): its unpaid chunks stop
   * counting against the channel's shared credit. Idempotent.
   */
  leaveChannel(): void {
    this.ledger.leave(this.lane)
  }

  /** Storing a receipt failed: the session cannot safely extend credit. */
  persistFailed(message: string): SellerEffect[] {
    return this.fail('STORE_FAILED', message, 'server_shutdown')
  }

  /**
   * Timer: closes the session when a `payment_required` deadline has passed, when the terms expired
   * without an `accept` (so an unauthenticated `hello` cannot hold a channel), or when the buyer has
   * been silent for `idleTimeoutMs` (`error IDLE_TIMEOUT`, `close idle_timeout`); sends `ping` once
   * the buyer has been silent for `heartbeatMs` (then again every `heartbeatMs`).
   */
  tick(now: number): SellerEffect[] {
    if (this.phase === 'closed') return []
    if (this.phase === 'closing') {
      return now >= this.closingDeadline! ? this.closedAfterLinger() : []
    }
    if (this.phase === 'await_hello' && this.helloDeadline !== undefined && now >= this.helloDeadline) {
      return this.fail('HELLO_TIMEOUT', 'no hello in time', 'resource_limit')
    }
    if (this.phase === 'await_accept' && now >= this.terms!.expiresAt) {
      return this.fail('TERMS_EXPIRED', 'terms expired before accept', 'terms_rejected')
    }
    if (this.phase === 'streaming' && this.paymentDeadline !== undefined && now >= this.paymentDeadline)
      return this.fail('PAYMENT_TIMEOUT', 'no receipt before the payment deadline', 'payment_timeout')
    const idleAt = this.idleDeadline
    if (idleAt !== undefined && now >= idleAt) {
      return this.fail('IDLE_TIMEOUT', `no frame from the buyer for ${this.idleTimeoutMs} ms`, 'idle_timeout')
    }
    const pingAt = this.pingDeadline
    if (pingAt === undefined || now < pingAt) return []
    this.lastPing = now
    this.stats.pingsSent++
    return [{ type: 'send', frame: { t: 'ping', n: this.stats.pingsSent } }]
  }

  /**
   * The earliest time (ms since the epoch) the driver should call {@link tick} at, if any: the terms
   * expiry, the payment deadline, the next ping or the idle timeout.
   */
  get deadline(): number | undefined {
    if (this.phase === 'closed') return undefined
    if (this.phase === 'closing') return this.closingDeadline
    // Read after every chunk sent: no arrays.
    return earliest(
      earliest(
        this.phase === 'await_accept'
          ? this.terms!.expiresAt
          : this.phase === 'await_hello'
            ? this.helloDeadline
            : this.paymentDeadline,
        this.pingDeadline,
      ),
      this.idleDeadline,
    )
  }

  /** When the buyer counts as gone: `idleTimeoutMs` after its last frame. */
  private get idleDeadline(): number | undefined {
    return this.lastHeard === undefined ? undefined : this.lastHeard + this.idleTimeoutMs
  }

  /** When the next `ping` is due: `heartbeatMs` after the last frame heard or the last ping sent. */
  private get pingDeadline(): number | undefined {
    if (this.lastHeard === undefined) return undefined
    return Math.max(this.lastHeard, this.lastPing ?? this.lastHeard) + this.heartbeatMs
  }

  /** Closes from the seller side (shutdown). */
  shutdown(): SellerEffect[] {
    return this.end('server_shutdown')
  }

  /** Closes after a frame could not be decoded. */
  malformed(err: TrickleError): SellerEffect[] {
    return this.fail(err.code, err.shortMessage)
  }

  private onReceipt(r: ReceiptFrame, now: number): SellerEffect[] {
    const info = this.info!
    // A receipt covers more chunks, or (a payment of the channel's debt, SPEC.md §Channel debt) the
    // same chunks for a higher amount.
    if (
      r.seq < this.accepted.seq ||
      r.amount < this.accepted.amount ||
      (r.seq === this.accepted.seq && r.amount === this.accepted.amount)
    ) {
      return this.fail('RECEIPT_STALE', `receipt seq ${r.seq} amount ${r.amount} is not above the last one`)
    }
    if (r.seq > this.nextSeq)
      return this.fail('RECEIPT_ACK_MISMATCH', `receipt covers chunk ${r.seq} not yet sent`)
    const index = this.pointAt(r.seq)
    if (index < 0) {
      return this.fail('RECEIPT_ACK_MISMATCH', `receipt seq ${r.seq} does not follow a chunk of this session`)
    }
    const point = { hash: this.sentHashes[index]!, chunks: this.pointsFrom + index }
    // With one session this is `base.amount + (seq − base.seq) × price`. With several, the highest
    // amount accepted on the channel must pay for what every session's receipts cover: receipts on
    // different sockets may arrive out of the order they were signed in.
    const owed = this.ledger.required(this.lane, point.chunks)
    const paying = r.amount > this.ledger.highestAccepted ? r.amount : this.ledger.highestAccepted
    if (paying < owed) return this.fail('RECEIPT_UNDERPAID', `receipt pays ${r.amount} of ${owed} wei owed`)
    if (r.amount > this.ledger.deposit) {
      return this.fail(
        'RECEIPT_ABOVE_DEPOSIT',
        `receipt of ${r.amount} wei exceeds the ${this.ledger.deposit} wei deposit`,
      )
    }
    if (toHex(point.hash) !== r.ackHash.toLowerCase()) {
      return this.fail('RECEIPT_ACK_MISMATCH', 'receipt ack hash differs from the chunks sent')
    }
    try {
      checkReceiptSignature(r.signature)
    } catch (err) {
      return this.fail('RECEIPT_BAD_SIGNATURE', (err as TrickleError).shortMessage)
    }
    // Every check but the signature passed. A receipt whose signature then fails ends the session,
    // so later receipts may be checked against this one already; credit waits for `persisted`.
    this.accepted = { seq: r.seq, amount: r.amount }
    this.ledger.accepted(this.lane, point.chunks, r.amount)
    // A receipt is late when the seller has waited for it more than half the payment timeout: one
    // already in flight when `payment_required` went out is not late (SPEC.md §Credit window).
    const late = this.stalledAt !== undefined && now - this.stalledAt > this.policy.paymentTimeoutMs / 2
    if (late) {
      this.shrinking = true
      this.lane.window = Math.max(resetWindow(this.policy.window), this.unpaidChunks)
    } else if (!this.shrinking) {
      this.lane.window = growWindow(this.policy.window, this.lane.window)
    }
    this.stalledAt = undefined
    this.paymentDeadline = undefined
    const value = { channelId: info.channelId, amount: r.amount, seq: r.seq, ackHash: r.ackHash }
    if (this.verification === 'deferred') {
      this.verifying.set(r.seq, r)
      return [
        { type: 'verify', seq: r.seq, digest: receiptDigest(this.domain!, value), signature: r.signature },
      ]
    }
    let signer: Address
    try {
      signer = recoverReceiptSigner(this.domain!, value, r.signature)
    } catch (err) {
      return this.fail('RECEIPT_BAD_SIGNATURE', (err as TrickleError).shortMessage)
    }
    return this.signed(r, signer)
  }

  /** Index of receipt `seq` in `sentSeqs`, or −1. */
  private pointAt(seq: number): number {
    const seqs = this.sentSeqs
    // One session alone: labels are contiguous, so the index is the offset.
    const guess = seq - seqs[0]!
    if (seqs[guess] === seq) return guess
    let lo = 0
    let hi = seqs.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      const at = seqs[mid]!
      if (at === seq) return mid
      if (at < seq) lo = mid + 1
      else hi = mid - 1
    }
    return -1
  }

  /**
   * The answer to a `verify` effect (deferred verification): the address the receipt's digest
   * recovers to, or why it did not recover. A receipt signed by one of the channel's signers is
   * emitted as `persist` even when the session has closed meanwhile: it is money the seller earned.
   *
   * @param seq - the `seq` of the `verify` effect
   * @param signer - the recovered address, or the recovery error
   * @returns `persist`, or `error RECEIPT_BAD_SIGNATURE` / `RECEIPT_WRONG_SIGNER` and `close`
   */
  verified(seq: number, signer: Address | Error): SellerEffect[] {
    const r = this.verifying.get(seq)
    if (!r) return []
    this.verifying.delete(seq)
    if (signer instanceof Error) {
      const message = signer instanceof TrickleError ? signer.shortMessage : signer.message
      return this.fail('RECEIPT_BAD_SIGNATURE', message)
    }
    return this.signed(r, signer)
  }

  /** Receipts waiting for {@link verified}. */
  get verifyingReceipts(): number {
    return this.verifying.size
  }

  /** The last step of a receipt: its signer must be one of the channel's. */
  private signed(r: ReceiptFrame, signer: Address): SellerEffect[] {
    const info = this.info!
    const recovered = signer.toLowerCase()
    // The channel's own spelling of the key (checksummed as read from the chain) is what is stored.
    const key = info.signers.find((s) => s.toLowerCase() === recovered)
    if (!key) {
      return this.fail('RECEIPT_WRONG_SIGNER', `receipt signed by ${signer}, not the channel's signer`)
    }
    this.stats.receiptsAccepted++
    const receipt: AcceptedReceipt = {
      channelId: info.channelId,
      productId: info.productId,
      seq: r.seq,
      amount: r.amount,
      ackHash: r.ackHash,
      signature: r.signature,
      signer: key,
    }
    return [{ type: 'persist', receipt }]
  }

  /**
   * Sends queued chunks while the window, deposit and transport allow; asks for payment when the
   * window or deposit does not (a full transport only holds chunks back).
   */
  private pump(now: number): SellerEffect[] {
    if (!this.writable) return []
    const out: SellerEffect[] = []
    let n = Math.min(this.ledger.sendable(this.lane), this.chunkLimit - this.lane.sentChunks)
    while (n > 0 && this.queue.length > 0) {
      const data = this.queue.shift()!
      const seq = this.ledger.assignSeq(this.lane)
      this.nextSeq = seq + 1
      this.ackHash = extendAckHash(this.ackHash, data)
      this.sentSeqs.push(this.nextSeq)
      this.sentHashes.push(this.ackHash)
      this.stats.chunksSent++
      out.push({ type: 'send', frame: { t: 'chunk', seq, data } })
      n--
    }
    // The buyer's `maxChunks` reached: nothing more goes out, so nothing waits for payment.
    if (this.lane.sentChunks >= this.chunkLimit) this.queue.length = 0
    if (this.sourceDone && this.queue.length === 0) return [...out, ...this.finishSource(now)]
    if (this.queue.length > 0 && this.paymentDeadline === undefined) {
      if (this.unpaidChunks === 0 && this.ledger.inheritedDebt === 0n) {
        if (this.ledger.exhausted(this.policy.pricePerChunk))
          return [...out, ...this.end('deposit_exhausted')]
        // Held back by the channel's other sessions' unpaid chunks: nothing to ask this buyer's
        // session for; it goes on once they are paid or end (`creditChanged`).
        return out
      }
      out.push(this.requestPayment(now))
    }
    return out
  }

  /** Starts the payment deadline and asks for everything sent on the channel (`payment_required`). */
  private requestPayment(now: number): SellerEffect {
    this.stalledAt = now
    this.paymentDeadline = now + this.policy.paymentTimeoutMs
    return {
      type: 'send',
      frame: {
        t: 'payment_required',
        seq: this.nextSeq,
        owed: this.ledger.owed,
        deadline: this.paymentDeadline,
      },
    }
  }

  /**
   * The source ended and every chunk is sent: close `product_ended` once they are all durably paid,
   * else ask for the rest (once; the deadline closes the session as usual).
   */
  private finishSource(now: number): SellerEffect[] {
    if (this.lane.durableChunks >= this.lane.sentChunks) return this.end('product_ended')
    if (this.paymentDeadline !== undefined) return []
    return [this.requestPayment(now)]
  }

  private fail(code: ErrorCode, message: string, reason: CloseReason = 'protocol_error'): SellerEffect[] {
    if (this.phase === 'closed') return []
    this.phase = 'closed'
    this.paymentDeadline = undefined
    return [
      { type: 'send', frame: { t: 'error', code: wireCodeOf(code), message } },
      { type: 'send', frame: { t: 'close', reason, message } },
      { type: 'close', reason, code },
    ]
  }

  private end(reason: CloseReason): SellerEffect[] {
    if (this.phase === 'closed') return []
    this.phase = 'closed'
    this.paymentDeadline = undefined
    return [
      { type: 'send', frame: { t: 'close', reason, message: '' } },
      { type: 'close', reason },
    ]
  }
}

/** 32 random bytes as hex (WebCrypto's `getRandomValues`, in browsers and Node alike). */
function randomNonce(): Hex {
  return toHex(globalThis.crypto.getRandomValues(new Uint8Array(32)))
}

/** The earlier of two optional times (ms). */
function earliest(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined || a <= b ? a : b
}
