import { SigningKey } from 'ethers'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type AcceptedReceipt,
  BuyerChannelAccount,
  type BuyerEffect,
  BuyerSession,
  type BuyerSessionConfig,
  type ChannelInfo,
  CLOSE_LINGER_MS,
  type CloseReason,
  decodeFrame,
  type ErrorCode,
  encodeFrame,
  type Frame,
  type Hex,
  nextAckHash,
  type RangeEcho,
  type ReceiptFrame,
  receiptDomainSeparator,
  SellerChannelLedger,
  type SellerEffect,
  type SellerPolicy,
  SellerSession,
  signReceipt,
  signTerms,
  TERMS_CLOCK_SKEW_MS,
  type TermsFrame,
  ZERO_HASH,
} from '../src/index.ts'

import {
  acceptSigner,
  BUYER,
  buyerKey,
  CHAIN_ID,
  CHANNEL_ID,
  CHANNELS,
  PAYEE,
  PRODUCT_ID,
  SELLER,
  SEPARATOR,
  sellerKey,
} from './helpers/sessionFixtures.ts'

const wrongKey = new SigningKey(`0x${'00'.repeat(31)}02`)

const PRICE = 1_000_000_000_000n // wei per chunk
const OTHER_CHANNEL_ID: Hex = `0x${'ac'.repeat(32)}`
const T0 = 1_750_000_000_000 // ms since the epoch

const POLICY: SellerPolicy = {
  pricePerChunk: PRICE,
  maxChunkBytes: 1024,
  window: { initial: 4, step: 2, max: 12 },
  receiptEvery: 2,
  paymentTimeoutMs: 5_000,
  termsTtlMs: 60_000,
  maxQueuedChunks: 1_000,
}

function channelInfo(deposit = 1_000n * PRICE): ChannelInfo {
  return {
    productId: PRODUCT_ID,
    channelId: CHANNEL_ID,
    chainId: CHAIN_ID,
    channels: CHANNELS,
    payee: PAYEE,
    deposit,
    signers: [BUYER],
    base: { seq: 0, amount: 0n, ackHash: ZERO_HASH, signature: '0x' },
  }
}

function buyerConfig(overrides: Partial<BuyerSessionConfig> = {}): BuyerSessionConfig {
  return {
    productId: PRODUCT_ID,
    channelId: CHANNEL_ID,
    chainId: CHAIN_ID,
    channels: CHANNELS,
    payee: PAYEE,
    sellerKey: SELLER,
    signer: BUYER,
    maxSpend: 10_000n * PRICE,
    domainSeparator: SEPARATOR,
    signReceipt: (r) => signReceipt(buyerKey, SEPARATOR, r),
    signAccept: acceptSigner(),
    ...overrides,
  }
}

/** Every frame crosses the wire as bytes, as it would over the WebSocket. */
const wire = (frame: Frame): Frame => decodeFrame(encodeFrame(frame))

/** Distinct payload of chunk `i`. */
const payload = (i: number): Uint8Array => Uint8Array.from([i & 255, (i >> 8) & 255, 0xee, i % 7])

/** The rolling ack hash after `chunks`. */
const ackHashOf = (chunks: readonly Uint8Array[]): Hex =>
  chunks.reduce<Hex>((h, c) => nextAckHash(h, c), ZERO_HASH)

function signedReceipt(
  seq: number,
  amount: bigint,
  ackHash: Hex,
  options: { key?: SigningKey; channelId?: Hex } = {},
): ReceiptFrame {
  const value = { channelId: options.channelId ?? CHANNEL_ID, amount, seq, ackHash }
  return {
    t: 'receipt',
    seq,
    amount,
    ackHash,
    signature: signReceipt(options.key ?? buyerKey, SEPARATOR, value),
  }
}

interface HarnessOptions {
  policy?: SellerPolicy
  info?: ChannelInfo
  buyer?: Partial<BuyerSessionConfig>
  /** signs the seller's terms (default: the registered seller key) */
  termsKey?: SigningKey
  /** the channel's ledger, shared with other harnesses' sellers on the same channel */
  ledger?: SellerChannelLedger
  /** what the seller answers to a `hello` range (SPEC §History); no answer when absent */
  echo?: RangeEcho
}

/**
 * A seller and a buyer session wired back to back in memory. Frames in flight wait in queues so a test
 * can deliver, hold, drop or rewrite them; `flush` runs both sides until nothing is in flight.
 */
class Harness {
  readonly seller: SellerSession
  readonly buyer: BuyerSession
  readonly policy: SellerPolicy
  readonly info: ChannelInfo
  now = T0
  readonly toBuyer: Frame[] = []
  readonly toSeller: Frame[] = []
  readonly pendingPersists: AcceptedReceipt[] = []
  /** every frame the seller sent, in order */
  readonly sellerSent: Frame[] = []
  /** every receipt frame the buyer sent, in order */
  readonly buyerReceipts: ReceiptFrame[] = []
  /** every frame the buyer sent, in order */
  readonly buyerSent: Frame[] = []
  readonly delivered: Uint8Array[] = []
  readonly offered: Uint8Array[] = []
  readonly persisted: AcceptedReceipt[] = []
  sellerClose: { reason: CloseReason; code?: ErrorCode } | undefined
  buyerClose: Extract<BuyerEffect, { type: 'close' }> | undefined
  /** receipts the seller accepted, with the window right after each */
  readonly windowAfterReceipt: number[] = []
  /** rewrites (or drops, by returning undefined) each receipt frame the buyer sends */
  interceptReceipt: ((frame: ReceiptFrame) => Frame | undefined) | undefined
  private readonly ledger: SellerChannelLedger | undefined
  private readonly echo: RangeEcho | undefined

  constructor(options: HarnessOptions = {}) {
    this.policy = options.policy ?? POLICY
    this.info = options.info ?? channelInfo()
    this.ledger = options.ledger
    this.echo = options.echo
    const termsKey = options.termsKey ?? sellerKey
    this.seller = new SellerSession(
      (terms) => signTerms(termsKey, terms),
      (info) => receiptDomainSeparator(info),
    )
    this.buyer = new BuyerSession(buyerConfig(options.buyer))
  }

  /** Hello, terms and accept, run to completion. */
  start(): this {
    this.onBuyer(this.buyer.start())
    this.flush()
    return this
  }

