// A hostile buyer against a live seller (issue 10, findings 1–3): real anvil, helia, MQTT broker and
// seller; the attacker speaks the protocol with the project's own codec (SPEC.md §Authentication,
// §Channel debt).
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type LocalMarketplace, startLocalMarketplace } from '@trickle/devnet'
import type { Hex } from '@trickle/protocol'
import type { BuyerClient } from '@trickle/sdk'
import { type JsonRpcProvider, SigningKey, Wallet } from 'ethers'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buyerFor, restartSeller } from './helpers/buyer.ts'
import { freeRide, sessionsEnded, type Taken } from './helpers/freeRide.ts'
import { connectRaw } from './helpers/rawClient.ts'

const WINDOW = { initial: 8, step: 8, max: 64 }
const PRICE = 1_000_000_000_000n
const silent = pino({ level: 'silent' })
/** Small windows and short timeouts, so that free rides end quickly. */
const POLICY = { window: WINDOW, receiptEvery: 4, paymentTimeoutMs: 400, termsTtlMs: 5_000 }

describe('a hostile buyer against a live seller', () => {
  let market: LocalMarketplace
  let provider: JsonRpcProvider
  let payer: Wallet
  let buyer: BuyerClient
  let productId: bigint
  let dataDir: string

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'trickle-adversary-'))
    market = await startLocalMarketplace({
      rowsPerSecond: 200,
      dataDir,
      pricePerChunk: PRICE,
      policy: POLICY,
      logger: silent,
    })
    // The payer's own key signs: the attacker holds the channel's key (it is its own channel).
    const payerKey = new Wallet(market.buyerKeys[1]!).signingKey
    ;({ buyer, provider, wallet: payer } = await buyerFor(market, { keyIndex: 1, sessionKey: payerKey }))
    productId = market.seller.products[0]!.productId
  })
  afterAll(async () => {
    await buyer?.close()
    provider?.destroy()
    await market?.stop()
  })

  it('gives a buyer that reconnects instead of paying window.initial chunks per channel, ever, across a restart', async () => {
    const { channelId } = await buyer.openChannel(market.seller.address, PRICE * 10_000n)
    const rides: Taken[] = []
    for (let i = 0; i < 6; i++) {
      const ended = sessionsEnded(market.seller, 1)
      rides.push(await freeRide(market.seller.url, productId, channelId, payer.signingKey))
      await ended
    }
    expect(rides.map((r) => r.chunks)).toEqual([WINDOW.initial, 0, 0, 0, 0, 0])
    // Every later session is asked for the debt before anything else.
    for (const ride of rides.slice(1)) {
      const required = ride.frames.find((f) => f.t === 'payment_required')
      expect(required).toMatchObject({ owed: BigInt(WINDOW.initial) * PRICE })
    }
    expect(await market.seller.store.channelDebt(channelId)).toEqual({ owed: BigInt(WINDOW.initial) * PRICE })

    // A restarted seller on the same data directory remembers the debt.
    await market.seller.close()
    const seller = await restartSeller(market, dataDir, {
      pricePerChunk: PRICE,
      logger: silent,
      policy: POLICY,
    })
    try {
      for (let i = 0; i < 3; i++) {
        const ended = sessionsEnded(seller, 1)
        rides.push(await freeRide(seller.url, productId, channelId, payer.signingKey))
        await ended
      }
      expect(rides.slice(6).map((r) => r.chunks)).toEqual([0, 0, 0])
      const total = rides.reduce((n, r) => n + r.chunks, 0)
      expect(total).toBe(WINDOW.initial)

      // The buyer comes back honestly: a fresh client (no record of those chunks) that accepts paying
      // a debt of one window pays it first, then streams; one claimable amount covers everything.
      const fresh = await buyerFor(market, {
        gateway: seller.httpUrl,
        sessionKey: payer.signingKey,
        keyIndex: 1,
      })
      const product = await fresh.buyer.product(productId)
      const stream = await fresh.buyer.stream(product, {
        channelId,
        maxSpend: PRICE * 100n,
        maxChunks: 20,
        maxDebt: BigInt(WINDOW.initial) * PRICE,
      })
      let received = 0
      for await (const _ of stream) received++
      const summary = await stream.finished
      expect(received).toBe(20)
      // The debt, the 20 chunks, and any chunk that was in flight when the buyer closed.
      const paid = (await seller.store.latest(channelId))!.amount
      expect(paid).toBe(summary.cumulativeAmount)
      expect(paid).toBeGreaterThanOrEqual(BigInt(WINDOW.initial + 20) * PRICE)
      expect(paid).toBeLessThanOrEqual(BigInt(WINDOW.initial + 20 + WINDOW.max) * PRICE)
      await fresh.buyer.close()
      fresh.provider.destroy()
      // Chunks in flight when the buyer closed were paid by its last receipt: nothing is left owed.
      await new Promise((r) => setTimeout(r, 200))
      expect(await seller.store.channelDebt(channelId)).toBeUndefined()
    } finally {
      await seller.close()
    }
  })
})

