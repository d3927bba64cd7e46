import type { AcceptValue } from './accept.ts'
import { BuyerChannelAccount } from './buyerChannelAccount.ts'
import { type ErrorCode, TrickleError, wireCodeOf } from './errors.ts'
import {
  type CloseReason,
  type Frame,
  type HistoryRange,
  type JobRequest,
  PROTOCOL_VERSION,
  type RangeEcho,
  type ResumeBase,
  type TermsFrame,
} from './frames.ts'
import { type Address, fromHex, type Hex, toHex } from './hex.ts'
import { extendAckHash, type ReceiptValue, recoverReceiptSigner } from './receipt.ts'
import { DEFAULT_IDLE_TIMEOUT_MS } from './sellerSession.ts'
import {
  MAX_CUMULATIVE_AMOUNT,
  MAX_RECEIPT_SEQ,
  TERMS_CLOCK_SKEW_MS,
  termsTimingProblem,
} from './sessionLimits.ts'
import { recoverTermsSigner, termsDigest } from './terms.ts'

/** What the buyer knows before it connects, from the registry and the chain. */
export interface BuyerSessionConfig {
  productId: bigint
  channelId: Hex
  chainId: number
  /** StreamChannels address */
  channels: Address
  /** the channel's payee */
  payee: Address
  /** `DataRegistry.sellerKey(payee)`: the only key whose terms are accepted */
  sellerKey: Address
  /** the address receipts are signed by (session key or payer) */
  signer: Address
  /** wei this session may add to the channel's cumulative amount, at most */
  maxSpend: bigint
  /**
   * wei per chunk the buyer accepts, at most; when absent, {@link expectedPricePerChunk} is the cap
   * (a caller opts into paying more than the descriptor asks only through this field)
   */
  maxPricePerChunk?: bigint
  /**
   * wei per chunk the product's descriptor states (`pricePerChunk`): terms above it are refused with
   * `TERMS_INVALID` unless {@link maxPricePerChunk} allows more; no cap when both are absent
   */
  expectedPricePerChunk?: bigint
  /**
   * addresses besides {@link signer} whose receipt may serve as a resume base, as StreamChannels
   * accepts them: the channel's payer, its current signer and a previous signer while it is still
   * valid (SPEC.md §Receipts, Terms check 11)
   */
  baseSigners?: readonly Address[]
  /**
   * ms the buyer's clock may run ahead of the seller's: terms are refused as expired only once
   * `expiresAt + termsClockSkewMs ≤ now` (default {@link TERMS_CLOCK_SKEW_MS})
   */
  termsClockSkewMs?: number
  /** chunks to receive before closing with reason `done` (unbounded if absent) */
  maxChunks?: number
  /**
   * a span of the product's recorded history to buy instead of its live readings (SPEC.md §History),
   * sent in `hello`: terms without a `range` answer are refused with `RANGE_UNAVAILABLE`, and a
   * finite range ends the session (`done`) once its `count` readings are received and paid
   */
  range?: HistoryRange
  /**
   * a job to run (SPEC.md §Jobs), sent in `hello`: the session takes at most the quote's `maxUnits`
   * chunks (set `maxPricePerChunk` to the quote's `unitPrice`)
   */
  job?: JobRequest
  /** the last receipt this buyer signed on the channel, if it keeps one */
  knownBase?: ResumeBase
  /**
   * wei of a channel debt this buyer pays beyond the chunks it knows it received and never signed
   * for (default 0: such a debt is refused with `DEBT_DISPUTED`; SPEC.md §Channel debt)
   */
  maxDebt?: bigint
  /**
   * ms of silence from the seller before the buyer gives up while it waits for terms (default
   * {@link DEFAULT_IDLE_TIMEOUT_MS}); once terms are accepted their `idleTimeoutMs` applies
   */
  idleTimeoutMs?: number
  /**
   * the buyer's running total on the channel, shared by all its sessions streaming on it at once
   * (SPEC.md §Concurrent sessions); a session of its own when absent
   */
  account?: BuyerChannelAccount
  /** EIP-712 receipt domain separator of (chainId, channels) */
  domainSeparator: Hex
  /** signs a receipt digest with the signer key */
  signReceipt: (receipt: ReceiptValue) => Hex
  /**
   * signs the `accept` of terms with the same key (EIP-712 `Accept`, see `signAccept`): how the
   * buyer proves to the seller that it holds the channel's signer key
   */
  signAccept: (accept: AcceptValue) => Hex
}

