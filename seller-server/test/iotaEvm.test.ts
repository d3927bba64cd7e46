import { chainPreset } from '@trickle/contracts'
import { type LocalMarketplace, startLocalMarketplace } from '@trickle/devnet'
import { Wallet } from 'ethers'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buyerFor } from './helpers/buyer.ts'

const PRICE = 1_000_000_000_000n // wei per chunk
const IOTA = chainPreset('iota-evm')

describe('the IOTA EVM preset on anvil started with chain id 8822', () => {
  let market: LocalMarketplace

  beforeAll(async () => {
    market = await startLocalMarketplace({
      chainId: IOTA.chainId,
      fees: IOTA.fees, // legacy: deployer and seller price every transaction at eth_gasPrice
      rowsPerSecond: 400,
      pricePerChunk: PRICE,
      logger: pino({ level: 'silent' }),
    })
  })
  afterAll(async () => {
    await market?.stop()
  })

  it('streams and settles with the unchanged contracts, every deployer and seller transaction a legacy one', async () => {
    expect(market.chainId).toBe(8822)
    const { buyer, provider } = await buyerFor(market)
    expect(Number((await provider.getNetwork()).chainId)).toBe(8822)
    const product = await buyer.product(market.seller.products[1]!.productId)
    const { channelId } = await buyer.openChannel(market.seller.address, PRICE * 100n)
    const stream = await buyer.stream(product, { channelId, maxSpend: PRICE * 100n, maxChunks: 24 })
    for await (const _ of stream);
    expect(await stream.finished).toMatchObject({ chunks: 24, paid: 24n * PRICE })
    // 24 chunks are worth less than a claim's gas, so the session's end does not claim them
    // (SPEC.md §Settlement): claim them now, as the threshold or the age rule would later.
    await market.seller.settlement.idle()
    const claim = (await market.seller.settlement.settle(channelId))!
    expect(claim.paid).toBe(24n * PRICE)
    const tx = await provider.getTransaction(claim.txHash)
    expect(tx?.type).toBe(0)
    expect(tx?.chainId).toBe(8822n)
    const mined = await provider.getTransactionReceipt(claim.txHash)
    const block = await provider.getBlock(mined!.blockNumber)
    // A legacy transaction priced at the chain's gas price (anvil's base fee with no tip at the time).
    expect(tx?.gasPrice).toBeGreaterThanOrEqual(block!.baseFeePerGas!)
    // Every transaction of the deployer and the seller (deploy, seller key, products, claim) is legacy.
    const senders = new Set([
      market.seller.address.toLowerCase(),
      new Wallet(market.chain!.privateKeys[0]!).address.toLowerCase(),
    ])
    const types: number[] = []
    for (let n = 0; n <= (await provider.getBlockNumber()); n++) {
      const b = await provider.getBlock(n, true)
      for (const t of b!.prefetchedTransactions) if (senders.has(t.from.toLowerCase())) types.push(t.type)
    }
    expect(types.length).toBeGreaterThanOrEqual(6) // 2 deployments, seller key, 3 products, claim
    expect(new Set(types)).toEqual(new Set([0]))
    await buyer.close()
    provider.destroy()
  })
})
