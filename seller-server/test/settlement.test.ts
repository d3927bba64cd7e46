import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { channelsAt } from '@trickle/contracts'
import {
  airQualityProducts,
  increaseTime,
  type LocalMarketplace,
  startLocalMarketplace,
} from '@trickle/devnet'
import type { Hex } from '@trickle/protocol'
import { type SigningKey, ZeroAddress } from 'ethers'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { type ClaimRecord, type ClaimTrigger, type SellerServer, startSellerServer } from '../src/index.ts'
import { buyerFor } from './helpers/buyer.ts'
import { startFlakyRpc } from './helpers/flakyRpc.ts'

const PRICE = 1_000_000_000_000n // wei per chunk
const THRESHOLD = 20n * PRICE
const CHALLENGE_PERIOD = 3600n
const silent = pino({ level: process.env.TRICKLE_TEST_LOG ?? 'silent' })

/**
 * Streams `chunks` chunks of the NOx product, on a new channel or resuming `resume` (the channel and
 * the session key that signed its receipts).
 */
async function buy(
  market: LocalMarketplace,
  seller: SellerServer,
  chunks: number,
  resume?: { channelId: Hex; sessionKey: SigningKey },
) {
  const { buyer, provider, wallet } = await buyerFor(market, {
    gateway: seller.httpUrl,
    ...(resume ? { sessionKey: resume.sessionKey } : {}),
  })
  const product = await buyer.product(seller.products[1]!.productId)
  const deposit = PRICE * 1000n
  const id = resume?.channelId ?? (await buyer.openChannel(seller.address, deposit)).channelId
  const ended = new Promise((resolve) => seller.events.once('session', resolve))
  const stream = await buyer.stream(product, { channelId: id, maxSpend: deposit, maxChunks: chunks })
  for await (const _ of stream);
  const summary = await stream.finished
  await ended // the seller stored the last receipt
  await buyer.close()
  return { channelId: id, sessionKey: buyer.sessionKey, summary, deposit, wallet, provider }
}