  onSeller(effects: SellerEffect[]): void {
    for (const e of effects) {
      switch (e.type) {
        case 'send':
          this.sellerSent.push(e.frame)
          this.toBuyer.push(wire(e.frame))
          break
        case 'resolve':
          expect(e).toMatchObject({ type: 'resolve', productId: PRODUCT_ID, channelId: CHANNEL_ID })
          this.onSeller(
            this.seller.resolved(this.info, this.policy, this.now, this.ledger, undefined, this.echo),
          )
          break
        case 'persist':
          this.pendingPersists.push(e.receipt)
          this.windowAfterReceipt.push(this.seller.windowSize)
          break
        case 'close':
          this.sellerClose = e.code === undefined ? { reason: e.reason } : { reason: e.reason, code: e.code }
          break
        case 'subscribe':
          break
      }
    }
  }

  onBuyer(effects: BuyerEffect[]): void {
    for (const e of effects) {
      switch (e.type) {
        case 'send': {
          let frame: Frame | undefined = e.frame
          this.buyerSent.push(frame)
          if (frame.t === 'receipt') {
            this.buyerReceipts.push(frame)
            if (this.interceptReceipt) frame = this.interceptReceipt(frame)
          }
          if (frame) this.toSeller.push(wire(frame))
          break
        }
        case 'deliver':
          this.delivered.push(Uint8Array.from(e.data))
          break
        case 'close':
          this.buyerClose = e
          break
        case 'receipt':
          break
      }
    }
  }

  offer(data: Uint8Array): void {
    this.offered.push(data)
    this.onSeller(this.seller.offer(data, this.now))
  }

  /** Hands a frame straight to the seller, as if the buyer had sent it. */
  sendToSeller(frame: Frame): void {
    this.onSeller(this.seller.receive(wire(frame), this.now))
  }

  deliverToBuyer(): boolean {
    const frame = this.toBuyer.shift()
    if (!frame) return false
    this.onBuyer(this.buyer.receive(frame, this.now))
    return true
  }

  deliverToSeller(): boolean {
    const frame = this.toSeller.shift()
    if (!frame) return false
    this.onSeller(this.seller.receive(frame, this.now))
    return true
  }

  persistOne(): boolean {
    const receipt = this.pendingPersists.shift()
    if (!receipt) return false
    this.persisted.push(receipt)
    this.onSeller(this.seller.persisted(receipt, this.now))
    return true
  }

  tick(now: number): void {
    this.now = now
    this.onSeller(this.seller.tick(now))
  }

  flush(): void {
    while (this.deliverToBuyer() || this.deliverToSeller() || this.persistOne()) {
      // run until nothing is in flight
    }
  }

  /** Offers chunks one at a time, letting the sessions settle after each. */
  stream(count: number): void {
    for (let i = 0; i < count; i++) {
      this.offer(payload(this.offered.length))
      this.flush()
    }
  }

  sellerFrames<T extends Frame['t']>(t: T): Extract<Frame, { t: T }>[] {
    return this.sellerSent.filter((f): f is Extract<Frame, { t: T }> => f.t === t)
  }
}