/** Something the buyer's driver must do. */
export type BuyerEffect =
  | { type: 'send'; frame: Frame }
  | { type: 'deliver'; seq: number; data: Uint8Array }
  | { type: 'receipt'; receipt: ReceiptValue; signature: Hex }
  | { type: 'close'; reason: CloseReason; error?: { code: ErrorCode; message: string } }

type Phase = 'await_terms' | 'streaming' | 'closed'

/**
 * The buyer side of one session, pure. It authenticates the seller's terms, checks every chunk's
 * sequence and size, keeps the rolling ack hash, and signs cumulative receipts only for chunks it
 * received, never beyond `maxSpend`.
 */
export class BuyerSession {
  private phase: Phase = 'await_terms'
  private readonly config: BuyerSessionConfig
  private terms: TermsFrame | undefined
  private readonly account: BuyerChannelAccount
  /** whether this session counts in the account's live sessions */
  private inAccount = false
  /** wei the chunks received added beyond what was signed before; and that much, as of the last receipt */
  private costTaken = 0n
  private costSigned = 0n
  /** the lowest label the next chunk may carry: chunks of other sessions on the channel fill gaps */
  private nextSeq = 0
  /** rolling ack hash after `nextSeq` chunks (bytes: hex only when a receipt is signed) */
  private ackHash: Uint8Array = new Uint8Array(32)
  /** chunks received since the last receipt */
  private unpaidChunks = 0
  private paidAmount = 0n
  private received = 0
  /** chunks to receive before closing `done`: `maxChunks`, or fewer when the range holds fewer */
  private chunkLimit: number
  /** when the last frame from the seller arrived (ms), once started with a clock */
  private lastHeard: number | undefined
  private idleTimeoutMs: number
  /** whether chunks still in flight after this buyer's own close are being taken (see `afterClose`) */
  private inFlight = false
  /** chunks taken after this buyer's own close */
  private afterCloseChunks = 0
  /** receipts this session signed: the seller's window grew by at most one step for each */
  private receiptsSigned = 0
  /** The error that ended the session, if one did. */
  error: { code: ErrorCode; message: string } | undefined
  /** The reason the session ended. */
  closeReason: CloseReason | undefined

  constructor(config: BuyerSessionConfig) {
    this.config = config
    this.account = config.account ?? new BuyerChannelAccount()
    this.idleTimeoutMs = config.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS
    this.chunkLimit = Math.min(
      config.maxChunks ?? Number.POSITIVE_INFINITY,
      config.job?.quote.maxUnits ?? Number.POSITIVE_INFINITY,
    )
  }

  /**
   * The first frame to send.
   * @param now - ms since the epoch; when given, the idle timeout runs from now (see {@link tick})
   */
  start(now?: number): BuyerEffect[] {
    this.lastHeard = now
    const { productId, channelId } = this.config
    const range = this.config.range !== undefined ? { range: this.config.range } : {}
    const job = this.config.job !== undefined ? { job: this.config.job } : {}
    return [
      { type: 'send', frame: { t: 'hello', v: PROTOCOL_VERSION, productId, channelId, ...range, ...job } },
    ]
  }

  /**
   * Chunks that arrived after this buyer closed the session (sent before the seller saw the `close`):
   * received, not delivered, paid by the last receipt unless the session ended on its spending cap.
   */
  get chunksAfterClose(): number {
    return this.afterCloseChunks
  }

  /** Chunks received in this session. */
  get chunksReceived(): number {
    return this.received
  }

  /**
   * Wei this session's receipts added to the channel's cumulative amount beyond what the buyer had
   * signed before (its `knownBase`, or the seller's base when higher): the price of the chunks it
   * received and signed for, less those a seller re-sent after losing receipts.
   */
  get spent(): bigint {
    return this.costSigned
  }

  /** The latest cumulative amount signed on the channel, wei. */
  get cumulativeAmount(): bigint {
    return this.paidAmount
  }

  /** What the seller said it will send of the requested range, once its terms are accepted. */
  get range(): RangeEcho | undefined {
    return this.terms?.range
  }

