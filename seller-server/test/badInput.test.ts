import { type LocalMarketplace, startLocalMarketplace } from '@trickle/devnet'
import {
  type ChunkFrame,
  DEFAULT_MAX_FRAME_BYTES,
  type Hex,
  nextAckHash,
  receiptDomainSeparator,
  signReceipt,
  type TermsFrame,
  ZERO_HASH,
} from '@trickle/protocol'
import { BuyerClient } from '@trickle/sdk'
import { JsonRpcProvider, Wallet } from 'ethers'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { acceptFor, connectRaw, type RawClient } from './helpers/rawClient.ts'

const WINDOW = { initial: 8, step: 8, max: 64 }

describe('seller server under bad input', () => {
  let market: LocalMarketplace
  let provider: JsonRpcProvider
  let buyer: BuyerClient
  let payer: Wallet
  let price: bigint
  let productId: bigint
  let separator: Hex

  beforeAll(async () => {
    market = await startLocalMarketplace({
      rowsPerSecond: 200,
      policy: { window: WINDOW, receiptEvery: 4, paymentTimeoutMs: 400, termsTtlMs: 1_500 },
      // Receipts are recovered in a worker thread here, the path a seller takes where the
      // libsecp256k1 binary does not load; the other server tests recover them inline.
      verifierThreads: 1,
      // Each test leaves its channel unpaid on purpose, all from one payer.
      maxIndebtedChannelsPerPayer: 1_000,
      logger: pino({ level: 'silent' }),
    })
    provider = new JsonRpcProvider(market.rpcUrl, market.chainId, {
      staticNetwork: true,
      cacheTimeout: -1,
      pollingInterval: 100,
    })
    payer = new Wallet(market.buyerKeys[1]!, provider)
    // The payer signs its own receipts here, so the tests can also sign bad ones.
    buyer = await BuyerClient.create({
      wallet: payer,
      sessionKey: payer.signingKey,
      ...market.config,
    })
    const product = market.seller.products[0]!
    productId = product.productId
    price = BigInt(product.descriptor.pricePerChunk)
    separator = receiptDomainSeparator({
      chainId: market.chainId,
      channels: market.deployment.channels as Hex,
    })
  })
  afterAll(async () => {
    await buyer?.close()
    provider?.destroy()
    await market?.stop()
  })

  /** Opens a channel, says hello, accepts the terms, and returns the raw session. */
  async function acceptedSession(
    deposit = price * 1000n,
  ): Promise<{ raw: RawClient; channelId: Hex; terms: TermsFrame }> {
    const { channelId } = await buyer.openChannel(market.seller.address, deposit)
    const raw = await connectRaw(market.seller.url)
    raw.sendFrame({ t: 'hello', v: 1, productId, channelId })
    const terms = await raw.next('terms')
    raw.sendFrame(acceptFor(terms, payer.signingKey))
    return { raw, channelId, terms }
  }

  function chunksOf(raw: RawClient): ChunkFrame[] {
    return raw.frames.filter((f): f is ChunkFrame => f.t === 'chunk')
  }

  function receiptFor(channelId: Hex, chunks: ChunkFrame[], key = payer.signingKey, amountPerChunk = price) {
    let ackHash = ZERO_HASH
    for (const c of chunks) ackHash = nextAckHash(ackHash, c.data)
    const value = { channelId, amount: amountPerChunk * BigInt(chunks.length), seq: chunks.length, ackHash }
    return { t: 'receipt' as const, ...value, signature: signReceipt(key, separator, value) }
  }

  it('stops a buyer that never pays after the credit window, with payment_required then a timed close', async () => {
    const { raw } = await acceptedSession()
    const required = await raw.next('payment_required')
    const closed = await raw.closed
    expect(chunksOf(raw).length).toBeLessThanOrEqual(WINDOW.initial)
    expect(required).toMatchObject({ seq: chunksOf(raw).length, owed: price * BigInt(chunksOf(raw).length) })
    expect(raw.frames.find((f) => f.t === 'error')).toMatchObject({ code: 'PAYMENT_TIMEOUT' })
    expect(raw.frames.at(-1)).toMatchObject({ t: 'close', reason: 'payment_timeout' })
    expect(closed.code).toBe(1000)
  })

  it('answers a garbage frame with an error and a clean close while other sessions keep streaming', async () => {
    const product = await buyer.product(productId)
    const { channelId } = await buyer.openChannel(market.seller.address, price * 1000n)
    const good = await buyer.stream(product, { channelId, maxSpend: price * 1000n, maxChunks: 60 })
    const received: number[] = []
    const consuming = (async () => {
      for await (const c of good) received.push(c.seq)
    })()
    while (received.length < 10) await new Promise((r) => setTimeout(r, 20))

    const bad = await connectRaw(market.seller.url)
    bad.sendBytes(Uint8Array.from([0xc1, 0xff, 0x00, 0x13, 0x37]))
    const error = await bad.next('error')
    const closed = await bad.closed
    expect(error.code).toBe('FRAME_MALFORMED')
    expect(bad.frames.at(-1)).toMatchObject({ t: 'close', reason: 'protocol_error' })
    expect(closed.code).toBe(1000)
    const atGarbage = received.length

    await consuming
    expect((await good.finished).chunks).toBe(60)
    expect(received.length).toBeGreaterThan(atGarbage)
    expect(received).toEqual(Array.from({ length: 60 }, (_, i) => i))
  })

  it('answers a frame over the size limit with FRAME_TOO_LARGE and a clean close', async () => {
    const raw = await connectRaw(market.seller.url)
    raw.sendBytes(new Uint8Array(DEFAULT_MAX_FRAME_BYTES + 1))
    expect(await raw.next('error')).toMatchObject({ code: 'FRAME_TOO_LARGE' })
    expect((await raw.closed).code).toBe(1000)
  })

  it('closes a session whose terms were never accepted once they expire, freeing the channel', async () => {
    const { channelId } = await buyer.openChannel(market.seller.address, price * 10n)
    const raw = await connectRaw(market.seller.url)
    raw.sendFrame({ t: 'hello', v: 1, productId, channelId })
    const terms = await raw.next('terms')
    const closed = await raw.closed
    expect(raw.frames.find((f) => f.t === 'error')).toMatchObject({ code: 'TERMS_EXPIRED' })
    expect(raw.frames.at(-1)).toMatchObject({ t: 'close', reason: 'terms_rejected' })
    expect(closed.code).toBe(1000)
    expect(Date.now()).toBeGreaterThanOrEqual(terms.expiresAt)
  })

  it('rejects a receipt signed by the wrong key with RECEIPT_WRONG_SIGNER', async () => {
    const { raw, channelId } = await acceptedSession()
    await raw.next('payment_required')
    const stranger = Wallet.createRandom()
    raw.sendFrame(receiptFor(channelId, chunksOf(raw), stranger.signingKey))
    expect(await raw.next('error')).toMatchObject({ code: 'RECEIPT_WRONG_SIGNER' })
    await raw.closed
  })

  it('rejects a receipt made for another channel', async () => {
    const { raw } = await acceptedSession()
    const other = await buyer.openChannel(market.seller.address, price * 10n)
    await raw.next('payment_required')
    // Correctly signed by the payer, but over the other channel's id: it does not verify here.
    raw.sendFrame(receiptFor(other.channelId, chunksOf(raw)))
    expect(await raw.next('error')).toMatchObject({ code: 'RECEIPT_WRONG_SIGNER' })
    expect(raw.frames.at(-1)).toMatchObject({ t: 'close', reason: 'protocol_error' })
  })

  it('rejects a receipt lower than the last one with RECEIPT_STALE, and keeps the higher one', async () => {
    const { raw, channelId } = await acceptedSession()
    await raw.next('payment_required')
    const first = chunksOf(raw)
    raw.sendFrame(receiptFor(channelId, first))
    // After the good receipt the window reopens; wait for more chunks, then replay a lower receipt.
    const deadline = Date.now() + 5_000
    while (chunksOf(raw).length <= first.length && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20))
    expect(chunksOf(raw).length).toBeGreaterThan(first.length)
    raw.sendFrame(receiptFor(channelId, first.slice(0, 2)))
    expect(await raw.next('error')).toMatchObject({ code: 'RECEIPT_STALE' })
    await raw.closed
    const stored = await market.seller.store.latest(channelId)
    expect(stored).toMatchObject({ seq: first.length, amount: price * BigInt(first.length) })
  })
})