describe('settlement worker (anvil, real seller)', () => {
  let market: LocalMarketplace
  const sent: (ClaimRecord & { trigger: ClaimTrigger })[] = []
  const claimed: ClaimRecord[] = []

  beforeAll(async () => {
    market = await startLocalMarketplace({
      rowsPerSecond: 400,
      pricePerChunk: PRICE,
      challengePeriodSeconds: CHALLENGE_PERIOD,
      logger: silent,
      settlement: { claimThreshold: THRESHOLD, claimOnSessionEnd: false, pollIntervalMs: 100 },
    })
    market.seller.settlement.events.on('claimSent', (c) => sent.push(c))
    market.seller.settlement.events.on('claimed', (c) => claimed.push(c))
  })
  afterAll(async () => {
    await market?.stop()
  })

  const of = <T extends { channelId: Hex }>(list: T[], channelId: Hex) =>
    list.filter((c) => c.channelId.toLowerCase() === channelId.toLowerCase())

  it('claims whenever unclaimed receipts pass the threshold, and answers requestClose with a claim before the deadline', async () => {
    const first = await buy(market, market.seller, 60)
    const { channelId, deposit, wallet, provider } = first
    expect(first.summary).toMatchObject({ chunks: 60, paid: 60n * PRICE })
    const channels = channelsAt(market.deployment.channels, wallet)
    await market.seller.settlement.idle()

    // Threshold claims only: each paid at least the threshold; the rest (< threshold) waits.
    const thresholdClaims = of(claimed, channelId)
    expect(thresholdClaims).toHaveLength(of(sent, channelId).length)
    expect(thresholdClaims.length).toBeGreaterThanOrEqual(1)
    expect(of(sent, channelId).every((c) => c.trigger === 'threshold')).toBe(true)
    for (const c of thresholdClaims) expect(c.paid).toBeGreaterThanOrEqual(THRESHOLD)
    const afterFirst = await channels.getChannel(channelId)
    expect(afterFirst.claimed).toBe(thresholdClaims.reduce((sum, c) => sum + c.paid, 0n))
    expect(60n * PRICE - afterFirst.claimed).toBeLessThan(THRESHOLD)

    // 12 more chunks on the same channel stay under the threshold: no claim.
    const more = await buy(market, market.seller, 12, first)
    expect(more.summary).toMatchObject({ chunks: 12, cumulativeAmount: 72n * PRICE })
    more.provider.destroy()
    await market.seller.settlement.idle()
    const before = await channels.getChannel(channelId)
    expect(of(claimed, channelId)).toHaveLength(thresholdClaims.length)
    expect(before.claimed).toBe(afterFirst.claimed)

    // The payer asks to close: the worker sees CloseRequested and claims the rest inside the period.
    const closeReceipt = await (await channels.requestClose(channelId)).wait()
    const closeDeadline = channels.interface
      .parseLog(closeReceipt!.logs[0]!)!
      .args.getValue('closeDeadline') as bigint
    await vi.waitFor(() => expect(of(claimed, channelId).at(-1)?.cumulativeAmount).toBe(72n * PRICE), {
      timeout: 10_000,
    })
    const final = of(claimed, channelId).at(-1)!
    expect(of(sent, channelId).at(-1)?.trigger).toBe('close_requested')
    expect(final.paid).toBe(72n * PRICE - before.claimed)
    const block = await provider.getBlock(final.blockNumber!)
    expect(BigInt(block!.timestamp)).toBeLessThan(closeDeadline)
    expect((await channels.getChannel(channelId)).claimed).toBe(72n * PRICE)

    // After the challenge period the payer gets back exactly deposit − paid.
    await increaseTime(provider, Number(CHALLENGE_PERIOD) + 1)
    const balanceBefore = await provider.getBalance(wallet.address)
    const finalized = await (await channels.finalize(channelId)).wait()
    const closed = channels.interface.parseLog(finalized!.logs[0]!)!
    expect(closed.args.getValue('refundedToPayer')).toBe(deposit - 72n * PRICE)
    const gas = finalized!.gasUsed * finalized!.gasPrice
    expect(await provider.getBalance(wallet.address)).toBe(balanceBefore + deposit - 72n * PRICE - gas)
    expect(await market.seller.store.claims(channelId)).toHaveLength(of(claimed, channelId).length)
    provider.destroy()
  })

  it('claims at once when the payer replaces the signer whose receipts it holds', async () => {
    const { channelId, wallet, provider } = await buy(market, market.seller, 12)
    expect(of(sent, channelId)).toHaveLength(0) // under the threshold
    const channels = channelsAt(market.deployment.channels, wallet)
    // The session key signed every receipt; after setSigner it stays valid for one challenge period only.
    await (await channels.setSigner(channelId, ZeroAddress)).wait()
    await vi.waitFor(() => expect(of(claimed, channelId)).toHaveLength(1), { timeout: 10_000 })
    expect(of(sent, channelId)[0]?.trigger).toBe('signer_changed')
    expect(of(claimed, channelId)[0]).toMatchObject({ cumulativeAmount: 12n * PRICE, paid: 12n * PRICE })
    provider.destroy()
  })

  it('ends a live session when its payer requests close, and claims every receipt it stored', async () => {
    const { buyer, provider, wallet } = await buyerFor(market)
    const product = await buyer.product(market.seller.products[1]!.productId)
    const deposit = PRICE * 10_000n
    const { channelId } = await buyer.openChannel(market.seller.address, deposit)
    const channels = channelsAt(market.deployment.channels, wallet)
    const stream = await buyer.stream(product, { channelId, maxSpend: deposit, maxChunks: 100_000 })
    let received = 0
    let ending: Error | undefined
    try {
      for await (const _ of stream) {
        if (++received === 30) await (await channels.requestClose(channelId)).wait()
      }
    } catch (err) {
      ending = err as Error
    }
    const summary = await stream.finished
    // The seller stops extending credit on a closing channel: the session ends soon after the request.
    expect(ending).toMatchObject({ code: 'CHANNEL_NOT_OPEN' })
    expect(summary).toMatchObject({ reason: 'channel_unusable', error: { code: 'CHANNEL_NOT_OPEN' } })
    expect(received).toBeGreaterThanOrEqual(30)
    expect(summary.chunks).toBe(received)
    // Everything the seller stored is claimed inside the challenge period. Receipts the buyer signed
    // after the seller's close frame are not read (SPEC: a closed session ignores frames), so the
    // seller's loss is bounded by the credit window, and the buyer never pays for undelivered chunks.
    const stored = (await market.seller.store.latest(channelId))!.amount
    await vi.waitFor(async () => expect((await channels.getChannel(channelId)).claimed).toBe(stored), {
      timeout: 10_000,
    })
    expect(stored).toBeLessThanOrEqual(BigInt(received) * PRICE)
    expect(BigInt(received) * PRICE - stored).toBeLessThanOrEqual(256n * PRICE)
    expect(of(sent, channelId).map((c) => c.trigger)).toContain('close_requested')
    await buyer.close()
    provider.destroy()
  })

  it('retries a claim with backoff while the RPC fails, and never sends it twice', async () => {
    const rpc = await startFlakyRpc(market.rpcUrl)
    const seller = await startSellerServer({
      rpcUrl: rpc.url,
      chainId: market.chainId,
      registry: market.deployment.registry as Hex,
      channels: market.deployment.channels as Hex,
      sellerKey: market.chain!.privateKeys[9]!, // a second seller, so nonces are its own
      brokerUrl: market.brokerUrl,
      dataDir: mkdtempSync(join(tmpdir(), 'trickle-flaky-')),
      products: airQualityProducts(PRICE),
      logger: silent,
      settlement: {
        claimThreshold: 10n ** 30n,
        claimOnSessionEnd: false,
        pollIntervalMs: 100,
        retry: { minTimeoutMs: 50, maxTimeoutMs: 200 },
      },
    })
    const failures: { willRetry: boolean; code: string }[] = []
    seller.settlement.events.on('claimFailed', ({ error, willRetry }) =>
      failures.push({ willRetry, code: error.code }),
    )
    const broadcasts = () => rpc.calls.filter((m) => m === 'eth_sendRawTransaction').length
    const registrationBroadcasts = broadcasts() // the seller's key and products
    try {
      const first = await buy(market, seller, 16)
      const { channelId } = first

      // The RPC is down when the claim is due: attempts fail and back off until it is back.
      rpc.failing.add('*')
      const settled = seller.settlement.settle(channelId)
      await vi.waitFor(() => expect(failures.length).toBeGreaterThanOrEqual(3), { timeout: 10_000 })
      expect(failures.every((f) => f.willRetry && f.code === 'CHAIN_UNAVAILABLE')).toBe(true)
      rpc.failing.clear()
      expect(await settled).toMatchObject({ status: 'mined', paid: 16n * PRICE })

      // Receipts of the claim's transaction fail after it was broadcast: the worker keeps following
      // that transaction and does not sign another claim.
      ;(await buy(market, seller, 16, first)).provider.destroy()
      rpc.failing.add('eth_getTransactionReceipt')
      const failuresBefore = failures.length
      const second = seller.settlement.settle(channelId)
      const channels = channelsAt(market.deployment.channels, first.provider)
      await vi.waitFor(async () => expect((await channels.getChannel(channelId)).claimed).toBe(32n * PRICE), {
        timeout: 10_000,
      })
      await vi.waitFor(() => expect(failures.length).toBeGreaterThan(failuresBefore + 1), { timeout: 10_000 })
      rpc.failing.clear()
      expect(await second).toMatchObject({
        status: 'mined',
        paid: 16n * PRICE,
        cumulativeAmount: 32n * PRICE,
      })

      expect(broadcasts() - registrationBroadcasts).toBe(2) // one per claim, none repeated
      const ledger = await seller.store.claims(channelId)
      expect(ledger.map((c) => [c.status, c.paid])).toEqual([
        ['mined', 16n * PRICE],
        ['mined', 16n * PRICE],
      ])
      const claimLogs = await first.provider.getLogs({
        address: market.deployment.channels,
        topics: [channels.interface.getEvent('Claimed')!.topicHash, channelId],
        fromBlock: 0,
      })
      expect(claimLogs).toHaveLength(2)
      first.provider.destroy()
    } finally {
      await seller.close()
      await rpc.close()
    }
  })
})
