import { channelsAt } from '@trickle/contracts'
import { type AirQualityRow, decodeReading, loadAirQuality } from '@trickle/devices'
import { increaseTime, type LocalMarketplace, startLocalMarketplace } from '@trickle/devnet'
import { type Hex, receiptDomainSeparator, recoverReceiptSigner } from '@trickle/protocol'
import { BuyerClient } from '@trickle/sdk'
import { JsonRpcProvider, Wallet } from 'ethers'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SessionEnd } from '../src/index.ts'
import { scrapeMetrics } from './helpers/metrics.ts'

/** A line the seller logged (pino's JSON). */
type LogLine = Record<string, unknown> & { level: number; msg: string }

describe('paid stream end to end (anvil, helia, aedes, replayed CSV)', () => {
  let market: LocalMarketplace
  let rows: AirQualityRow[]
  let provider: JsonRpcProvider
  /** the seller's log lines at `info` and above */
  const logged: LogLine[] = []

  beforeAll(async () => {
    rows = await loadAirQuality()
    market = await startLocalMarketplace({
      rowsPerSecond: 200,
      challengePeriodSeconds: 600n,
      logger: pino({ level: 'info' }, { write: (line: string) => logged.push(JSON.parse(line)) }),
    })
    provider = new JsonRpcProvider(market.rpcUrl, market.chainId, {
      staticNetwork: true,
      cacheTimeout: -1,
      pollingInterval: 100,
    })
  })
  afterAll(async () => {
    provider?.destroy()
    await market?.stop()
  })

  it('delivers CSV readings, pays the seller exactly price × chunks, and refunds the rest; /metrics and the logs count the same', async () => {
    const { deployment, seller } = market
    const health = (await (await fetch(`${seller.httpUrl}/health`)).json()) as Record<string, unknown>
    expect(health).toMatchObject({
      status: 'ok',
      failing: [],
      chainId: market.chainId,
      mqtt: 'connected',
      sessions: 0,
    })
    expect(health.products).toHaveLength(3)
    const wallet = new Wallet(market.buyerKeys[0]!, provider)
    const buyer = await BuyerClient.create({
      wallet,
      ...market.config,
    })
    // Discovery: registry events + descriptors through IPFS.
    const catalog = await buyer.products()
    expect(catalog.map((p) => p.descriptor?.name)).toEqual([
      'Carbon monoxide, road level',
      'Nitrogen oxides NOx and NO₂',
      'Temperature and humidity',
    ])
    const product = catalog.find((p) => p.descriptor?.topics.some((t) => t.endsWith('/nox')))!
    const key = seller.products.find((p) => p.descriptor.name === product.descriptor?.name)!.key
    const price = BigInt(product.descriptor!.pricePerChunk)
    const deposit = price * 1000n
    const { channelId } = await buyer.openChannel(seller.address, deposit)
    const claimed = new Promise<{ paid: bigint; txHash: Hex }>((resolve) => {
      seller.events.on('claimed', (c) => {
        if (c.channelId.toLowerCase() === channelId.toLowerCase()) resolve(c)
      })
    })
    const ended = new Promise<SessionEnd>((resolve) => {
      seller.events.on('session', (end) => {
        if (end.channelId?.toLowerCase() === channelId.toLowerCase()) resolve(end)
      })
    })
    const sellerBefore = await provider.getBalance(seller.address)

    const stream = await buyer.stream(product, { channelId, maxSpend: deposit, maxChunks: 200 })
    const readings = []
    let bytes = 0
    for await (const chunk of stream) {
      readings.push(decodeReading(chunk.data))
      bytes += chunk.data.byteLength
      if (readings.length === 100) {
        // Mid-stream: one session open, at least what the buyer holds sent, the unpaid value within
        // the window (256 chunks at most by the default policy).
        const during = await scrapeMetrics(seller.httpUrl)
        expect(during.value('trickle_seller_sessions_open', { product: key })).toBe(1)
        expect(during.value('trickle_seller_chunks_sent_total', { product: key })).toBeGreaterThanOrEqual(100)
        expect(during.value('trickle_seller_chunks_sent_total', { product: key })).toBeLessThanOrEqual(200)
        const exposure = during.value('trickle_seller_unpaid_exposure_wei')!
        expect(exposure).toBeGreaterThanOrEqual(0)
        expect(exposure).toBeLessThanOrEqual(Number(256n * price))
        // Nothing is claimed yet: what was sent is either receipted (unclaimed) or not (exposure).
        const sent = during.value('trickle_seller_chunks_sent_total', { product: key })!
        const unclaimed = during.value('trickle_seller_unclaimed_wei')!
        expect(unclaimed).toBeGreaterThan(0)
        expect(unclaimed + exposure).toBe(sent * Number(price))
      }
    }
    const summary = await stream.finished

    // The readings are the CSV's rows, values and nulls alike.
    expect(readings).toHaveLength(200)
    expect(new Set(readings.map((r) => r.sensor))).toEqual(new Set(['nox', 'no2']))
    for (const r of readings) {
      const row = rows[r.row]!
      expect(r.time).toBe(row.time)
      expect(r.value).toBe(row.values[r.sensor])
    }
    expect(summary).toMatchObject({ chunks: 200, paid: 200n * price, reason: 'done' })

    // The seller's claim raised its balance by exactly price × chunks (plus the gas it spent).
    const claim = await claimed
    expect(claim.paid).toBe(200n * price)
    const claimReceipt = (await provider.getTransactionReceipt(claim.txHash))!
    const gas = claimReceipt.gasUsed * claimReceipt.gasPrice
    expect((await provider.getBalance(seller.address)) - sellerBefore + gas).toBe(200n * price)

    // /metrics after the claim: the numbers the buyer received and the chain paid.
    const end = await ended
    const after = await scrapeMetrics(seller.httpUrl)
    expect(after.status).toBe(200)
    expect(after.contentType).toMatch(/^text\/plain; version=0\.0\.4/)
    expect(after.value('trickle_seller_sessions_open', { product: key })).toBe(0)
    expect(after.value('trickle_seller_sessions_started_total', { product: key })).toBe(1)
    expect(after.value('trickle_seller_sessions_ended_total', { product: key, reason: end.reason })).toBe(1)
    expect(after.value('trickle_seller_chunks_sent_total', { product: key })).toBe(200)
    expect(after.value('trickle_seller_chunk_bytes_sent_total', { product: key })).toBe(bytes)
    expect(end.receiptsAccepted).toBeGreaterThanOrEqual(200 / 8)
    expect(after.value('trickle_seller_receipts_stored_total', { product: key })).toBe(end.receiptsAccepted)
    expect(after.value('trickle_seller_receipt_store_seconds_count')).toBe(end.receiptsAccepted)
    expect(after.value('trickle_seller_unpaid_exposure_wei')).toBe(0)
    expect(after.value('trickle_seller_claims_sent_total')).toBe(1)
    expect(after.value('trickle_seller_claims_mined_total')).toBe(1)
    expect(after.value('trickle_seller_claim_gas_used_total')).toBe(Number(claimReceipt.gasUsed))
    expect(after.value('trickle_seller_claim_gas_cost_wei_total')).toBe(Number(gas))
    expect(after.value('trickle_seller_claimed_wei_total')).toBe(Number(200n * price))
    expect(after.value('trickle_seller_unclaimed_wei')).toBe(0)
    expect(after.value('trickle_seller_broker_connected')).toBe(1)
    expect(after.value('trickle_seller_rpc_healthy')).toBe(1)
    expect(after.value('process_cpu_seconds_total')).toBeGreaterThan(0)

    // One info line at the session's start and one at its end.
    const ofChannel = (msg: string) =>
      logged.filter((l) => l.msg === msg && String(l.channelId).toLowerCase() === channelId.toLowerCase())
    expect(ofChannel('session started')).toEqual([
      expect.objectContaining({ level: 30, product: key, payer: wallet.address, baseAmount: '0' }),
    ])
    expect(ofChannel('session ended')).toEqual([
      expect.objectContaining({
        level: 30,
        product: key,
        payer: wallet.address,
        chunks: 200,
        amount: (200n * price).toString(),
        reason: end.reason,
        durationMs: end.durationMs,
      }),
    ])
    expect(end.durationMs).toBeGreaterThan(0)

    // The store holds the final receipt, signed by the buyer's session key.
    const last = (await seller.store.latest(channelId))!
    expect(last).toMatchObject({ seq: 200, amount: 200n * price })
    const separator = receiptDomainSeparator({
      chainId: market.chainId,
      channels: deployment.channels as Hex,
    })
    expect(
      recoverReceiptSigner(
        separator,
        { channelId, amount: last.amount, seq: last.seq, ackHash: last.ackHash },
        last.signature,
      ),
    ).toBe(buyer.signerAddress.toLowerCase())

    // Refund: request close, wait out the challenge period, finalize: deposit − paid comes back.
    await buyer.requestClose(channelId)
    await expect(buyer.finalize(channelId)).rejects.toThrow()
    await increaseTime(market.chain!.provider, 601)
    const buyerBefore = await provider.getBalance(wallet.address)
    const fin = await buyer.finalize(channelId)
    expect(fin.refund).toBe(deposit - 200n * price)
    expect((await provider.getBalance(wallet.address)) - buyerBefore + fin.fee).toBe(deposit - 200n * price)
    const view = await channelsAt(deployment.channels, provider).getChannel(channelId)
    expect(view.claimed).toBe(200n * price)
    await buyer.close()
  })

  it('lets the same client resume a channel after it closed a stream early', async () => {
    const { seller } = market
    const buyer = await BuyerClient.create({
      wallet: new Wallet(market.buyerKeys[1]!, provider),
      ...market.config,
    })
    const product = await buyer.product(seller.products[0]!.productId)
    const price = BigInt(product.descriptor!.pricePerChunk)
    const { channelId } = await buyer.openChannel(seller.address, price * 100n)
    const first = await buyer.stream(product, { channelId, maxSpend: price * 100n })
    let taken = 0
    for await (const _ of first) if (++taken === 10) break
    const closed = await first.close()
    expect(closed.reason).toBe('buyer_closed')
    // The final receipt covers every chunk received, those that arrived after the close included
    // (in flight when the buyer closed), and the seller stored it.
    const covered = closed.chunks + closed.afterClose
    expect(await seller.store.latest(channelId)).toMatchObject({ seq: covered })
    expect(closed.paid).toBe(price * BigInt(covered))
    const second = await buyer.stream(product, { channelId, maxSpend: price * 100n, maxChunks: 3 })
    const seqs: number[] = []
    for await (const c of second) seqs.push(c.seq)
    expect(seqs).toEqual([covered, covered + 1, covered + 2])
    expect((await second.finished).cumulativeAmount).toBe(price * BigInt(covered + 3))
    await buyer.close()
  })

  it('streams two products at once on one channel: one cumulative amount, and the claim pays for both', async () => {
    const { deployment, seller } = market
    const buyer = await BuyerClient.create({
      wallet: new Wallet(market.buyerKeys[3]!, provider),
      ...market.config,
    })
    const [co, climate] = await Promise.all([
      buyer.product(seller.products[0]!.productId),
      buyer.product(seller.products[2]!.productId),
    ])
    const [priceCo, priceClimate] = [co, climate].map((p) => BigInt(p.descriptor!.pricePerChunk)) as [
      bigint,
      bigint,
    ]
    const deposit = 1000n * (priceCo + priceClimate)
    const { channelId } = await buyer.openChannel(seller.address, deposit)
    const streams = await Promise.all([
      buyer.stream(co, { channelId, maxSpend: deposit, maxChunks: 80 }),
      buyer.stream(climate, { channelId, maxSpend: deposit, maxChunks: 50 }),
    ])
    const seqs = await Promise.all(
      streams.map(async (stream) => {
        const taken: number[] = []
        for await (const chunk of stream) taken.push(chunk.seq)
        return taken
      }),
    )
    const [a, b] = await Promise.all(streams.map((s) => s.finished))
    expect([a?.reason, a?.chunks, b?.reason, b?.chunks]).toEqual(['done', 80, 'done', 50])
    const owed = 80n * priceCo + 50n * priceClimate
    expect(a!.paid + b!.paid).toBe(owed)
    // One label space for the channel: each stream's seqs rise, none is used twice, and they
    // interleave, so the two sessions really streamed at the same time.
    const [sa, sb] = seqs as [number[], number[]]
    for (const s of [sa, sb]) expect(s).toEqual([...s].sort((x, y) => x - y))
    expect(new Set([...sa, ...sb]).size).toBe(130)
    expect(sa[0]! < sb.at(-1)! && sb[0]! < sa.at(-1)!).toBe(true)
    // The receipt with the highest amount pays for both streams, and the seller claims exactly that.
    expect((await seller.store.latest(channelId))?.amount).toBe(owed)
    // A session-end claim only goes out when it is worth its gas (SPEC.md §Settlement): the last few
    // chunks may wait for the threshold or the age rule, so claim what is left now.
    await seller.settlement.idle()
    await seller.settlement.settle(channelId)
    const contract = channelsAt(deployment.channels, provider)
    expect((await contract.getChannel(channelId)).claimed).toBe(owed)
    await buyer.close()
  })

  it('limits concurrent sessions on one channel together by its deposit', async () => {
    const { seller } = market
    const buyer = await BuyerClient.create({
      wallet: new Wallet(market.buyerKeys[4]!, provider),
      ...market.config,
    })
    const product = await buyer.product(seller.products[1]!.productId)
    const price = BigInt(product.descriptor!.pricePerChunk)
    const { channelId } = await buyer.openChannel(seller.address, 30n * price)
    const streams = await Promise.all(
      [0, 1].map(() => buyer.stream(product, { channelId, maxSpend: 30n * price })),
    )
    const counts = await Promise.all(
      streams.map(async (stream) => {
        let n = 0
        for await (const _ of stream) n++
        return n
      }),
    )
    const summaries = await Promise.all(streams.map((s) => s.finished))
    expect(counts[0]! + counts[1]!).toBe(30)
    expect(summaries.map((s) => s.reason)).toEqual(['deposit_exhausted', 'deposit_exhausted'])
    expect(summaries[0]!.paid + summaries[1]!.paid).toBe(30n * price)
    expect((await seller.store.latest(channelId))?.amount).toBe(30n * price)
    await buyer.close()
  })

  it('replays the readings published while the buyer was away, so a resumed live stream has no gap', async () => {
    const { seller } = market
    const buyer = await BuyerClient.create({
      wallet: new Wallet(market.buyerKeys[2]!, provider),
      ...market.config,
    })
    const product = await buyer.product(seller.products[0]!.productId) // CO: one reading per CSV row
    const price = BigInt(product.descriptor!.pricePerChunk)
    const { channelId } = await buyer.openChannel(seller.address, price * 200n)
    const first = await buyer.stream(product, { channelId, maxSpend: price * 200n, maxChunks: 10 })
    const before: number[] = []
    for await (const c of first) before.push(decodeReading(c.data).row)
    expect((await first.finished).chunks).toBe(10)
    // Away for 400 ms: the replayer publishes ~80 rows meanwhile.
    await new Promise((r) => setTimeout(r, 400))
    const second = await buyer.stream(product, { channelId, maxSpend: price * 200n, maxChunks: 40 })
    const after: { seq: number; row: number }[] = []
    for await (const c of second) after.push({ seq: c.seq, row: decodeReading(c.data).row })
    // Every row from the one after the last paid reading on, none skipped, none twice; seqs go on.
    const last = before.at(-1)!
    expect(after).toEqual(Array.from({ length: 40 }, (_, i) => ({ seq: 10 + i, row: last + 1 + i })))
    expect((await second.finished).cumulativeAmount).toBe(50n * price)
    await buyer.close()
  })
})