  /** The accepted terms, once accepted. */
  get acceptedTerms(): TermsFrame | undefined {
    return this.terms
  }

  /** Whether the session has ended. */
  get closed(): boolean {
    return this.phase === 'closed'
  }

  /** Handles a decoded frame from the seller. Any frame counts as a sign of life. */
  receive(frame: Frame, now: number): BuyerEffect[] {
    if (this.phase === 'closed') return this.afterClose(frame)
    if (this.lastHeard !== undefined) this.lastHeard = Math.max(this.lastHeard, now)
    switch (frame.t) {
      case 'ping':
        return [{ type: 'send', frame: { t: 'pong', n: frame.n } }]
      case 'pong':
        return []
      case 'terms':
        if (this.phase !== 'await_terms') return this.fail('UNEXPECTED_FRAME', 'terms twice')
        return this.onTerms(frame, now)
      case 'chunk':
        if (this.phase !== 'streaming') return this.fail('UNEXPECTED_FRAME', 'chunk before terms')
        return this.onChunk(frame.seq, frame.data)
      case 'payment_required':
        return this.onPaymentRequired(frame.owed)
      case 'error':
        this.error = { code: frame.code, message: frame.message }
        return []
      case 'close':
        this.setClosed()
        this.closeReason = frame.reason
        return [{ type: 'close', reason: frame.reason, ...(this.error ? { error: this.error } : {}) }]
      default:
        return this.fail('UNEXPECTED_FRAME', `${frame.t} is not sent by sellers`)
    }
  }

  /** Ends the session from the buyer side: a final receipt for every chunk received, then `close`. */
  close(reason: CloseReason = 'buyer_closed'): BuyerEffect[] {
    if (this.phase === 'closed') return []
    const out = this.phase === 'streaming' ? this.pay() : []
    return [...out, ...this.end(reason)]
  }

  /** A frame from the seller could not be decoded (or was not binary): error frame, then close. */
  malformed(err: TrickleError): BuyerEffect[] {
    if (this.phase === 'closed') return []
    return this.fail(err.code, err.shortMessage)
  }

  /**
   * Timer: a seller silent for `idleTimeoutMs` (no chunk, no `ping`, nothing) counts as dead: `error
   * IDLE_TIMEOUT` and `close idle_timeout` are sent (best effort) and the session ends with that error.
   */
  tick(now: number): BuyerEffect[] {
    const at = this.deadline
    if (at === undefined || now < at) return []
    return this.fail(
      'IDLE_TIMEOUT',
      `no frame from the seller for ${this.idleTimeoutMs} ms`,
      true,
      'idle_timeout',
    )
  }

  /** When (ms since the epoch) the driver should call {@link tick}: the idle timeout, if running. */
  get deadline(): number | undefined {
    if (this.phase === 'closed' || this.lastHeard === undefined) return undefined
    return this.lastHeard + this.idleTimeoutMs
  }

  /** The connection dropped without a `close` frame. */
  disconnected(): BuyerEffect[] {
    if (this.phase === 'closed') return []
    return this.fail('CONNECTION_FAILED', 'connection to the seller dropped', false)
  }