describe("sessions on someone else's channel", () => {
  let market: LocalMarketplace
  let provider: JsonRpcProvider
  let victim: BuyerClient
  let productId: bigint

  beforeAll(async () => {
    market = await startLocalMarketplace({
      rowsPerSecond: 200,
      pricePerChunk: PRICE,
      policy: POLICY,
      limits: { helloTimeoutMs: 1_000 },
      logger: silent,
    })
    ;({ buyer: victim, provider } = await buyerFor(market, { keyIndex: 2 }))
    productId = market.seller.products[0]!.productId
  })
  afterAll(async () => {
    await victim?.close()
    provider?.destroy()
    await market?.stop()
  })

  it('serves nothing to accepts signed by a key the channel does not name (AUTH_FAILED)', async () => {
    const { channelId } = await victim.openChannel(market.seller.address, PRICE * 1_000n)
    const rides = await Promise.all(
      Array.from({ length: 4 }, () =>
        freeRide(market.seller.url, productId, channelId, new SigningKey(Wallet.createRandom().privateKey)),
      ),
    )
    for (const ride of rides) {
      expect(ride.chunks).toBe(0)
      expect(ride.frames).toContainEqual({ t: 'error', code: 'AUTH_FAILED', message: expect.any(String) })
    }
  })

  it("lets the channel's buyer stream while 16 bare hellos sit on its channel (no lockout)", async () => {
    const { channelId } = await victim.openChannel(market.seller.address, PRICE * 1_000n)
    const squatters = await Promise.all(Array.from({ length: 16 }, () => connectRaw(market.seller.url)))
    for (const s of squatters) s.sendFrame({ t: 'hello', v: 1, productId, channelId })
    await Promise.all(squatters.map((s) => s.next('terms')))
    try {
      const product = await victim.product(productId)
      const stream = await victim.stream(product, { channelId, maxSpend: PRICE * 100n, maxChunks: 20 })
      let received = 0
      for await (const _ of stream) received++
      const summary = await stream.finished
      expect(received).toBe(20)
      expect(summary.reason).toBe('done')
      // 20 chunks, and any that were in flight when it closed (paid on the seller's close echo).
      expect(summary.paid).toBeGreaterThanOrEqual(20n * PRICE)
      expect(summary.paid).toBeLessThanOrEqual(BigInt(20 + WINDOW.max) * PRICE)
    } finally {
      for (const s of squatters) s.close()
    }
  })

  it('closes a connection that pings but never says hello (HELLO_TIMEOUT)', async () => {
    const raw = await connectRaw(market.seller.url)
    const pinger = setInterval(() => raw.sendFrame({ t: 'ping', n: 1 }), 100)
    try {
      await raw.closed
    } finally {
      clearInterval(pinger)
    }
    expect(raw.frames).toContainEqual({ t: 'error', code: 'HELLO_TIMEOUT', message: expect.any(String) })
    expect(raw.frames).toContainEqual({ t: 'close', reason: 'resource_limit', message: expect.any(String) })
  })

  it('refuses a new channel of a payer in debt on two others (DEBT_OUTSTANDING)', async () => {
    const channels: Hex[] = []
    for (let i = 0; i < 3; i++) {
      channels.push((await victim.openChannel(market.seller.address, PRICE * 1_000n)).channelId)
    }
    for (const channelId of channels.slice(0, 2)) {
      const ended = sessionsEnded(market.seller, 1)
      const ride = await freeRide(market.seller.url, productId, channelId, victim.sessionKey)
      expect(ride.chunks).toBe(WINDOW.initial)
      await ended
    }
    const third = await freeRide(market.seller.url, productId, channels[2]!, victim.sessionKey)
    expect(third.chunks).toBe(0)
    expect(third.frames).toContainEqual({ t: 'error', code: 'DEBT_OUTSTANDING', message: expect.any(String) })
  })
})
