import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startLocalMarketplace } from '@trickle/devnet'
import type { Hex } from '@trickle/protocol'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { buyerFor, restartSeller } from './helpers/buyer.ts'

const PRICE = 1_000_000_000_000n
const silent = pino({ level: 'silent' })

describe('seller restarts', () => {
  it('resumes a channel where the last stored receipt left off, after the seller restarts on its data dir', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'trickle-restart-'))
    const market = await startLocalMarketplace({
      rowsPerSecond: 200,
      dataDir,
      pricePerChunk: PRICE,
      logger: silent,
    })
    try {
      const first = await buyerFor(market)
      const product = await first.buyer.product(market.seller.products[1]!.productId)
      const { channelId } = await first.buyer.openChannel(market.seller.address, PRICE * 1000n)
      const s1 = await first.buyer.stream(product, { channelId, maxSpend: PRICE * 1000n, maxChunks: 20 })
      for await (const _ of s1);
      expect((await s1.finished).chunks).toBe(20)
      await first.buyer.close()
      first.provider.destroy()
      await market.seller.close()

      // A new seller process on the same data dir, and a new buyer client that only keeps its key.
      const seller = await restartSeller(market, dataDir, { pricePerChunk: PRICE, logger: silent })
      try {
        expect(seller.products.map((p) => p.productId)).toEqual(
          market.seller.products.map((p) => p.productId),
        )
        const second = await buyerFor(market, { gateway: seller.httpUrl, sessionKey: first.buyer.sessionKey })
        const again = await second.buyer.product(product.productId)
        const s2 = await second.buyer.stream(again, { channelId, maxSpend: PRICE * 1000n, maxChunks: 20 })
        const seqs: number[] = []
        for await (const c of s2) seqs.push(c.seq)
        const summary = await s2.finished
        expect(seqs).toEqual(Array.from({ length: 20 }, (_, i) => 20 + i))
        expect(summary).toMatchObject({ chunks: 20, paid: 20n * PRICE, cumulativeAmount: 40n * PRICE })
        expect(await seller.store.latest(channelId)).toMatchObject({ seq: 40, amount: 40n * PRICE })
        await second.buyer.close()
        second.provider.destroy()
      } finally {
        await seller.close()
      }
    } finally {
      await market.stop()
    }
  })

  it('starts clean on a fresh chain with the chain id, genesis hash and contract addresses of an old data dir, keeping the old receipts aside', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'trickle-fresh-'))
    // The same genesis timestamp gives both anvils the same genesis hash: the seller cannot tell the
    // chains apart by chain id, genesis or contract address, and the buyer's channel gets the same id.
    const genesisTimestamp = Math.floor(Date.now() / 1000) - 60
    const runs: { genesis: string; channelId: Hex; sessionSigner: string }[] = []
    for (let run = 0; run < 2; run++) {
      const market = await startLocalMarketplace({
        rowsPerSecond: 200,
        dataDir,
        genesisTimestamp,
        pricePerChunk: PRICE,
        logger: silent,
      })
      try {
        const { buyer, provider } = await buyerFor(market)
        const product = await buyer.product(market.seller.products[0]!.productId)
        const { channelId } = await buyer.openChannel(market.seller.address, PRICE * 100n)
        const stream = await buyer.stream(product, { channelId, maxSpend: PRICE * 100n, maxChunks: 10 })
        for await (const _ of stream);
        expect(await stream.finished).toMatchObject({ chunks: 10, paid: 10n * PRICE, reason: 'done' })
        const latest = await market.seller.store.latest(channelId)
        expect({ seq: latest?.seq, signer: latest?.signer.toLowerCase() }).toEqual({
          seq: 10,
          signer: buyer.signerAddress.toLowerCase(),
        })
        runs.push({
          genesis: (await provider.getBlock(0))!.hash!,
          channelId,
          sessionSigner: buyer.signerAddress.toLowerCase(),
        })
        if (run === 1) {
          const retired = await market.seller.store.retiredReceipts(channelId)
          expect(retired.at(-1)).toMatchObject({ seq: 10, amount: 10n * PRICE })
          expect(new Set(retired.map((r) => r.signer.toLowerCase()))).toEqual(
            new Set([runs[0]!.sessionSigner]),
          )
        }
        await buyer.close()
        provider.destroy()
      } finally {
        await market.stop()
      }
    }
    expect(runs[1]!.genesis).toBe(runs[0]!.genesis)
    expect(runs[1]!.channelId).toBe(runs[0]!.channelId)
    expect(runs[1]!.sessionSigner).not.toBe(runs[0]!.sessionSigner)
  })
})