  private onTerms(t: TermsFrame, now: number): BuyerEffect[] {
    const c = this.config
    const eq = (a: string, b: string) => a.toLowerCase() === b.toLowerCase()
    if (t.v !== PROTOCOL_VERSION) return this.fail('UNSUPPORTED_VERSION', `terms version ${t.v}`)
    if (t.productId !== c.productId || !eq(t.channelId, c.channelId)) {
      return this.fail('TERMS_INVALID', 'terms name another product or channel')
    }
    if (t.chainId !== c.chainId || !eq(t.channels, c.channels) || !eq(t.payee, c.payee)) {
      return this.fail('TERMS_INVALID', 'terms name another chain, contract or payee')
    }
    if (t.expiresAt + (c.termsClockSkewMs ?? TERMS_CLOCK_SKEW_MS) <= now) {
      return this.fail('TERMS_EXPIRED', 'terms already expired')
    }
    const maxPrice = c.maxPricePerChunk ?? c.expectedPricePerChunk
    if (maxPrice !== undefined && t.pricePerChunk > maxPrice) {
      const what = c.maxPricePerChunk !== undefined ? 'maxPricePerChunk' : "the descriptor's price"
      return this.fail('TERMS_INVALID', `price ${t.pricePerChunk} wei/chunk is above ${what}, ${maxPrice}`)
    }
    if (t.receiptEvery < 1 || t.receiptEvery > t.window.initial) {
      return this.fail('TERMS_INVALID', 'receipts must be due within the initial window')
    }
    if (t.heartbeatMs < 1 || t.heartbeatMs >= t.idleTimeoutMs) {
      return this.fail('TERMS_INVALID', 'the heartbeat must come before the idle timeout')
    }
    const timing = termsTimingProblem(t)
    if (timing !== undefined) return this.fail('TERMS_INVALID', timing)
    if (t.base.amount > MAX_CUMULATIVE_AMOUNT - t.pricePerChunk) {
      return this.fail(
        'TERMS_INVALID',
        'no chunk can be paid above the base: the amount would pass 2^256 − 1',
      )
    }
    let signer: Address
    try {
      signer = recoverTermsSigner(t, t.signature)
    } catch {
      return this.fail('TERMS_SIGNER_MISMATCH', 'terms signature does not recover')
    }
    if (!eq(signer, c.sellerKey)) {
      return this.fail('TERMS_SIGNER_MISMATCH', `terms signed by ${signer}, not the registered seller key`)
    }
    const base = t.base
    // The freshest receipt the buyer knows: its record, or one its other live sessions just signed.
    const mine = this.account.latest
    const known = mine && (!c.knownBase || mine.amount > c.knownBase.amount) ? mine : c.knownBase
    // A seller may resume from an earlier receipt than the last one this buyer signed: the later
    // ones were in flight when the seller stopped. That costs the buyer nothing, because receipts are
    // cumulative: the chunks sent again are signed for at amounts it already signed (SPEC §Resume).
    // A base above what the buyer signed, or one that disagrees with it, is refused. (Its `seq` may be
    // above: with concurrent sessions, a lower amount can carry a higher chunk label.)
    if (known && base.amount > known.amount) {
      return this.fail(
        'RESUME_MISMATCH',
        `seller resumes at ${base.amount} wei, buyer signed up to ${known.amount}`,
      )
    }
    if (known && base.seq === known.seq && base.amount !== known.amount) {
      return this.fail('RESUME_MISMATCH', `seller's receipt ${base.seq} differs from the buyer's`)
    }
    if (base.seq > 0) {
      const value = { channelId: c.channelId, amount: base.amount, seq: base.seq, ackHash: base.ackHash }
      let baseSigner: Address | undefined
      try {
        baseSigner = recoverReceiptSigner(c.domainSeparator, value, base.signature)
      } catch {
        baseSigner = undefined
      }
      const signers = [c.signer, ...(c.baseSigners ?? [])]
      if (!baseSigner || !signers.some((s) => eq(s, baseSigner))) {
        return this.fail('RESUME_MISMATCH', 'the resume base is not a receipt of a signer of this channel')
      }
    } else if (base.amount !== 0n) {
      return this.fail('RESUME_MISMATCH', 'a resume base without chunks must be zero')
    }
    // §History: what the seller will send of the range asked for (check 13).
    if (c.range !== undefined && t.range === undefined) {
      return this.fail('RANGE_UNAVAILABLE', 'the seller did not confirm the range: it does not sell history')
    }
    if (c.range !== undefined && t.range!.live !== (c.range.live ?? false)) {
      return this.fail('RANGE_UNAVAILABLE', 'the seller confirmed another range than the one asked for')
    }
    if (c.range !== undefined && !t.range!.live && t.range!.count === 0) {
      return this.fail('RANGE_UNAVAILABLE', 'the range holds no readings')
    }
    this.terms = t
    this.nextSeq = base.seq
    this.paidAmount = base.amount
    this.ackHash = base.seq > 0 ? fromHex(base.ackHash) : new Uint8Array(32)
    this.idleTimeoutMs = t.idleTimeoutMs
    this.phase = 'streaming'
    this.account.open(base, known)
    this.inAccount = true
    // Chunks an earlier session received and never signed for are paid by this session's receipts.
    if (this.account.sessions === 1) this.costTaken += this.account.carried
    // Proves this buyer holds the channel's key before the seller sends anything (SPEC §Authentication).
    const digest = termsDigest(t)
    const signature = c.signAccept({ channelId: c.channelId, termsDigest: digest, nonce: t.nonce })
    // The seller sends no more than `maxChunks`: a session that stops at a count leaves none in flight.
    // A finite range ends after its readings.
    if (t.range !== undefined && !t.range.live) {
      this.chunkLimit = Math.min(this.chunkLimit, t.range.count)
    }
    const limit = Number.isFinite(this.chunkLimit) ? { maxChunks: this.chunkLimit } : {}
    return [{ type: 'send', frame: { t: 'accept', termsDigest: digest, signature, ...limit } }]
  }