describe('SellerSession and BuyerSession', () => {
  describe('history ranges (SPEC §History)', () => {
    it('a finite range: the buyer accepts maxChunks = count, takes them, pays them all and closes done', () => {
      const h = new Harness({
        buyer: { range: { last: 5 } },
        echo: { count: 5, from: 1, to: 2, live: false, start: 10, end: 14 },
      }).start()
      expect(h.buyerSent.find((f) => f.t === 'accept')).toMatchObject({ maxChunks: 5 })
      h.stream(5)
      h.onSeller(h.seller.sourceEnded(h.now))
      h.flush()
      expect(h.delivered).toEqual(h.offered)
      expect(h.buyerClose?.reason).toBe('done')
      expect(h.persisted.at(-1)).toMatchObject({ seq: 5, amount: 5n * PRICE })
      expect(h.buyer.range).toEqual({ count: 5, from: 1, to: 2, live: false, start: 10, end: 14 })
    })

    it('the source ends: the seller sends what is queued, asks for the unpaid chunks, and closes product_ended once they are durably paid', () => {
      const h = new Harness().start()
      h.stream(3)
      expect(h.seller.unpaidChunks).toBe(1) // receipts every 2 chunks
      h.onSeller(h.seller.sourceEnded(h.now))
      expect(h.seller.roomForChunks).toBe(0)
      expect(h.sellerFrames('payment_required')).toEqual([
        { t: 'payment_required', seq: 3, owed: 3n * PRICE, deadline: T0 + POLICY.paymentTimeoutMs },
      ])
      expect(h.sellerClose).toBeUndefined()
      h.flush()
      expect(h.persisted.at(-1)).toMatchObject({ seq: 3, amount: 3n * PRICE })
      expect(h.sellerClose).toEqual({ reason: 'product_ended' })
      expect(h.buyerClose?.reason).toBe('product_ended')
    })

    it('the source ends and the buyer never pays: PAYMENT_TIMEOUT at the deadline', () => {
      const h = new Harness().start()
      h.interceptReceipt = () => undefined
      h.stream(3)
      h.onSeller(h.seller.sourceEnded(h.now))
      h.flush()
      h.tick(T0 + POLICY.paymentTimeoutMs)
      expect(h.sellerClose).toEqual({ reason: 'payment_timeout', code: 'PAYMENT_TIMEOUT' })
    })

    it('the buyer refuses terms that do not confirm its range (a seller that ignores it) with RANGE_UNAVAILABLE', () => {
      const h = new Harness({ buyer: { range: { from: 1, to: 2 } } }).start()
      expect(h.buyer.error?.code).toBe('RANGE_UNAVAILABLE')
      expect(h.buyerClose?.reason).toBe('terms_rejected')
      expect(h.buyerSent.some((f) => f.t === 'accept')).toBe(false)
    })

    it('the buyer refuses a finite range of 0 readings, and a live answer to a finite range, with RANGE_UNAVAILABLE', () => {
      for (const echo of [
        { count: 0, from: 0, to: 0, live: false, start: 0, end: 0 },
        { count: 4, from: 1, to: 2, live: true, start: 3, end: 6 },
      ]) {
        const h = new Harness({ buyer: { range: { last: 4 } }, echo }).start()
        expect(h.buyer.error?.code).toBe('RANGE_UNAVAILABLE')
      }
    })
  })

  it('delivers exactly the offered chunks in order and is paid 100 × price for 100 chunks', () => {
    const h = new Harness().start()
    h.stream(100)
    h.onBuyer(h.buyer.close())
    h.flush()
    expect(h.delivered).toEqual(h.offered)
    expect(h.sellerFrames('chunk').map((c) => c.seq)).toEqual([...Array(100).keys()])
    expect(h.buyer.cumulativeAmount).toBe(100n * PRICE)
    expect(h.persisted.at(-1)).toMatchObject({
      seq: 100,
      amount: 100n * PRICE,
      ackHash: ackHashOf(h.offered),
    })
    expect(h.seller.unpaidChunks).toBe(0)
    expect(h.buyerClose?.reason).toBe('buyer_closed')
    expect(h.sellerClose).toEqual({ reason: 'buyer_closed' })
  })

  it('delivers a burst of 100 queued chunks in order, pausing for payment at each full window', () => {
    const h = new Harness().start()
    for (let i = 0; i < 100; i++) h.offer(payload(i))
    h.flush()
    h.onBuyer(h.buyer.close())
    h.flush()
    expect(h.delivered).toEqual(h.offered)
    expect(h.buyer.cumulativeAmount).toBe(100n * PRICE)
    expect(h.persisted.at(-1)?.amount).toBe(100n * PRICE)
    expect(h.sellerFrames('payment_required').length).toBeGreaterThan(0)
  })

  it('sends at most window.initial chunks to a buyer that never pays, then payment_required, then times out', () => {
    const h = new Harness().start()
    h.interceptReceipt = () => undefined
    h.stream(20)
    expect(h.sellerFrames('chunk')).toHaveLength(POLICY.window.initial)
    expect(h.delivered).toHaveLength(POLICY.window.initial)
    const required = h.sellerFrames('payment_required')
    expect(required).toEqual([
      { t: 'payment_required', seq: 4, owed: 4n * PRICE, deadline: T0 + POLICY.paymentTimeoutMs },
    ])
    expect(h.seller.deadline).toBe(T0 + POLICY.paymentTimeoutMs)

    h.tick(T0 + POLICY.paymentTimeoutMs - 1)
    expect(h.seller.closed).toBe(false)
    h.tick(T0 + POLICY.paymentTimeoutMs)
    expect(h.sellerClose).toEqual({ reason: 'payment_timeout', code: 'PAYMENT_TIMEOUT' })
    expect(h.sellerFrames('error')).toEqual([
      { t: 'error', code: 'PAYMENT_TIMEOUT', message: expect.any(String) },
    ])
    expect(h.sellerFrames('close').map((c) => c.reason)).toEqual(['payment_timeout'])
    h.flush()
    expect(h.buyerClose?.reason).toBe('payment_timeout')
    expect(h.buyerClose?.error?.code).toBe('PAYMENT_TIMEOUT')
    expect(h.sellerFrames('chunk')).toHaveLength(POLICY.window.initial)
  })

  describe('receipt checks', () => {
    /** A session with 2 chunks sent and the buyer's receipts held back. */
    function twoChunksUnpaid(): Harness {
      const h = new Harness().start()
      h.interceptReceipt = () => undefined
      h.stream(2)
      expect(h.sellerFrames('chunk')).toHaveLength(2)
      return h
    }

    function expectRejected(h: Harness, code: ErrorCode): void {
      expect(h.sellerClose).toEqual({ reason: 'protocol_error', code })
      expect(h.pendingPersists).toHaveLength(0)
      h.flush()
      expect(h.buyerClose?.error?.code).toBe(code)
    }

    it('rejects receipts signed by a key that is not the channel signer with RECEIPT_WRONG_SIGNER', () => {
      const h = new Harness({ buyer: { signReceipt: (r) => signReceipt(wrongKey, SEPARATOR, r) } }).start()
      h.stream(2)
      expectRejected(h, 'RECEIPT_WRONG_SIGNER')
      expect(h.persisted).toHaveLength(0)
    })

    it('rejects a receipt signed by the right key for another channel with RECEIPT_WRONG_SIGNER', () => {
      const h = twoChunksUnpaid()
      h.sendToSeller(signedReceipt(2, 2n * PRICE, ackHashOf(h.offered), { channelId: OTHER_CHANNEL_ID }))
      expectRejected(h, 'RECEIPT_WRONG_SIGNER')
    })

    it('rejects a receipt signed for another chain or contract with RECEIPT_WRONG_SIGNER', () => {
      for (const domain of [
        { chainId: 1, channels: CHANNELS },
        { chainId: CHAIN_ID, channels: `0x${'99'.repeat(20)}` as Hex },
      ]) {
        const h = twoChunksUnpaid()
        const value = { channelId: CHANNEL_ID, amount: 2n * PRICE, seq: 2, ackHash: ackHashOf(h.offered) }
        const signature = signReceipt(buyerKey, receiptDomainSeparator(domain), value)
        h.sendToSeller({ t: 'receipt', seq: 2, amount: 2n * PRICE, ackHash: value.ackHash, signature })
        expectRejected(h, 'RECEIPT_WRONG_SIGNER')
      }
    })

    it('rejects an older receipt replayed after a newer one with RECEIPT_STALE', () => {
      const h = new Harness().start()
      h.stream(4)
      expect(h.persisted.map((r) => r.seq)).toEqual([2, 4])
      h.sendToSeller(h.buyerReceipts[0]!)
      expectRejected(h, 'RECEIPT_STALE')
    })

    it('rejects the same receipt sent twice with RECEIPT_STALE', () => {
      const h = new Harness().start()
      h.stream(2)
      h.sendToSeller(h.buyerReceipts.at(-1)!)
      expectRejected(h, 'RECEIPT_STALE')
    })

    it('rejects a receipt for more chunks than were sent with RECEIPT_ACK_MISMATCH', () => {
      const h = twoChunksUnpaid()
      h.sendToSeller(signedReceipt(3, 3n * PRICE, ackHashOf([...h.offered, payload(99)])))
      expectRejected(h, 'RECEIPT_ACK_MISMATCH')
    })

    it('rejects a receipt whose ack hash is not that of the chunks sent with RECEIPT_ACK_MISMATCH', () => {
      const h = twoChunksUnpaid()
      h.sendToSeller(signedReceipt(2, 2n * PRICE, ackHashOf([payload(1), payload(0)])))
      expectRejected(h, 'RECEIPT_ACK_MISMATCH')
    })

    it('rejects a receipt paying less than owed with RECEIPT_UNDERPAID', () => {
      const h = twoChunksUnpaid()
      h.sendToSeller(signedReceipt(2, 2n * PRICE - 1n, ackHashOf(h.offered)))
      expectRejected(h, 'RECEIPT_UNDERPAID')
    })

    it('accepts a correctly signed receipt that pays what is owed', () => {
      const h = twoChunksUnpaid()
      h.sendToSeller(signedReceipt(2, 2n * PRICE, ackHashOf(h.offered)))
      expect(h.sellerClose).toBeUndefined()
      expect(h.pendingPersists).toMatchObject([{ seq: 2, amount: 2n * PRICE, signer: BUYER }])
    })
  })

  describe('credit window', () => {
    it('grows by step for each on-time receipt up to max', () => {
      const h = new Harness().start()
      h.stream(16)
      expect(h.windowAfterReceipt).toEqual([6, 8, 10, 12, 12, 12, 12, 12])
      expect(h.seller.windowSize).toBe(POLICY.window.max)
    })

    it('keeps growing when the receipt was already in flight as payment_required went out', () => {
      const h = new Harness().start()
      h.stream(8)
      expect(h.seller.windowSize).toBe(12)
      const held: Frame[] = []
      h.interceptReceipt = (f) => {
        held.push(f)
        return undefined
      }
      h.stream(13)
      expect(h.sellerFrames('payment_required')).toHaveLength(1)
      h.interceptReceipt = undefined
      h.now += POLICY.paymentTimeoutMs / 4
      h.sendToSeller(held.at(-1)!)
      expect(POLICY.window.initial).toBeLessThan(POLICY.window.max)
      expect(h.windowAfterReceipt.at(-1)).toBe(POLICY.window.max) // not reset to initial
    })

    it('resets to initial after a receipt that arrives more than half the payment timeout after payment_required', () => {
      const h = new Harness().start()
      h.stream(8)
      expect(h.seller.windowSize).toBe(12)
      const held: Frame[] = []
      h.interceptReceipt = (f) => {
        held.push(f)
        return undefined
      }
      h.stream(13)
      expect(h.sellerFrames('payment_required')).toHaveLength(1)
      expect(h.sellerFrames('chunk')).toHaveLength(8 + 12)
      h.interceptReceipt = undefined
      h.now += POLICY.paymentTimeoutMs / 2 + 1
      h.sendToSeller(held.at(-1)!)
      h.flush()
      expect(h.seller.windowSize).toBe(POLICY.window.initial)
      expect(h.sellerClose).toBeUndefined()
      // The stream goes on within the reset window.
      expect(h.delivered).toEqual(h.offered.slice(0, h.delivered.length))
      expect(h.sellerFrames('chunk')).toHaveLength(8 + 12 + 1)
    })

    it('keeps unpaid chunks within the window after a late receipt that covers only part of them', () => {
      const h = new Harness().start()
      h.stream(8)
      const held: Frame[] = []
      h.interceptReceipt = (f) => {
        held.push(f)
        return undefined
      }
      h.stream(13)
      expect(h.seller.unpaidChunks).toBe(12)
      h.interceptReceipt = undefined
      h.now += POLICY.paymentTimeoutMs / 2 + 1
      h.sendToSeller(held[0]!) // covers 2 of the 12 unpaid chunks, late
      h.flush()
      expect(h.seller.unpaidChunks).toBeLessThanOrEqual(h.seller.windowSize)
    })
  })

  describe('buyer checks', () => {
    /** The terms frame a seller sends at `T0` for the default channel. */
    function termsFrom(options: HarnessOptions = {}): TermsFrame {
      const h = new Harness(options)
      h.onSeller(h.seller.receive(wire(hello()), T0))
      const terms = h.sellerFrames('terms')[0]
      expect(terms).toBeDefined()
      return terms!
    }
    const hello = (): Frame => ({ t: 'hello', v: 1, productId: PRODUCT_ID, channelId: CHANNEL_ID })

    function offerTerms(buyer: BuyerSession, terms: Frame, now = T0): BuyerEffect[] {
      buyer.start()
      return buyer.receive(wire(terms), now)
    }

    function expectRefused(effects: BuyerEffect[], buyer: BuyerSession, code: ErrorCode): void {
      expect(buyer.closed).toBe(true)
      expect(buyer.error?.code).toBe(code)
      expect(effects).toContainEqual({
        type: 'send',
        frame: { t: 'error', code, message: expect.any(String) },
      })
      expect(effects.some((e) => e.type === 'send' && e.frame.t === 'accept')).toBe(false)
    }

    it('accepts terms signed by the registered seller key', () => {
      const buyer = new BuyerSession(buyerConfig())
      const effects = offerTerms(buyer, termsFrom())
      expect(effects).toEqual([
        {
          type: 'send',
          frame: { t: 'accept', termsDigest: expect.any(String), signature: expect.any(String) },
        },
      ])
    })

    it('refuses terms signed by another key with TERMS_SIGNER_MISMATCH', () => {
      const h = new Harness({ termsKey: wrongKey }).start()
      expect(h.buyer.error?.code).toBe('TERMS_SIGNER_MISMATCH')
      expect(h.buyerClose?.reason).toBe('terms_rejected')
      expect(h.seller.closed).toBe(true)
      h.offer(payload(0))
      expect(h.sellerFrames('chunk')).toHaveLength(0)
    })

    it('refuses expired terms with TERMS_EXPIRED', () => {
      const buyer = new BuyerSession(buyerConfig())
      // Expired on the buyer's clock only past the allowed skew.
      const expiry = T0 + POLICY.termsTtlMs
      expect(offerTerms(new BuyerSession(buyerConfig()), termsFrom(), expiry).at(-1)).toMatchObject({
        frame: { t: 'accept' },
      })
      expectRefused(offerTerms(buyer, termsFrom(), expiry + TERMS_CLOCK_SKEW_MS), buyer, 'TERMS_EXPIRED')
    })

    it('refuses a price above maxPricePerChunk with TERMS_INVALID', () => {
      const buyer = new BuyerSession(buyerConfig({ maxPricePerChunk: PRICE - 1n }))
      expectRefused(offerTerms(buyer, termsFrom()), buyer, 'TERMS_INVALID')
    })

    it('refuses terms for another channel, chain or payee with TERMS_INVALID', () => {
      for (const config of [
        { channelId: OTHER_CHANNEL_ID },
        { chainId: 1 },
        { payee: SELLER },
        { channels: `0x${'99'.repeat(20)}` as Hex },
      ]) {
        const buyer = new BuyerSession(buyerConfig(config))
        expectRefused(offerTerms(buyer, termsFrom()), buyer, 'TERMS_INVALID')
      }
    })

    it("takes a chunk whose seq skips labels (sent on the channel's other sessions) and pays only for chunks received", () => {
      const h = new Harness({ buyer: { maxChunks: 2 } }).start()
      h.stream(1)
      const effects = h.buyer.receive(wire({ t: 'chunk', seq: 5, data: payload(5) }), T0)
      expect(h.buyer.error).toBeUndefined()
      const receipt = effects.find((e) => e.type === 'receipt')
      expect(receipt?.type === 'receipt' && receipt.receipt).toEqual({
        channelId: CHANNEL_ID,
        seq: 6,
        amount: 2n * PRICE,
        ackHash: ackHashOf([payload(0), payload(5)]),
      })
      expect(h.buyer.spent).toBe(2n * PRICE)
    })

    it('refuses a chunk whose seq goes back with CHUNK_OUT_OF_ORDER and signs nothing for it', () => {
      const h = new Harness().start()
      h.stream(3)
      const effects = h.buyer.receive(wire({ t: 'chunk', seq: 1, data: payload(1) }), T0)
      expect(h.buyer.error?.code).toBe('CHUNK_OUT_OF_ORDER')
      expect(effects.some((e) => e.type === 'deliver' || e.type === 'receipt')).toBe(false)
      expect(h.delivered).toHaveLength(3)
    })

    it('refuses a repeated chunk with CHUNK_OUT_OF_ORDER', () => {
      const h = new Harness().start()
      h.stream(1)
      h.buyer.receive(wire({ t: 'chunk', seq: 0, data: payload(0) }), T0)
      expect(h.buyer.error?.code).toBe('CHUNK_OUT_OF_ORDER')
      expect(h.buyer.chunksReceived).toBe(1)
    })

    it('never signs beyond maxSpend: stops at 10 chunks with spending_cap when maxSpend = 10 × price', () => {
      const h = new Harness({ buyer: { maxSpend: 10n * PRICE } }).start()
      h.stream(20)
      expect(h.delivered).toEqual(h.offered.slice(0, 10))
      expect(h.buyer.cumulativeAmount).toBe(10n * PRICE)
      expect(h.buyerReceipts.every((r) => r.amount <= 10n * PRICE)).toBe(true)
      expect(h.buyerClose?.reason).toBe('spending_cap')
      expect(h.buyer.closeReason).toBe('spending_cap')
      expect(h.persisted.at(-1)).toMatchObject({ seq: 10, amount: 10n * PRICE })
      // The 11th chunk was sent and refused: the seller waits for a receipt the capped buyer never
      // sends, then closes; the chunk stays the channel's debt.
      expect(h.sellerClose).toBeUndefined()
      h.tick(h.now + CLOSE_LINGER_MS)
      expect(h.sellerClose?.reason).toBe('buyer_closed')
      expect(h.seller.unpaidChunks).toBe(1)
    })
  })

  it('closes with deposit_exhausted once a deposit of 5 × price is paid and more data is offered', () => {
    const policy = { ...POLICY, window: { initial: 8, step: 2, max: 16 } }
    const h = new Harness({ policy, info: channelInfo(5n * PRICE) }).start()
    h.stream(5)
    expect(h.sellerFrames('chunk')).toHaveLength(5)
    expect(h.sellerClose).toBeUndefined()
    h.stream(1)
    expect(h.sellerFrames('chunk')).toHaveLength(5)
    expect(h.delivered).toEqual(h.offered.slice(0, 5))
    expect(h.persisted.at(-1)).toMatchObject({ seq: 5, amount: 5n * PRICE })
    expect(h.sellerClose).toEqual({ reason: 'deposit_exhausted' })
    expect(h.buyerClose?.reason).toBe('deposit_exhausted')
  })

  it('streams a free product (price 0) beyond the initial window', () => {
    const h = new Harness({ policy: { ...POLICY, pricePerChunk: 0n } }).start()
    h.stream(20)
    expect(h.sellerClose).toBeUndefined()
    expect(h.delivered).toEqual(h.offered)
  })

  describe('concurrent sessions on one channel', () => {
    /** Two sessions on one channel: the sellers share a ledger and, unless told not to, the buyers an account. */
    function pair(options: { deposit?: bigint; sharedAccount?: boolean } = {}): [Harness, Harness] {
      const ledger = new SellerChannelLedger()
      const account = new BuyerChannelAccount()
      const info = channelInfo(options.deposit)
      const open = () =>
        new Harness({ ledger, info, buyer: options.sharedAccount === false ? {} : { account } }).start()
      return [open(), open()]
    }

    /** Runs both sessions until nothing is in flight, telling each seller when the other's credit moved. */
    function settle(sessions: Harness[]): void {
      for (let moved = true; moved; ) {
        moved = false
        for (const h of sessions)
          while (h.deliverToBuyer() || h.deliverToSeller() || h.persistOne()) moved = true
        for (const h of sessions) {
          const effects = h.seller.creditChanged(h.now)
          if (effects.length > 0) moved = true
          h.onSeller(effects)
        }
      }
    }

    it('streams two products on one channel: unique seqs, one rising cumulative amount that pays for both', () => {
      const [a, b] = pair()
      for (let i = 0; i < 50; i++) {
        a.offer(payload(i))
        b.offer(payload(1000 + i))
        settle([a, b])
      }
      a.onBuyer(a.buyer.close())
      b.onBuyer(b.buyer.close())
      settle([a, b])
      expect([a.buyer.error, b.buyer.error, a.sellerClose, b.sellerClose]).toEqual([
        undefined,
        undefined,
        { reason: 'buyer_closed' },
        { reason: 'buyer_closed' },
      ])
      expect(a.delivered).toEqual(a.offered)
      expect(b.delivered).toEqual(b.offered)
      const seqs = [...a.sellerFrames('chunk'), ...b.sellerFrames('chunk')].map((c) => c.seq)
      expect(seqs.sort((x, y) => x - y)).toEqual([...Array(100).keys()])
      const persisted = [...a.persisted, ...b.persisted]
      expect(persisted.reduce((max, r) => (r.amount > max ? r.amount : max), 0n)).toBe(100n * PRICE)
      expect(a.buyer.spent + b.buyer.spent).toBe(100n * PRICE)
      // Each session's receipts commit to exactly its own chunks.
      expect(a.persisted.at(-1)?.ackHash).toBe(ackHashOf(a.offered))
      expect(b.persisted.at(-1)?.ackHash).toBe(ackHashOf(b.offered))
    })

    it('accepts receipts that reach the seller out of the order they were signed in', () => {
      const [a, b] = pair()
      a.offer(payload(0))
      a.offer(payload(1))
      b.offer(payload(1000))
      b.offer(payload(1001))
      while (a.deliverToBuyer()) {}
      while (b.deliverToBuyer()) {}
      expect(a.buyerReceipts.map((r) => r.amount)).toEqual([2n * PRICE])
      expect(b.buyerReceipts.map((r) => r.amount)).toEqual([4n * PRICE])
      settle([b, a])
      expect([a.sellerClose, b.sellerClose]).toEqual([undefined, undefined])
      expect([...a.persisted, ...b.persisted].map((r) => r.amount).sort()).toEqual([2n * PRICE, 4n * PRICE])
    })

    it("refuses with RECEIPT_UNDERPAID a session whose receipts leave the other session's chunks unpaid", () => {
      const [a, b] = pair({ sharedAccount: false })
      a.offer(payload(0))
      a.offer(payload(1))
      settle([a, b])
      b.offer(payload(1000))
      b.offer(payload(1001))
      settle([a, b])
      expect(b.sellerClose).toEqual({ reason: 'protocol_error', code: 'RECEIPT_UNDERPAID' })
      expect(a.sellerClose).toBeUndefined()
      expect(b.persisted).toEqual([])
    })

    it('shares the deposit: two sessions together never send more than it pays for', () => {
      const [a, b] = pair({ deposit: 10n * PRICE })
      for (let i = 0; i < 20; i++) {
        a.offer(payload(i))
        b.offer(payload(1000 + i))
        settle([a, b])
      }
      expect(a.sellerFrames('chunk').length + b.sellerFrames('chunk').length).toBe(10)
      expect(a.sellerClose?.reason).toBe('deposit_exhausted')
      expect(b.sellerClose?.reason).toBe('deposit_exhausted')
      expect([...a.persisted, ...b.persisted].every((r) => r.amount <= 10n * PRICE)).toBe(true)
    })

    it('keeps the channel-wide bounds under any interleaving of two honest sessions and their receipts', () => {
      const step = fc.constantFrom('offer', 'toBuyer', 'toSeller', 'persist', 'credit')
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.constantFrom(0, 1), step), { minLength: 1, maxLength: 200 }),
          (plan) => {
            const sessions = pair({ deposit: 40n * PRICE })
            const maxPersisted = () =>
              sessions.flatMap((h) => h.persisted).reduce((max, r) => (r.amount > max ? r.amount : max), 0n)
            for (const [i, action] of plan) {
              const h = sessions[i]!
              if (action === 'offer') h.offer(payload(1000 * i + h.offered.length))
              else if (action === 'toBuyer') h.deliverToBuyer()
              else if (action === 'toSeller') h.deliverToSeller()
              else if (action === 'persist') h.persistOne()
              else h.onSeller(h.seller.creditChanged(h.now))
              const sent = sessions.reduce((n, s) => n + s.sellerFrames('chunk').length, 0)
              const delivered = sessions.reduce((n, s) => n + s.delivered.length, 0)
              const windows = sessions.reduce((n, s) => n + s.seller.windowSize, 0)
              // The seller's exposure: value sent that no durable receipt pays, within the windows.
              expect(BigInt(sent) * PRICE - maxPersisted()).toBeLessThanOrEqual(BigInt(windows) * PRICE)
              // The buyer never signs for a chunk it did not receive, nor beyond the deposit.
              const signed = sessions.flatMap((s) => s.buyerReceipts).map((r) => r.amount)
              expect(signed.every((amount) => amount <= BigInt(delivered) * PRICE)).toBe(true)
              expect(sent).toBeLessThanOrEqual(40)
            }
            for (const h of sessions) h.onBuyer(h.buyer.close())
            settle(sessions)
            // Honest sessions never fail, whatever the order, and the last receipt pays for every chunk
            // sent: the delivered ones, and those in flight when the buyer closed (paid on the seller's
            // close echo).
            expect(sessions.map((h) => h.sellerClose?.code ?? h.buyer.error?.code)).toEqual([
              undefined,
              undefined,
            ])
            const sent = sessions.reduce((n, s) => n + s.sellerFrames('chunk').length, 0)
            expect(maxPersisted()).toBe(BigInt(sent) * PRICE)
          },
        ),
        { numRuns: 300 },
      )
    })

    it("bounds the channel's unpaid value by the windows when a forged receipt inflated the highest amount seen", () => {
      const [a, b] = pair({ sharedAccount: false })
      a.offer(payload(0))
      // A receipt with a huge amount from a key that is not the channel's: refused, but only after its
      // amount was counted as accepted; it must not let the other session stream for nothing.
      a.sendToSeller(
        signedReceipt(a.seller.base!.seq + 1, 500n * PRICE, ackHashOf([payload(0)]), { key: wrongKey }),
      )
      expect(a.sellerClose?.code).toBe('RECEIPT_WRONG_SIGNER')
      // b signs the right chunks but never raises the amount.
      b.interceptReceipt = (frame) => signedReceipt(frame.seq, 0n, frame.ackHash)
      for (let i = 0; i < 100; i++) {
        b.offer(payload(1000 + i))
        settle([a, b])
      }
      const sent = a.sellerFrames('chunk').length + b.sellerFrames('chunk').length
      expect(sent).toBeLessThanOrEqual(1 + a.seller.windowSize + b.seller.windowSize)
      expect(b.sellerFrames('payment_required').length).toBeGreaterThan(0)
    })

    it('closes a session that stops paying after its own window while the other streams on', () => {
      const [a, b] = pair()
      b.interceptReceipt = () => undefined
      for (let i = 0; i < 30; i++) {
        a.offer(payload(i))
        b.offer(payload(1000 + i))
        settle([a, b])
      }
      expect(b.sellerFrames('chunk')).toHaveLength(POLICY.window.initial)
      b.tick(T0 + POLICY.paymentTimeoutMs)
      expect(b.sellerClose).toEqual({ reason: 'payment_timeout', code: 'PAYMENT_TIMEOUT' })
      b.seller.leaveChannel()
      a.onSeller(a.seller.creditChanged(a.now))
      a.stream(20)
      expect(a.sellerClose).toBeUndefined()
      expect(a.delivered).toEqual(a.offered)
    })
  })

  describe('under random schedules', () => {
    type Step =
      | { k: 'offer'; size: number }
      | { k: 'toBuyer' }
      | { k: 'toSeller'; how: 'pay' | 'late' | 'skip' | 'wrongKey' | 'replay' }
      | { k: 'release' }
      | { k: 'persist' }
      | { k: 'tick'; ms: number }

    const stepArb: fc.Arbitrary<Step> = fc.oneof(
      {
        weight: 4,
        arbitrary: fc.record({ k: fc.constant('offer' as const), size: fc.integer({ min: 1, max: 64 }) }),
      },
      { weight: 6, arbitrary: fc.constant({ k: 'toBuyer' as const }) },
      {
        weight: 6,
        arbitrary: fc.record({
          k: fc.constant('toSeller' as const),
          how: fc.oneof(
            { weight: 12, arbitrary: fc.constant('pay' as const) },
            { weight: 4, arbitrary: fc.constant('late' as const) },
            { weight: 2, arbitrary: fc.constant('skip' as const) },
            { weight: 1, arbitrary: fc.constant('wrongKey' as const) },
            { weight: 1, arbitrary: fc.constant('replay' as const) },
          ),
        }),
      },
      { weight: 2, arbitrary: fc.constant({ k: 'release' as const }) },
      { weight: 4, arbitrary: fc.constant({ k: 'persist' as const }) },
      { weight: 1, arbitrary: fc.record({ k: fc.constant('tick' as const), ms: fc.nat({ max: 3_000 }) }) },
    )

    const policyArb = fc
      .record({
        initial: fc.integer({ min: 1, max: 6 }),
        step: fc.nat({ max: 3 }),
        extra: fc.nat({ max: 8 }),
        every: fc.integer({ min: 1, max: 6 }),
        depositChunks: fc.integer({ min: 1, max: 60 }),
      })
      .map(({ initial, step, extra, every, depositChunks }) => ({
        policy: {
          ...POLICY,
          window: { initial, step, max: initial + extra },
          receiptEvery: Math.min(every, initial),
        },
        deposit: BigInt(depositChunks) * PRICE,
      }))

    function run(
      setup: { policy: SellerPolicy; deposit: bigint },
      steps: Step[],
      check: (h: Harness) => void,
    ): void {
      const h = new Harness({ policy: setup.policy, info: channelInfo(setup.deposit) }).start()
      const held: Frame[] = []
      check(h)
      for (const step of steps) {
        switch (step.k) {
          case 'offer':
            h.offer(new Uint8Array(step.size).fill(h.offered.length & 255))
            break
          case 'toBuyer':
            h.deliverToBuyer()
            break
          case 'toSeller': {
            const frame = h.toSeller[0]
            if (frame?.t !== 'receipt' || step.how === 'pay') {
              h.deliverToSeller()
              break
            }
            h.toSeller.shift()
            if (step.how === 'late') held.push(frame)
            if (step.how === 'wrongKey') {
              const value = {
                channelId: CHANNEL_ID,
                amount: frame.amount,
                seq: frame.seq,
                ackHash: frame.ackHash,
              }
              h.sendToSeller({ ...frame, signature: signReceipt(wrongKey, SEPARATOR, value) })
            }
            if (step.how === 'replay') {
              h.sendToSeller(h.buyerReceipts[0]!)
              h.toSeller.unshift(frame)
            }
            break
          }
          case 'release': {
            const frame = held.shift()
            if (frame) h.sendToSeller(frame)
            break
          }
          case 'persist':
            h.persistOne()
            break
          case 'tick':
            h.tick(h.now + step.ms)
            break
        }
        check(h)
      }
    }

    it('never lets the seller have more unpaid chunks than its window, nor the buyer pay for undelivered chunks', () => {
      fc.assert(
        fc.property(
          policyArb,
          fc.array(stepArb, { minLength: 20, maxLength: 150, size: 'max' }),
          (setup, steps) => {
            run(setup, steps, (h) => {
              expect(h.seller.unpaidChunks).toBeLessThanOrEqual(h.seller.windowSize)
              expect(h.buyer.cumulativeAmount).toBeLessThanOrEqual(PRICE * BigInt(h.buyer.chunksReceived))
            })
          },
        ),
        { numRuns: 300 },
      )
    })

    it('never sends a chunk beyond the window or the deposit, nor has the buyer pay for undelivered chunks', () => {
      fc.assert(
        fc.property(
          policyArb,
          fc.array(stepArb, { minLength: 20, maxLength: 150, size: 'max' }),
          (setup, steps) => {
            let sent = 0
            run(setup, steps, (h) => {
              const chunks = h.sellerFrames('chunk').length
              if (chunks > sent) {
                // Right after chunks went out, the window they were sent under bounds what is unpaid.
                expect(h.seller.unpaidChunks).toBeLessThanOrEqual(h.seller.windowSize)
                sent = chunks
              }
              expect(PRICE * BigInt(chunks)).toBeLessThanOrEqual(setup.deposit)
              expect(h.buyer.cumulativeAmount).toBeLessThanOrEqual(PRICE * BigInt(h.buyer.chunksReceived))
              expect(h.delivered).toEqual(h.offered.slice(0, h.delivered.length))
              for (const r of h.buyerReceipts) expect(r.seq).toBeLessThanOrEqual(h.buyer.chunksReceived)
            })
          },
        ),
        { numRuns: 300 },
      )
    })
  })

  describe('against an adversary across sessions (SPEC.md §Authentication, §Channel debt)', () => {
    /** A session that took what it could and never paid, ended by the payment timeout. */
    function freeRider(ledger: SellerChannelLedger, offers = 20): Harness {
      const h = new Harness({ ledger, buyer: { account: new BuyerChannelAccount() } }).start()
      h.interceptReceipt = () => undefined
      h.stream(offers)
      h.tick(h.now + POLICY.paymentTimeoutMs)
      h.flush()
      h.seller.leaveChannel()
      return h
    }

    it('gives a buyer that never pays at most window.initial chunks per channel, however often it reconnects', () => {
      const ledger = new SellerChannelLedger()
      const sessions = Array.from({ length: 5 }, () => freeRider(ledger))
      const chunks = sessions.map((h) => h.sellerFrames('chunk').length)
      expect(chunks).toEqual([POLICY.window.initial, 0, 0, 0, 0])
      // Each later session is asked for the debt first; a client with no record of those chunks
      // (a fresh account, no maxDebt) disputes it instead of signing.
      for (const h of sessions.slice(1)) {
        expect(h.sellerFrames('payment_required')[0]?.owed).toBe(BigInt(POLICY.window.initial) * PRICE)
        expect(h.buyerClose?.error?.code).toBe('DEBT_DISPUTED')
      }
      expect(ledger.debt).toBe(BigInt(POLICY.window.initial) * PRICE)
    })

    it('gives 16 concurrent sessions of a buyer that never pays one window in all, not one each', () => {
      const ledger = new SellerChannelLedger()
      const sessions = Array.from({ length: 16 }, () => {
        const h = new Harness({ ledger, buyer: { account: new BuyerChannelAccount() } }).start()
        h.interceptReceipt = () => undefined
        return h
      })
      for (const h of sessions) h.stream(8)
      const chunks = sessions.reduce((n, h) => n + h.sellerFrames('chunk').length, 0)
      expect(chunks).toBe(POLICY.window.initial)
      expect(ledger.debt).toBe(BigInt(POLICY.window.initial) * PRICE)
    })

    it('keeps the debt across a seller restart: a ledger restored from the recorded debt serves nothing more', () => {
      const before = new SellerChannelLedger()
      freeRider(before)
      const recorded = { owed: before.owed }
      const restored = SellerChannelLedger.restore(channelInfo().base, recorded)
      const after = freeRider(restored)
      expect(after.sellerFrames('chunk')).toHaveLength(0)
      expect(after.sellerFrames('payment_required')[0]?.owed).toBe(recorded.owed)
    })

    it('lets a buyer whose connection dropped pay the chunks it received unsigned, then stream on', () => {
      const ledger = new SellerChannelLedger()
      const account = new BuyerChannelAccount()
      const first = new Harness({ ledger, buyer: { account } }).start()
      first.stream(3) // a receipt after 2 chunks (receiptEvery 2), the third unsigned
      first.onBuyer(first.buyer.disconnected())
      first.seller.leaveChannel()
      expect(ledger.debt).toBe(PRICE)

      const second = new Harness({ ledger, buyer: { account } }).start()
      second.stream(12)
      second.onBuyer(second.buyer.close())
      second.flush()
      const delivered = first.delivered.length + second.delivered.length
      expect(delivered).toBe(15)
      // One cumulative amount pays every chunk delivered on the channel, the dropped one included.
      expect(second.persisted.at(-1)?.amount).toBe(BigInt(delivered) * PRICE)
      expect(ledger.debt).toBe(0n)
      expect(second.buyerClose?.error).toBeUndefined()
    })

    it('pays a debt it cannot vouch for only up to maxDebt', () => {
      const ledger = new SellerChannelLedger()
      freeRider(ledger)
      const h = new Harness({
        ledger,
        buyer: { account: new BuyerChannelAccount(), maxDebt: BigInt(POLICY.window.initial) * PRICE },
      }).start()
      h.stream(6)
      expect(h.buyerClose).toBeUndefined()
      // The debt is paid first, with a receipt at the base's point (no chunk of this session yet).
      expect(h.persisted[0]).toMatchObject({ seq: 0, amount: BigInt(POLICY.window.initial) * PRICE })
      h.onBuyer(h.buyer.close())
      h.flush()
      expect(h.delivered).toHaveLength(6)
      expect(h.buyer.cumulativeAmount).toBe(BigInt(POLICY.window.initial + 6) * PRICE)
      expect(h.buyer.spent).toBe(BigInt(POLICY.window.initial + 6) * PRICE)
    })

    it('pays chunks that arrive after its close only up to the window the seller could have reached', () => {
      const h = new Harness().start()
      h.stream(3) // one receipt (receiptEvery 2), the third chunk unpaid
      h.onBuyer(h.buyer.close()) // its final receipt is the second; nothing reaches the seller here
      const afterClose = (n: number) =>
        h.buyer.receive({ t: 'chunk', seq: 3 + n, data: payload(100 + n) }, h.now)
      // A hostile seller pushes 5,000 more chunks before its close echo.
      for (let n = 0; n < 5_000; n++) afterClose(n)
      const effects = h.buyer.receive({ t: 'close', reason: 'buyer_closed', message: '' }, h.now)
      const last = effects.find((e) => e.type === 'receipt')
      const reachable = POLICY.window.initial + POLICY.window.step * 2 // two receipts signed
      expect(h.buyer.chunksAfterClose).toBe(reachable)
      expect(last?.type === 'receipt' && last.receipt.amount).toBe(BigInt(3 + reachable) * PRICE)
    })

    it('sends nothing to a session whose accept is not signed by a key of the channel (AUTH_FAILED)', () => {
      const h = new Harness({ buyer: { signAccept: acceptSigner(wrongKey) } }).start()
      h.stream(5)
      expect(h.sellerClose).toEqual({ reason: 'protocol_error', code: 'AUTH_FAILED' })
      expect(h.sellerFrames('chunk')).toHaveLength(0)
    })

    it("refuses an accept replayed from another session: its nonce is not this session's", () => {
      const first = new Harness().start()
      const accept = first.buyerSent.find((f) => f.t === 'accept')!
      const seller = new SellerSession(
        (terms) => signTerms(sellerKey, terms),
        (info) => receiptDomainSeparator(info),
      )
      seller.receive({ t: 'hello', v: 1, productId: PRODUCT_ID, channelId: CHANNEL_ID }, T0)
      seller.resolved(channelInfo(), POLICY, T0)
      // Same channel, same policy, same clock: only the nonce differs, and the digest it signed.
      const replayed = seller.receive(accept, T0)
      expect(replayed.find((e) => e.type === 'close')).toEqual({
        type: 'close',
        reason: 'protocol_error',
        code: 'AUTH_FAILED',
      })
      expect(seller.offer(payload(0), T0)).toEqual([])
    })

    it('closes a connection that sends no hello within helloTimeoutMs, whatever else it sends (HELLO_TIMEOUT)', () => {
      const seller = new SellerSession(
        (terms) => signTerms(sellerKey, terms),
        (info) => receiptDomainSeparator(info),
        { now: T0, helloTimeoutMs: 5_000, heartbeatMs: 1_000, idleTimeoutMs: 30_000 },
      )
      for (let t = T0 + 500; t < T0 + 5_000; t += 500) {
        seller.receive({ t: 'ping', n: t }, t)
        seller.receive({ t: 'pong', n: 1 }, t)
        expect(seller.tick(t).some((e) => e.type === 'close')).toBe(false)
      }
      expect(seller.deadline).toBeLessThanOrEqual(T0 + 5_000)
      expect(seller.tick(T0 + 5_000)).toContainEqual({
        type: 'close',
        reason: 'resource_limit',
        code: 'HELLO_TIMEOUT',
      })
    })
  })
})
