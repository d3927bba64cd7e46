import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { type LocalMarketplace, localConfig, startLocalMarketplace } from '@trickle/devnet'
import { JsonRpcProvider, parseEther, Wallet } from 'ethers'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BuyerClient, type Hex, memoryKeyStore } from '../src/index.ts'

const EXAMPLE = resolve(import.meta.dirname, '../examples/subscribe.ts')

/** Runs the example as a developer would, with a config file like the one `npm start` writes. */
function runExample(configPath: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [EXAMPLE],
      { timeout: 60_000, env: { ...process.env, TRICKLE_CONFIG: configPath } },
      (err, stdout, stderr) => done({ code: err ? Number(err.code ?? -1) : 0, stdout, stderr }),
    )
  })
}

describe('examples/subscribe.ts, the shortest buy (createTrickle + subscribe)', () => {
  let market: LocalMarketplace
  let dir: string
  beforeAll(async () => {
    market = await startLocalMarketplace()
    dir = await mkdtemp(join(tmpdir(), 'trickle-example-'))
  })
  afterAll(async () => {
    await market?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('prints the readings its budget buys, opens one channel funded with the budget, and is paid exactly', async () => {
    const buyerKey = market.buyerKeys[1]!
    const configPath = join(dir, 'local.json')
    await writeFile(configPath, JSON.stringify(localConfig(market, buyerKey)))
    const run = await runExample(configPath)
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)

    const product = market.seller.products.find((p) => p.productId === 2n)!
    const price = BigInt(product.descriptor.pricePerChunk)
    const budget = parseEther('0.00002')
    const readings = run.stdout.trim().split('\n')
    expect(readings).toHaveLength(Number(budget / price))
    for (const line of readings) expect(JSON.parse(line)).toHaveProperty('value')

    const provider = new JsonRpcProvider(market.rpcUrl, market.chainId, {
      staticNetwork: true,
      cacheTimeout: -1,
    })
    const client = await BuyerClient.create({ ...market.config, signer: new Wallet(buyerKey, provider) })
    const channels = await client.channels()
    expect(channels).toHaveLength(1)
    expect(channels[0]!.deposit).toBe(budget)
    expect(channels[0]!.payee.toLowerCase()).toBe(product.descriptor.seller.toLowerCase())
    const stored = await market.seller.store.latest(channels[0]!.channelId)
    expect(stored?.amount).toBe(budget)
    await client.close()
  })
  it('reuses a funded channel it holds the key of, and stops at the budget with the loop ending normally', async () => {
    const provider = new JsonRpcProvider(market.rpcUrl, market.chainId, {
      staticNetwork: true,
      cacheTimeout: -1,
    })
    const client = await BuyerClient.create({
      ...market.config,
      signer: new Wallet(market.buyerKeys[2]!, provider),
      keyStore: memoryKeyStore(),
    })
    const product = await client.product(1n)
    const price = BigInt(product.descriptor!.pricePerChunk)
    const { channelId } = await client.openChannel(product.descriptor!.seller as Hex, 100n * price)
    const seqs: number[] = []
    for await (const chunk of client.subscribe(1n, { budget: 10n * price })) seqs.push(chunk.seq)
    expect(seqs).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    const channels = await client.channels()
    expect(channels.map((c) => c.channelId)).toEqual([channelId])
    expect(channels[0]!.deposit).toBe(100n * price)
    expect((await market.seller.store.latest(channelId))?.amount).toBe(10n * price)
    await client.close()
  })
})
