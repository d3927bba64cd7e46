import fc from 'fast-check'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  type BuyerEffect,
  BuyerSession,
  type ChannelInfo,
  type ChunkFrame,
  decodeFrame,
  encodeFrame,
  type Frame,
  type OverflowPolicy,
  receiptDomainSeparator,
  type SellerEffect,
  type SellerPolicy,
  SellerSession,
  signReceipt,
  signTerms,
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

const PRICE = 1_000n
const T0 = 1_750_000_000_000
const HEARTBEAT_MS = 1_000
const IDLE_MS = 3_000

const POLICY: SellerPolicy = {
  pricePerChunk: PRICE,
  maxChunkBytes: 64,
  window: { initial: 4, step: 4, max: 64 },
  receiptEvery: 2,
  paymentTimeoutMs: 60_000,
  termsTtlMs: 60_000,
  maxQueuedChunks: 5,
  overflow: 'drop_oldest',
  heartbeatMs: HEARTBEAT_MS,
  idleTimeoutMs: IDLE_MS,
}

const INFO: ChannelInfo = {
  productId: PRODUCT_ID,
  channelId: CHANNEL_ID,
  chainId: CHAIN_ID,
  channels: CHANNELS,
  payee: PAYEE,
  deposit: 1_000_000n * PRICE,
  signers: [BUYER],
  base: { seq: 0, amount: 0n, ackHash: ZERO_HASH, signature: '0x' },
}

const payload = (i: number) => Uint8Array.from([i & 255, (i >> 8) & 255, 0xee])
const wire = (frame: Frame): Frame => decodeFrame(encodeFrame(frame))

function newSeller(): SellerSession {
  return new SellerSession(
    (terms) => signTerms(sellerKey, terms),
    (info) => receiptDomainSeparator(info),
    { now: Date.now(), heartbeatMs: HEARTBEAT_MS, idleTimeoutMs: IDLE_MS },
  )
}

function newBuyer(): BuyerSession {
  return new BuyerSession({
    productId: PRODUCT_ID,
    channelId: CHANNEL_ID,
    chainId: CHAIN_ID,
    channels: CHANNELS,
    payee: PAYEE,
    sellerKey: SELLER,
    signer: BUYER,
    maxSpend: 1_000_000n * PRICE,
    domainSeparator: SEPARATOR,
    signReceipt: (r) => signReceipt(buyerKey, SEPARATOR, r),
    signAccept: acceptSigner(),
    idleTimeoutMs: IDLE_MS,
  })
}

/**
 * Both machines back to back over an in-memory link, each with its timer armed at its `deadline`
 * (`setTimeout`, so fake timers drive it). `buyerDeaf` / `sellerDead` cut one direction of the link.
 */
class Link {
  readonly seller: SellerSession
  readonly policy: SellerPolicy
  readonly buyer = newBuyer()
  readonly sellerSent: Frame[] = []
  readonly buyerSent: Frame[] = []
  readonly delivered: { seq: number; data: Uint8Array }[] = []
  sellerClose: Extract<SellerEffect, { type: 'close' }> | undefined
  buyerClose: Extract<BuyerEffect, { type: 'close' }> | undefined
  /** the buyer no longer reads or answers (a hung client) */
  buyerDeaf = false
  /** the seller no longer sends or reads (a dead server) */
  sellerDead = false
  private readonly toBuyer: Frame[] = []
  private readonly toSeller: Frame[] = []
  private sellerTimer: ReturnType<typeof setTimeout> | undefined
  private buyerTimer: ReturnType<typeof setTimeout> | undefined

  constructor(policy: SellerPolicy = POLICY) {
    this.policy = policy
    this.seller = newSeller()
    this.onBuyer(this.buyer.start(Date.now()))
    this.flush()
  }

  onSeller(effects: SellerEffect[]): void {
    for (const e of effects) {
      if (e.type === 'send') {
        this.sellerSent.push(e.frame)
        if (!this.sellerDead) this.toBuyer.push(wire(e.frame))
      } else if (e.type === 'resolve') {
        this.onSeller(this.seller.resolved(INFO, this.policy, Date.now()))
      } else if (e.type === 'persist') {
        this.onSeller(this.seller.persisted(e.receipt, Date.now()))
      } else if (e.type === 'close') {
        this.sellerClose = e
      }
    }
    clearTimeout(this.sellerTimer)
    const at = this.seller.deadline
    if (at !== undefined && !this.sellerDead) {
      this.sellerTimer = setTimeout(() => {
        this.onSeller(this.seller.tick(Date.now()))
        this.flush()
      }, at - Date.now())
    }
  }

