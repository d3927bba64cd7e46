import { mkdtemp, readdir, readFile, stat } from 'node:fs/promises'
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type LocalMarketplace, startLocalMarketplace } from '@trickle/devnet'
import type { Address, Hex } from '@trickle/protocol'
import { BuyerClient, type BuyerEvents, type CatalogProduct, type Eip1193Provider } from '@trickle/sdk'
import { fileKeyStore } from '@trickle/sdk/node'
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

  /** A browser-wallet-like EIP-1193 provider: anvil's unlocked accounts sign (eth_sendTransaction). */
  const anvilWallet = (): Eip1193Provider => ({
    async request({ method, params }) {
      const res = await fetch(market.rpcUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: params ?? [] }),
      })
      const body = (await res.json()) as { result?: unknown; error?: { message: string } }
      if (body.error) throw new Error(body.error.message)
      return body.result
    },
  })

  const clientOf = async (options: Partial<Parameters<typeof BuyerClient.create>[0]>) => {
    const client = await BuyerClient.create({ ...market.config, ...options })
    clients.push(client)
    return client
  }

  /** The product `nox` of the local marketplace and its price, wei per chunk. */
  const nox = async (client: BuyerClient) => {
    const product = (await client.products()).find((p) =>
      p.descriptor?.topics.some((t) => t.endsWith('/nox')),
    )!
    return { product, price: BigInt(product.descriptor!.pricePerChunk) }
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

  it('opens with an EIP-1193 wallet, keeps the channel key in a 0600 file, and a restarted client resumes the channel with no new deposit', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trickle-keys-'))
    const first = await clientOf({ signer: anvilWallet(), keyStore: fileKeyStore(dir) })
    const { product, price } = await nox(first)
    const opened = await first.openChannel(market.seller.address, 100n * price)
    const stream = await first.stream(product, {
      channelId: opened.channelId,
      maxSpend: 100n * price,
      maxChunks: 5,
    })
    const seqs: number[] = []
    for await (const chunk of stream) seqs.push(chunk.seq)
    expect(seqs).toEqual([0, 1, 2, 3, 4])
    await first.close()

    // The key is on disk, owner-only, and it is the channel's on-chain signer (not the payer).
    const [file] = await readdir(dir)
    expect(((await stat(join(dir, file!))).mode & 0o777).toString(8)).toBe('600')
    const saved = JSON.parse(await readFile(join(dir, file!), 'utf8')) as {
      address: Address
      privateKey: Hex
    }
    const onChain = await first.channel(opened.channelId)
    expect(onChain.signer.toLowerCase()).toBe(saved.address.toLowerCase())
    expect(onChain.signer.toLowerCase()).not.toBe(first.payerAddress.toLowerCase())

    // A new client (as after a restart) with the same directory resumes where the first stopped.
    const second = await clientOf({ signer: anvilWallet(), keyStore: fileKeyStore(dir) })
    const channelsBefore = (await second.channels()).length
    const resumed = await second.stream(product, {
      channelId: opened.channelId,
      maxSpend: 100n * price,
      maxChunks: 5,
    })
    const more: number[] = []
    for await (const chunk of resumed) more.push(chunk.seq)
    expect(more).toEqual([5, 6, 7, 8, 9])
    expect(await resumed.finished).toMatchObject({
      chunks: 5,
      paid: 5n * price,
      cumulativeAmount: 10n * price,
    })
    expect((await second.channel(opened.channelId)).deposit).toBe(100n * price)
    expect((await second.channels()).length).toBe(channelsBefore)
    expect(await market.seller.store.latest(opened.channelId)).toMatchObject({ seq: 10, amount: 10n * price })
  })

  it('reconnects after the connection drops mid-stream: hands every label over once and in order, and the seller stores the amount the buyer signed', async () => {
    const buyer = await clientOf({ wallet: new Wallet(market.buyerKeys[1]!, plainProvider()) })
    const { product, price } = await nox(buyer)
    // A TCP relay in front of the real seller that the test can cut, like a dropped network.
    const upstream = new URL(product.descriptor!.endpoint)
    const sockets: Socket[] = []
    const relay: Server = createServer((client) => {
      const server = tcpConnect(Number(upstream.port), upstream.hostname)
      sockets.push(client, server)
      client.pipe(server).on('error', () => undefined)
      server.pipe(client).on('error', () => undefined)
      client.on('error', () => server.destroy())
      server.on('error', () => client.destroy())
    })
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve))
    const port = (relay.address() as { port: number }).port
    const relayed: CatalogProduct = {
      ...product,
      descriptor: { ...product.descriptor!, endpoint: `ws://127.0.0.1:${port}/` },
    }
    const reconnects: BuyerEvents['reconnecting'][] = []
    buyer.on('reconnecting', (e) => reconnects.push(e))
    try {
      const { channelId } = await buyer.openChannel(market.seller.address, 1_000n * price)
      const stream = await buyer.stream(relayed, {
        channelId,
        maxSpend: 1_000n * price,
        maxChunks: 40,
        // Chunks in flight when the connection dropped are the channel's debt (SPEC.md §Channel debt):
        // the buyer pays at most one credit window (16 chunks) of them.
        maxDebt: 16n * price,
        reconnect: { attempts: 5, baseDelayMs: 100 },
      })
      const seqs: number[] = []
      for await (const chunk of stream) {
        seqs.push(chunk.seq)
        if (seqs.length === 12) for (const s of sockets.splice(0)) s.destroy()
      }
      expect(reconnects.length).toBeGreaterThanOrEqual(1)
      expect(reconnects[0]).toMatchObject({ channelId, attempt: 1, error: { code: 'CONNECTION_FAILED' } })
      // Each label once and in order; the first session's run has no hole.
      expect(seqs).toHaveLength(40)
      expect(seqs.slice(0, 12)).toEqual([...Array(12).keys()])
      expect(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!)).toBe(true)
      // (What the drop costs is not asserted: chunks in flight become the channel's debt, and the
      // resumed sessions currently pay more than one price per label — see the issue 11 report.)
      const summary = await stream.finished
      expect(summary.reason).toBe('done')
      expect((await market.seller.store.latest(channelId))?.amount).toBe(summary.cumulativeAmount)
    } finally {
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => relay.close(resolve))
    }
  })

  it('keeps all streams of a client within its budget, prices before paying, reports receipts, and aborts', async () => {
    const probe = await clientOf({ wallet: new Wallet(market.buyerKeys[2]!, plainProvider()) })
    const { product, price } = await nox(probe)
    // (Two transactions back to back: a provider that caches `eth_getTransactionCount` would reuse a nonce.)
    const uncached = new JsonRpcProvider(market.rpcUrl, undefined, { cacheTimeout: -1 })
    providers.push(uncached)
    const buyer = await clientOf({
      wallet: new Wallet(market.buyerKeys[2]!, uncached),
      budget: `${30n * price} wei`,
    })
    expect(await buyer.quote(product.productId, { chunks: 30 })).toEqual({
      pricePerChunk: price,
      chunks: 30,
      amount: 30n * price,
    })
    expect((await buyer.quote(product.productId, { durationMs: 2_500, chunksPerSecond: 4 })).amount).toBe(
      10n * price,
    )
    // Without a rate, at the descriptor's: 200 rows/s replayed, one reading each of NOx and NO₂ per row.
    expect(product.descriptor!.chunksPerSecond).toBe(400)
    expect(await buyer.quote(product.productId, { durationMs: 2_500 })).toEqual({
      pricePerChunk: price,
      chunks: 1_000,
      amount: 1_000n * price,
      chunksPerSecond: 400,
    })
    const receipts: BuyerEvents['receipt'][] = []
    const closed: BuyerEvents['closed'][] = []
    buyer.on('receipt', (r) => receipts.push(r))
    buyer.on('closed', (c) => closed.push(c))

    // An aborted open sends no transaction.
    const channelsBefore = (await buyer.channels()).length
    await expect(
      buyer.openChannel(market.seller.address, price, { signal: AbortSignal.abort() }),
    ).rejects.toMatchObject({ code: 'ABORTED' })
    expect((await buyer.channels()).length).toBe(channelsBefore)

    const { channelId } = await buyer.openChannel(market.seller.address, 100n * price)
    const second = await buyer.openChannel(market.seller.address, 100n * price)
    // Two streams ask for 20 chunks' worth each: the second gets what is left of the budget, 10.
    const a = await buyer.stream(product, { channelId, maxSpend: 20n * price })
    const b = await buyer.stream(product, { channelId: second.channelId, maxSpend: 20n * price })
    const count = async (s: typeof a) => {
      let n = 0
      for await (const _ of s) n++
      return n
    }
    const [na, nb] = await Promise.all([count(a), count(b)])
    const [sa, sb] = [await a.finished, await b.finished]
    expect(sa.reason).toBe('spending_cap')
    expect(sb.reason).toBe('spending_cap')
    expect(sa.paid + sb.paid).toBe(30n * price)
    expect(na + nb).toBe(30)
    expect(buyer.budget.remaining).toBe(0n)
    await expect(buyer.stream(product, { channelId, maxSpend: price })).rejects.toMatchObject({
      code: 'SPENDING_CAP_REACHED',
    })
    const highest = (id: Hex) =>
      receipts.filter((r) => r.channelId === id).reduce((m, r) => (r.amount > m ? r.amount : m), 0n)
    expect(highest(channelId) + highest(second.channelId)).toBe(30n * price)
    expect(closed.map((c) => c.summary.paid).sort()).toEqual([sa.paid, sb.paid].sort())

    // Aborting a running stream closes it with a final receipt and ends the loop with ABORTED.
    const free = await clientOf({ wallet: new Wallet(market.buyerKeys[3]!, plainProvider()) })
    const other = await free.openChannel(market.seller.address, 100n * price)
    const controller = new AbortController()
    const c = await free.stream(product, {
      channelId: other.channelId,
      maxSpend: 100n * price,
      signal: controller.signal,
    })
    let taken = 0
    const outcome = await (async () => {
      for await (const _ of c) if (++taken === 3) controller.abort()
      return 'ended'
    })().catch((err: { code?: string }) => err.code)
    expect(outcome).toBe('ABORTED')
    const summary = await c.finished
    expect(summary.reason).toBe('buyer_closed')
    expect(summary.cumulativeAmount).toBe(BigInt(summary.chunks + summary.afterClose) * price)
    expect(summary.chunks).toBeGreaterThanOrEqual(3)
  })
})
