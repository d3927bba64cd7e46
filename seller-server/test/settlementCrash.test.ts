import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { channelsAt } from '@trickle/contracts'
import { increaseTime, type LocalMarketplace, startLocalMarketplace } from '@trickle/devnet'
import type { Hex } from '@trickle/protocol'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { buyerFor } from './helpers/buyer.ts'
import { freePort, ledgerIn, type SellerProcess, spawnMarketSeller } from './helpers/spawnSeller.ts'

const PRICE = 1_000_000_000_000n // wei per chunk
const CHALLENGE_PERIOD = 3600
const SELLER_KEY_INDEX = 8 // anvil account 8: a seller of its own, apart from the marketplace's

describe('settlement across a SIGKILL of the seller process', () => {
  let market: LocalMarketplace
  const children: SellerProcess[] = []

  beforeAll(async () => {
    market = await startLocalMarketplace({
      rowsPerSecond: 400,
      pricePerChunk: PRICE,
      challengePeriodSeconds: BigInt(CHALLENGE_PERIOD),
      logger: pino({ level: 'silent' }),
    })
  })
  afterAll(async () => {
    for (const child of children) await child.kill()
    await market?.stop()
  })

  async function startSeller(dataDir: string, port: number): Promise<SellerProcess> {
    const child = await spawnMarketSeller(market, { keyIndex: SELLER_KEY_INDEX, dataDir, port, price: PRICE })
    children.push(child)
    return child
  }

  /** Opens a channel to `seller` and streams `chunks` paid chunks; returns the final receipt's amount. */
  async function buy(seller: SellerProcess, chunks: number) {
    const { buyer, provider, wallet } = await buyerFor(market, { gateway: seller.httpUrl, keyIndex: 3 })
    const product = await buyer.product(seller.products[1]!)
    const deposit = PRICE * 1000n
    const { channelId } = await buyer.openChannel(seller.address as Hex, deposit)
    const stream = await buyer.stream(product, { channelId, maxSpend: deposit, maxChunks: chunks })
    for await (const _ of stream);
    const summary = await stream.finished
    await buyer.close()
    return { channelId, deposit, summary, provider, channels: channelsAt(market.deployment.channels, wallet) }
  }

  it('claims the receipts stored before the kill once the payer asks to close while the seller is down', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'trickle-crash-'))
    const port = await freePort()
    const seller = await startSeller(dataDir, port)
    const { channelId, deposit, summary, provider, channels } = await buy(seller, 40)
    expect(summary).toMatchObject({ chunks: 40, cumulativeAmount: 40n * PRICE })
    const ledger = ledgerIn(dataDir)
    await vi.waitFor(async () => expect((await ledger.latest(channelId))?.amount).toBe(40n * PRICE))
    expect(await ledger.claims(channelId)).toEqual([]) // stored, not claimed: kill it now
    await seller.kill()

    const close = await (await channels.requestClose(channelId)).wait()
    const deadline = channels.interface.parseLog(close!.logs[0]!)!.args.getValue('closeDeadline') as bigint

    await startSeller(dataDir, port)
    await vi.waitFor(
      async () =>
        expect((await ledger.claims(channelId)).map((c) => [c.status, c.paid])).toEqual([
          ['mined', 40n * PRICE],
        ]),
      { timeout: 15_000 },
    )
    expect((await channels.getChannel(channelId)).claimed).toBe(40n * PRICE)
    const claims = await ledger.claims(channelId)
    const block = await provider.getBlock(claims[0]!.blockNumber!)
    expect(BigInt(block!.timestamp)).toBeLessThan(deadline)

    await increaseTime(provider, CHALLENGE_PERIOD + 1)
    const finalized = await (await channels.finalize(channelId)).wait()
    const closed = channels.interface.parseLog(finalized!.logs[0]!)!
    expect(closed.args.getValue('refundedToPayer')).toBe(deposit - 40n * PRICE)
    await ledger.close()
    provider.destroy()
  })

  it('follows a claim that was in the mempool at the kill instead of sending a second one', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'trickle-crash-'))
    const port = await freePort()
    const seller = await startSeller(dataDir, port)
    const { channelId, provider, channels } = await buy(seller, 16)
    const ledger = ledgerIn(dataDir)
    await vi.waitFor(async () => expect((await ledger.latest(channelId))?.amount).toBe(16n * PRICE))

    // Blocks are mined by hand from here: the claim the close triggers waits in the mempool.
    await provider.send('evm_setAutomine', [false])
    try {
      const requested = await channels.requestClose(channelId)
      await provider.send('evm_mine', [])
      expect((await requested.wait())?.status).toBe(1)
      await vi.waitFor(async () => expect(await ledger.pendingClaims(channelId)).toHaveLength(1), {
        timeout: 15_000,
      })
      const [pending] = await ledger.pendingClaims(channelId)
      const sellerTxs = async () => {
        const pool = (await provider.send('txpool_content', [])) as {
          pending: Record<string, Record<string, { hash: string }>>
        }
        const mine = Object.entries(pool.pending).find(
          ([from]) => from.toLowerCase() === seller.address.toLowerCase(),
        )
        return Object.values(mine?.[1] ?? {}).map((tx) => tx.hash)
      }
      await vi.waitFor(async () => expect(await sellerTxs()).toEqual([pending!.txHash]))
      await seller.kill()

      // The restarted seller finds the pending claim in its ledger and waits for that transaction.
      await startSeller(dataDir, port)
      await new Promise((resolve) => setTimeout(resolve, 1_500)) // several polls and a sweep
      expect(await sellerTxs()).toEqual([pending!.txHash])
      await provider.send('evm_mine', [])
      await vi.waitFor(
        async () =>
          expect((await ledger.claims(channelId)).map((c) => [c.txHash, c.status, c.paid])).toEqual([
            [pending!.txHash, 'mined', 16n * PRICE],
          ]),
        { timeout: 15_000 },
      )
    } finally {
      await provider.send('evm_setAutomine', [true])
    }
    const logs = await provider.getLogs({
      address: market.deployment.channels,
      topics: [channels.interface.getEvent('Claimed')!.topicHash, channelId as Hex],
      fromBlock: 0,
    })
    expect(logs).toHaveLength(1)
    expect((await channels.getChannel(channelId)).claimed).toBe(16n * PRICE)
    await ledger.close()
    provider.destroy()
  })
})