  private onChunk(seq: number, data: Uint8Array): BuyerEffect[] {
    const t = this.terms!
    // Labels rise; a gap is chunks the seller sent on the channel's other sessions (SPEC.md §Chunks).
    if (seq < this.nextSeq)
      return this.fail('CHUNK_OUT_OF_ORDER', `chunk ${seq} where ${this.nextSeq} or above was due`)
    // The receipt for chunk `seq` carries `seq + 1`: it must stay a safe integer (and so a uint64).
    if (seq >= MAX_RECEIPT_SEQ) {
      return this.fail('CHUNK_OUT_OF_ORDER', `chunk ${seq}: no receipt seq can follow it (2^53 − 1 at most)`)
    }
    if (data.byteLength > t.maxChunkBytes) {
      return this.fail('CHUNK_TOO_LARGE', `chunk of ${data.byteLength} bytes above ${t.maxChunkBytes}`)
    }
    const cost = this.account.costOf(t.pricePerChunk)
    const unsignable = this.account.owed > MAX_CUMULATIVE_AMOUNT - t.pricePerChunk
    if (this.costTaken + cost > this.config.maxSpend || unsignable) {
      // Paying for this chunk would pass the cap, or the largest amount a receipt can state (uint256):
      // do not take it.
      const out = this.pay()
      return [...out, ...this.end('spending_cap')]
    }
    this.account.take(t.pricePerChunk)
    this.costTaken += cost
    this.nextSeq = seq + 1
    this.ackHash = extendAckHash(this.ackHash, data)
    this.received++
    this.unpaidChunks++
    const out: BuyerEffect[] = [{ type: 'deliver', seq, data }]
    if (this.received >= this.chunkLimit) {
      return [...out, ...this.pay(), ...this.end('done')]
    }
    if (this.unpaidChunks >= t.receiptEvery) out.push(...this.pay())
    return out
  }

  /** Signs a receipt for every chunk received, if any are unpaid. */
  private pay(): BuyerEffect[] {
    if (!this.terms || this.unpaidChunks === 0) return []
    return this.sign(this.account.owed)
  }

  /**
   * `payment_required`: a receipt for every chunk received; or, when this session has nothing unpaid,
   * the channel's debt (SPEC.md §Channel debt): the seller delivered chunks on earlier sessions that
   * no receipt covers, and serves no more until they are paid. The buyer pays what it knows it
   * received and never signed for (kept by its {@link BuyerChannelAccount}), plus at most `maxDebt`
   * for chunks it cannot vouch for (lost in flight when a connection dropped); more than that is
   * disputed (`DEBT_DISPUTED`). A debt payment counts against `maxSpend`.
   *
   * @param owed - the seller's `payment_required.owed`, wei (cumulative)
   */
  private onPaymentRequired(owed: bigint): BuyerEffect[] {
    if (!this.terms) return []
    if (this.unpaidChunks > 0) return this.pay()
    if (owed <= this.paidAmount) return []
    const ceiling = this.account.debtCeiling(this.config.maxDebt ?? 0n)
    if (owed > ceiling && this.account.sessions <= 1) {
      return this.fail(
        'DEBT_DISPUTED',
        `the seller asks ${owed} wei on the channel; this buyer received chunks worth ${ceiling} wei`,
      )
    }
    const amount = owed < ceiling ? owed : ceiling
    if (amount <= this.paidAmount) return []
    const cost = this.account.debtCost(amount)
    if (this.costTaken + cost > this.config.maxSpend) return this.end('spending_cap')
    this.account.payDebt(amount)
    this.costTaken += cost
    return this.sign(amount)
  }

