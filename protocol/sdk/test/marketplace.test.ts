import { type LocalMarketplace, startLocalMarketplace } from '@trickle/devnet'
import { BuyerClient } from '@trickle/sdk'
import { JsonRpcProvider, Wallet } from 'ethers'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

describe('BuyerClient against the local marketplace (anvil, helia, aedes, the real seller)', () => {
  let market: LocalMarketplace
  const providers: JsonRpcProvider[] = []
  const clients: BuyerClient[] = []

  /** A plain provider, as a user would make one: default polling and caching. */
  const plainProvider = () => {
    const provider = new JsonRpcProvider(market.rpcUrl)
    providers.push(provider)
    return provider
  }

  beforeAll(async () => {
    market = await startLocalMarketplace({ rowsPerSecond: 200, challengePeriodSeconds: 600n })
  })
  afterAll(async () => {
    for (const c of clients) await c.close()
    for (const p of providers) p.destroy()
    await market?.stop()
  })

  it('streams right after openChannel with a plain JsonRpcProvider (default polling)', async () => {
    const buyer = await BuyerClient.create({
      wallet: new Wallet(market.buyerKeys[0]!, plainProvider()),
      ...market.config,
    })
    clients.push(buyer)
    const product = (await buyer.products())[0]!
    const price = BigInt(product.descriptor!.pricePerChunk)
    for (let run = 0; run < 3; run++) {
      const { channelId } = await buyer.openChannel(market.seller.address, 100n * price)
      const stream = await buyer.stream(product, { channelId, maxSpend: 100n * price, maxChunks: 5 })
      const seqs: number[] = []
      for await (const chunk of stream) seqs.push(chunk.seq)
      expect(seqs).toEqual([0, 1, 2, 3, 4])
      expect(await stream.finished).toMatchObject({ chunks: 5, paid: 5n * price, reason: 'done' })
    }
  })
})