  onBuyer(effects: BuyerEffect[]): void {
    for (const e of effects) {
      if (e.type === 'send') {
        this.buyerSent.push(e.frame)
        if (!this.buyerDeaf) this.toSeller.push(wire(e.frame))
      } else if (e.type === 'deliver') {
        this.delivered.push({ seq: e.seq, data: e.data })
      } else if (e.type === 'close') {
        this.buyerClose = e
      }
    }
    clearTimeout(this.buyerTimer)
    const at = this.buyer.deadline
    if (at !== undefined && !this.buyerDeaf) {
      this.buyerTimer = setTimeout(() => {
        this.onBuyer(this.buyer.tick(Date.now()))
        this.flush()
      }, at - Date.now())
    }
  }

  flush(): void {
    while (this.toBuyer.length > 0 || this.toSeller.length > 0) {
      const b = this.toBuyer.shift()
      if (b && !this.buyerDeaf) this.onBuyer(this.buyer.receive(b, Date.now()))
      const s = this.toSeller.shift()
      if (s && !this.sellerDead) this.onSeller(this.seller.receive(s, Date.now()))
    }
  }

  offer(data: Uint8Array): void {
    this.onSeller(this.seller.offer(data, Date.now()))
    this.flush()
  }

  frames<T extends Frame['t']>(from: Frame[], t: T): Extract<Frame, { t: T }>[] {
    return from.filter((f): f is Extract<Frame, { t: T }> => f.t === t)
  }
}

describe('session liveness (heartbeat and idle timeout)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: T0 })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('states heartbeatMs, idleTimeoutMs, maxQueuedChunks and overflow in the signed terms', () => {
    const link = new Link()
    const terms = link.frames(link.sellerSent, 'terms')[0]!
    expect(terms).toMatchObject({
      heartbeatMs: HEARTBEAT_MS,
      idleTimeoutMs: IDLE_MS,
      maxQueuedChunks: 5,
      overflow: 'drop_oldest',
    })
    expect(link.buyer.acceptedTerms).toBeDefined()
  })

  it('pings a quiet buyer every heartbeatMs and keeps the session open while it answers pong', () => {
    const link = new Link()
    vi.advanceTimersByTime(HEARTBEAT_MS - 1)
    expect(link.frames(link.sellerSent, 'ping')).toHaveLength(0)
    vi.advanceTimersByTime(1)
    expect(link.frames(link.sellerSent, 'ping')).toEqual([{ t: 'ping', n: 1 }])
    expect(link.frames(link.buyerSent, 'pong')).toEqual([{ t: 'pong', n: 1 }])
    vi.advanceTimersByTime(5 * IDLE_MS)
    expect(link.seller.closed).toBe(false)
    expect(link.buyer.closed).toBe(false)
    expect(link.frames(link.sellerSent, 'ping')).toHaveLength(1 + (5 * IDLE_MS) / HEARTBEAT_MS)
    expect(link.seller.stats.pingsSent).toBe(link.frames(link.buyerSent, 'pong').length)
  })

  it('does not ping a buyer that keeps sending receipts within heartbeatMs', () => {
    const link = new Link()
    for (let i = 0; i < 40; i++) {
      link.offer(payload(i))
      vi.advanceTimersByTime(HEARTBEAT_MS / 4)
    }
    // A receipt every 2 chunks = every 500 ms: the buyer is never silent for heartbeatMs.
    expect(link.frames(link.sellerSent, 'ping')).toHaveLength(0)
    expect(link.delivered).toHaveLength(40)
  })

  it('closes a buyer silent for idleTimeoutMs with error IDLE_TIMEOUT and close idle_timeout, after pinging it', () => {
    const link = new Link()
    link.buyerDeaf = true
    vi.advanceTimersByTime(IDLE_MS - 1)
    expect(link.seller.closed).toBe(false)
    expect(link.frames(link.sellerSent, 'ping').map((p) => p.n)).toEqual([1, 2])
    vi.advanceTimersByTime(1)
    expect(link.seller.closed).toBe(true)
    expect(link.sellerClose).toEqual({ type: 'close', reason: 'idle_timeout', code: 'IDLE_TIMEOUT' })
    expect(link.sellerSent.slice(-2)).toMatchObject([
      { t: 'error', code: 'IDLE_TIMEOUT' },
      { t: 'close', reason: 'idle_timeout' },
    ])
    expect(link.seller.deadline).toBeUndefined()
  })

  it('closes a connection that never sends hello after idleTimeoutMs', () => {
    const seller = newSeller()
    expect(seller.deadline).toBe(T0 + HEARTBEAT_MS)
    expect(seller.tick(T0 + HEARTBEAT_MS)).toEqual([{ type: 'send', frame: { t: 'ping', n: 1 } }])
    expect(seller.tick(T0 + IDLE_MS).at(-1)).toEqual({
      type: 'close',
      reason: 'idle_timeout',
      code: 'IDLE_TIMEOUT',
    })
  })

  it('ends the buyer with IDLE_TIMEOUT when the seller sends nothing (no chunk, no ping) for idleTimeoutMs', () => {
    const link = new Link()
    link.offer(payload(0))
    link.sellerDead = true
    vi.advanceTimersByTime(IDLE_MS - 1)
    expect(link.buyer.closed).toBe(false)
    vi.advanceTimersByTime(1)
    expect(link.buyer.closed).toBe(true)
    expect(link.buyerClose).toMatchObject({ reason: 'idle_timeout', error: { code: 'IDLE_TIMEOUT' } })
    expect(link.buyer.error?.code).toBe('IDLE_TIMEOUT')
    expect(link.buyer.deadline).toBeUndefined()
  })

  it('ends a buyer still waiting for terms after its configured idleTimeoutMs', () => {
    const buyer = newBuyer()
    buyer.start(T0)
    expect(buyer.deadline).toBe(T0 + IDLE_MS)
    expect(buyer.tick(T0 + IDLE_MS - 1)).toEqual([])
    expect(buyer.tick(T0 + IDLE_MS).at(-1)).toMatchObject({ type: 'close', reason: 'idle_timeout' })
  })

  it('refuses terms whose heartbeat is not below the idle timeout with TERMS_INVALID', () => {
    const seller = new SellerSession(
      (terms) => signTerms(sellerKey, terms),
      (info) => receiptDomainSeparator(info),
    )
    const buyer = newBuyer()
    const hello = buyer.start(T0)[0] as { frame: Frame }
    seller.receive(wire(hello.frame), T0)
    const sent = seller.resolved(INFO, { ...POLICY, heartbeatMs: IDLE_MS, idleTimeoutMs: IDLE_MS }, T0)
    const terms = (sent[0] as { frame: Frame }).frame
    const out = buyer.receive(wire(terms), T0)
    expect(out.at(-1)).toMatchObject({ type: 'close', error: { code: 'TERMS_INVALID' } })
  })
})

