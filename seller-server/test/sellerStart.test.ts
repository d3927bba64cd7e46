// A seller's start while its RPC endpoint fails (issue 11): the start fails with CHAIN_UNAVAILABLE
// and releases what it took, and a product is registered on the chain exactly once however often
// the seller is started again.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { registryAt } from '@trickle/contracts'
import { airQualityProducts, type LocalMarketplace, startLocalMarketplace } from '@trickle/devnet'
import type { Hex } from '@trickle/protocol'
import { Wallet } from 'ethers'
import pino from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type SellerServer, startSellerServer } from '../src/index.ts'
import { type FlakyRpc, startFlakyRpc } from './helpers/flakyRpc.ts'

const PRICE = 1_000_000_000_000n
const silent = pino({ level: 'silent' })
/** anvil account of the seller under test: not the marketplace's own seller (account 1) */
const SELLER = 9

describe('seller start while the RPC fails', () => {
  let market: LocalMarketplace
  let rpc: FlakyRpc
  let getProductSelector: string

  beforeAll(async () => {
    market = await startLocalMarketplace({ rowsPerSecond: 0, logger: silent })
    rpc = await startFlakyRpc(market.rpcUrl)
    const registry = registryAt(market.deployment.registry, market.chain!.provider)
    getProductSelector = registry.interface.getFunction('getProduct')!.selector
    // The seller set its terms key before: a start sends registrations and updates only.
    const seller = new Wallet(market.chain!.privateKeys[SELLER]!, market.chain!.provider)
    await (await registry.connect(seller).setSellerKey(seller.address)).wait()
  })
  afterEach(() => {
    rpc.failing.clear()
    rpc.failWhen = undefined
  })
  afterAll(async () => {
    await rpc?.close()
    await market?.stop()
  })

  /** Products ever registered on the marketplace's DataRegistry, read from anvil directly. */
  const productCount = () => registryAt(market.deployment.registry, market.chain!.provider).productCount()

  /** Starts the seller under test on `dataDir`, its descriptors stating a replay rate when given. */
  const start = (
    dataDir: string,
    options: { port?: number; rowsPerSecond?: number } = {},
  ): Promise<SellerServer> =>
    startSellerServer({
      rpcUrl: rpc.url,
      chainId: market.chainId,
      registry: market.deployment.registry as Hex,
      channels: market.deployment.channels as Hex,
      sellerKey: market.chain!.privateKeys[SELLER]!,
      brokerUrl: market.brokerUrl,
      dataDir,
      products: airQualityProducts(
        PRICE,
        options.rowsPerSecond === undefined ? {} : { rowsPerSecond: options.rowsPerSecond },
      ),
      ...(options.port === undefined ? {} : { port: options.port }),
      logger: silent,
    })

  /** Starts, notes the product ids, and closes again. */
  async function productIds(
    dataDir: string,
    options: { port?: number; rowsPerSecond?: number } = {},
  ): Promise<bigint[]> {
    const seller = await start(dataDir, options)
    try {
      return seller.products.map((p) => p.productId)
    } finally {
      await seller.close()
    }
  }

  const freshDir = () => mkdtempSync(join(tmpdir(), 'trickle-start-'))

  it('fails with CHAIN_UNAVAILABLE while the registry cannot be read, and leaves its port free for the next start', async () => {
    const port = await freePort()
    const dataDir = freshDir()
    rpc.failing.add('eth_call')
    await expect(start(dataDir, { port })).rejects.toMatchObject({ code: 'CHAIN_UNAVAILABLE' })
    rpc.failing.clear()
    const seller = await start(dataDir, { port })
    try {
      expect(seller.url).toBe(`ws://127.0.0.1:${port}`)
      expect(seller.products).toHaveLength(3)
    } finally {
      await seller.close()
    }
  })

  it.each([
    // The first registration reaches the chain (anvil mines it at once); the seller never sees it mined.
    ['no receipt can be read once a registration was sent', 'eth_getTransactionReceipt', 1n],
    // The first registration is signed and recorded, and never reaches the chain.
    ['no registration can be sent', 'eth_sendRawTransaction', 0n],
  ])(
    'registers each product exactly once across restarts when, at the first start, %s',
    async (_, method, mined) => {
      const before = await productCount()
      const dataDir = freshDir()
      const from = rpc.calls.length
      const sent = () => rpc.calls.slice(from).includes('eth_sendRawTransaction')
      rpc.failWhen = (call) => call.method === method && (method !== 'eth_getTransactionReceipt' || sent())
      await expect(start(dataDir)).rejects.toMatchObject({ code: 'CHAIN_UNAVAILABLE' })
      expect(await productCount()).toBe(before + mined)
      rpc.failWhen = undefined

      const ids = await productIds(dataDir)
      expect(await productCount()).toBe(before + 3n)
      expect(new Set(ids).size).toBe(3)
      for (const id of ids) expect(id).toBeGreaterThan(before)
      // Later starts find them: no registration, the same ids.
      expect(await productIds(dataDir)).toEqual(ids)
      expect(await productCount()).toBe(before + 3n)
    },
  )

  it('does not register the products again when their look-up fails at a restart', async () => {
    const dataDir = freshDir()
    const ids = await productIds(dataDir)
    const count = await productCount()
    rpc.failWhen = (call) =>
      call.method === 'eth_call' &&
      String((call.params[0] as { data?: string; input?: string }).data ?? '').startsWith(getProductSelector)
    await expect(start(dataDir)).rejects.toMatchObject({ code: 'CHAIN_UNAVAILABLE' })
    expect(await productCount()).toBe(count)
    rpc.failWhen = undefined
    expect(await productIds(dataDir)).toEqual(ids)
    expect(await productCount()).toBe(count)
  })

  it('updates its products in place when their rate changes, as for any descriptor change, and not again while it stays', async () => {
    const dataDir = freshDir()
    // One port throughout: the descriptors' endpoint names it, and only the rate is to change.
    const port = await freePort()
    const ids = await productIds(dataDir, { port })
    const registry = registryAt(market.deployment.registry, market.chain!.provider)
    const registered = () => Promise.all(ids.map(async (id) => (await registry.getProduct(id)).descriptorCid))
    const seller = new Wallet(market.chain!.privateKeys[SELLER]!).address
    const sent = () => market.chain!.provider.getTransactionCount(seller)
    const withoutRate = await registered()
    const count = await productCount()

    // Five rows/s: one reading per sensor per row, so 5, 10 and 15 chunks/s for 1, 2 and 3 sensors.
    const restarted = await start(dataDir, { port, rowsPerSecond: 5 })
    try {
      expect(restarted.products.map((p) => p.productId)).toEqual(ids)
      expect(restarted.products.map((p) => p.descriptor.chunksPerSecond)).toEqual([5, 10, 15])
    } finally {
      await restarted.close()
    }
    const withRate = await registered()
    for (const [i, cid] of withRate.entries()) expect(cid).not.toBe(withoutRate[i])
    expect(await productCount()).toBe(count)

    // The same rate again: the registered descriptors stand, no transaction.
    const nonce = await sent()
    expect(await productIds(dataDir, { port, rowsPerSecond: 5 })).toEqual(ids)
    expect(await registered()).toEqual(withRate)
    expect(await sent()).toBe(nonce)
  })

  it('imports the products of an old products.json once, and leaves the file where it was', async () => {
    const oldDir = freshDir()
    const seller = await start(oldDir)
    const published = seller.products.map((p) => ({
      key: p.key,
      productId: p.productId,
      createdAt: p.descriptor.createdAt,
    }))
    await seller.close()
    const count = await productCount()

    // What an older seller left in its data dir: the ids in `<chain scope>/products.json`.
    const scope = readdirSync(oldDir).find((name) => name !== 'blocks')!
    const dataDir = freshDir()
    mkdirSync(join(dataDir, scope))
    const file = join(dataDir, scope, 'products.json')
    const legacy = {
      [market.deployment.registry.toLowerCase()]: Object.fromEntries(
        published.map((p) => [p.key, { productId: p.productId.toString(), createdAt: p.createdAt }]),
      ),
    }
    writeFileSync(file, JSON.stringify(legacy))

    expect(await productIds(dataDir)).toEqual(published.map((p) => p.productId))
    expect(await productCount()).toBe(count)
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(legacy)

    // Imported once: what the file says later is not read again.
    const bogus = Object.fromEntries(published.map((p) => [p.key, { productId: '999999' }]))
    writeFileSync(file, JSON.stringify({ [market.deployment.registry.toLowerCase()]: bogus }))
    expect(await productIds(dataDir)).toEqual(published.map((p) => p.productId))
    expect(await productCount()).toBe(count)
    expect(existsSync(file)).toBe(true)
  })
})

/** A TCP port nothing listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}