  /**
   * Signs a receipt for `amount` wei at the session's current point (the last chunk received, or
   * the base): the chunks received so far, or the channel's debt.
   */
  private sign(amount: bigint): BuyerEffect[] {
    const receipt: ReceiptValue = {
      channelId: this.config.channelId,
      amount,
      seq: this.nextSeq,
      ackHash: toHex(this.ackHash),
    }
    const signature = this.config.signReceipt(receipt)
    this.receiptsSigned++
    this.unpaidChunks = 0
    this.paidAmount = receipt.amount
    this.costSigned = this.costTaken
    this.account.signed({ ...receipt, signature })
    return [
      { type: 'receipt', receipt, signature },
      {
        type: 'send',
        frame: {
          t: 'receipt',
          seq: receipt.seq,
          amount: receipt.amount,
          ackHash: receipt.ackHash,
          signature,
        },
      },
    ]
  }

  /** Ends the session and leaves the channel's account. */
  private setClosed(): void {
    this.phase = 'closed'
    if (this.inAccount) this.account.close()
    this.inAccount = false
  }

  /**
   * A frame after this buyer closed the session itself. Chunks the seller sent before it saw the
   * `close` still arrive (at most the window the seller could have reached: `window.initial` plus
   * `window.step` per receipt signed, capped by `window.max`): they are received, not delivered. When the seller's
   * own `close` says nothing more is coming, one last receipt pays them, within `maxSpend` (the seller
   * waits for it, SPEC.md §Channel debt); chunks beyond the cap stay unsigned, and the channel's
   * account carries them into its next session.
   */
  private afterClose(frame: Frame): BuyerEffect[] {
    const t = this.terms
    if (!t || !this.inFlight) return []
    if (frame.t === 'close') {
      this.inFlight = false
      const payable =
        this.unpaidChunks > 0 && this.closeReason !== 'spending_cap' && this.costTaken <= this.config.maxSpend
      return payable ? this.sign(this.account.owed) : []
    }
    if (frame.t !== 'chunk' || frame.seq < this.nextSeq || frame.data.byteLength > t.maxChunkBytes) return []
    // No more than the seller could have sent unpaid: its window, grown at most by one step per
    // receipt this session signed (a hostile seller's `window.max` alone could be 2^20).
    const grown = t.window.initial + t.window.step * this.receiptsSigned
    const window = grown < t.window.max ? grown : t.window.max
    if (this.afterCloseChunks >= window || frame.seq >= Number.MAX_SAFE_INTEGER) return []
    this.afterCloseChunks++
    this.nextSeq = frame.seq + 1
    this.ackHash = extendAckHash(this.ackHash, frame.data)
    this.unpaidChunks++
    this.costTaken += this.account.costOf(t.pricePerChunk)
    this.account.take(t.pricePerChunk)
    return []
  }

  private end(reason: CloseReason): BuyerEffect[] {
    this.setClosed()
    // After a spending cap nothing more may be signed in this session: chunks still arriving are
    // only carried into the channel's next session.
    if (this.terms) this.inFlight = true
    this.closeReason = reason
    return [
      { type: 'send', frame: { t: 'close', reason, message: '' } },
      { type: 'close', reason },
    ]
  }

  private fail(code: ErrorCode, message: string, notify = true, closeReason?: CloseReason): BuyerEffect[] {
    const reason: CloseReason =
      closeReason ??
      (this.phase === 'await_terms' &&
      (code.startsWith('TERMS_') || code === 'RESUME_MISMATCH' || code === 'RANGE_UNAVAILABLE')
        ? 'terms_rejected'
        : 'protocol_error')
    this.setClosed()
    this.error = { code, message }
    this.closeReason = reason
    const frames: BuyerEffect[] = notify
      ? [
          { type: 'send', frame: { t: 'error', code: wireCodeOf(code), message } },
          { type: 'send', frame: { t: 'close', reason, message } },
        ]
      : []
    return [...frames, { type: 'close', reason, error: { code, message } }]
  }
}

/** Turns a buyer close with an error into a thrown {@link TrickleError}. */
export function closeError(effect: Extract<BuyerEffect, { type: 'close' }>): TrickleError | undefined {
  return effect.error ? new TrickleError(effect.error.code, effect.error.message) : undefined
}