describe('slow-buyer queue (back-pressure)', () => {
  function streaming(overflow: OverflowPolicy, maxQueuedChunks = 5) {
    const seller = newSeller()
    const buyer = newBuyer()
    const sent: Frame[] = []
    const run = (effects: SellerEffect[]) => {
      for (const e of effects) {
        if (e.type === 'send') sent.push(e.frame)
        if (e.type === 'resolve')
          run(
            seller.resolved(
              INFO,
              { ...POLICY, overflow, maxQueuedChunks, window: { initial: 64, step: 0, max: 64 } },
              T0,
            ),
          )
      }
    }
    const hello = buyer.start(T0)[0] as { frame: Frame }
    run(seller.receive(wire(hello.frame), T0))
    const terms = sent.find((f) => f.t === 'terms')!
    const accept = buyer.receive(wire(terms), T0)[0] as { frame: Frame }
    run(seller.receive(wire(accept.frame), T0))
    return { seller, sent, run, chunks: () => sent.filter((f): f is ChunkFrame => f.t === 'chunk') }
  }

  it('drop_oldest: behind a full transport, the buyer later gets the newest maxQueuedChunks chunks with contiguous seqs', () => {
    const s = streaming('drop_oldest')
    s.run(s.seller.offer(payload(0), T0))
    s.seller.transportFull()
    for (let i = 1; i <= 20; i++) s.run(s.seller.offer(payload(i), T0))
    expect(s.seller.queuedChunks).toBe(5)
    expect(s.seller.stats.chunksDropped).toBe(15)
    s.run(s.seller.transportDrained(T0))
    const chunks = s.chunks()
    expect(chunks.map((c) => c.seq)).toEqual([0, 1, 2, 3, 4, 5])
    expect(chunks.map((c) => c.data[0])).toEqual([0, 16, 17, 18, 19, 20])
    expect(s.sent.some((f) => f.t === 'payment_required')).toBe(false)
  })

  it('drop_newest: behind a full transport, the buyer later gets the oldest maxQueuedChunks chunks with contiguous seqs', () => {
    const s = streaming('drop_newest')
    s.seller.transportFull()
    for (let i = 0; i < 20; i++) s.run(s.seller.offer(payload(i), T0))
    s.run(s.seller.transportDrained(T0))
    expect(s.chunks().map((c) => c.seq)).toEqual([0, 1, 2, 3, 4])
    expect(s.chunks().map((c) => c.data[0])).toEqual([0, 1, 2, 3, 4])
    expect(s.seller.stats).toMatchObject({ chunksSent: 5, chunksDropped: 15, peakQueuedChunks: 5 })
  })

  it('never queues more than maxQueuedChunks, whatever the schedule of offers, frames, transport and timers', () => {
    type Step =
      | { k: 'offer'; n: number }
      | { k: 'full' }
      | { k: 'drain' }
      | { k: 'pay' }
      | { k: 'tick'; ms: number }
    const stepArb: fc.Arbitrary<Step> = fc.oneof(
      {
        weight: 6,
        arbitrary: fc.record({ k: fc.constant('offer' as const), n: fc.integer({ min: 1, max: 8 }) }),
      },
      { weight: 1, arbitrary: fc.constant({ k: 'full' as const }) },
      { weight: 1, arbitrary: fc.constant({ k: 'drain' as const }) },
      { weight: 2, arbitrary: fc.constant({ k: 'pay' as const }) },
      { weight: 1, arbitrary: fc.record({ k: fc.constant('tick' as const), ms: fc.nat({ max: 2_000 }) }) },
    )
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.constantFrom<OverflowPolicy>('drop_oldest', 'drop_newest'),
        fc.integer({ min: 1, max: 8 }),
        fc.array(stepArb, { minLength: 10, maxLength: 120 }),
        (maxQueuedChunks, overflow, initial, steps) => {
          const policy: SellerPolicy = {
            ...POLICY,
            maxQueuedChunks,
            overflow,
            receiptEvery: 1,
            window: { initial, step: 1, max: initial + 4 },
          }
          const seller = newSeller()
          const buyer = newBuyer()
          let now = T0
          let offered = 0
          const toSeller: Frame[] = []
          const toBuyer: Frame[] = []
          const seqs: number[] = []
          const onSeller = (effects: SellerEffect[]) => {
            for (const e of effects) {
              if (e.type === 'send') toBuyer.push(wire(e.frame))
              if (e.type === 'send' && e.frame.t === 'chunk') seqs.push(e.frame.seq)
              if (e.type === 'resolve') onSeller(seller.resolved(INFO, policy, now))
              if (e.type === 'persist') onSeller(seller.persisted(e.receipt, now))
            }
          }
          const onBuyer = (effects: BuyerEffect[]) => {
            for (const e of effects) if (e.type === 'send') toSeller.push(wire(e.frame))
          }
          onBuyer(buyer.start(now))
          const exchange = () => {
            while (toBuyer.length + toSeller.length > 0) {
              const b = toBuyer.shift()
              if (b) onBuyer(buyer.receive(b, now))
              const s = toSeller.shift()
              if (s) onSeller(seller.receive(s, now))
            }
          }
          exchange()
          for (const step of steps) {
            if (step.k === 'offer') {
              for (let i = 0; i < step.n; i++) onSeller(seller.offer(payload(offered++), now))
            } else if (step.k === 'full') {
              seller.transportFull()
            } else if (step.k === 'drain') {
              onSeller(seller.transportDrained(now))
            } else if (step.k === 'pay') {
              exchange()
            } else {
              now += step.ms
              onSeller(seller.tick(now))
            }
            expect(seller.queuedChunks).toBeLessThanOrEqual(maxQueuedChunks)
            expect(seller.stats.peakQueuedChunks).toBeLessThanOrEqual(maxQueuedChunks)
            expect(
              seller.stats.chunksSent + seller.stats.chunksDropped + seller.queuedChunks,
            ).toBeLessThanOrEqual(offered)
          }
          // Whatever was sent went out with contiguous seqs from 0 (dropped chunks take no seq).
          expect(seqs[0] ?? 0).toBe(0)
          for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1]! + 1)
        },
      ),
      { numRuns: 100 },
    )
  })
})
