// Job slots and quotes under hostile buyers, end to end — a provider with one job slot (the seller
// server), anvil, the buyer SDK, bare WebSocket sessions and HTTP from other loopback addresses:
// a `hello` that never accepts holds no slot, a quote is reserved for one session at a time, the
// second session to accept on a busy slot is refused before any record and charged nothing, and a
// quote flood from other addresses does not evict an honest buyer's quote.
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type LocalMarketplace, startLocalMarketplace } from '@trickle/devnet'
import type { Hex, JobRecord, SignedJobQuote } from '@trickle/protocol'
import type { BuyerClient, CatalogProduct } from '@trickle/sdk'
import type { JsonRpcProvider } from 'ethers'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildJobModules } from '../modules/build.ts'
import { type SellerServer, type SessionEnd, startSellerServer } from '../src/index.ts'
import { MAX_OPEN_QUOTES, MAX_OPEN_QUOTES_PER_CLIENT } from '../src/jobs/jobProvider.ts'
import { buyerFor } from './helpers/buyer.ts'
import { acceptFor, connectRaw, type RawClient } from './helpers/rawClient.ts'

const UNIT_PRICE = 10_000_000_000n // wei per unit

describe('job fairness: slots taken at accept, quotes reserved per session, quotes bounded per address', () => {
  let market: LocalMarketplace
  let provider: SellerServer
  let honest: BuyerClient
  let attacker: BuyerClient
  const rpcs: JsonRpcProvider[] = []
  let root: string
  let attack: Uint8Array
  let compute: CatalogProduct
  const ends: SessionEnd[] = []

  beforeAll(async () => {
    attack = await readFile((await buildJobModules()).attack)
    root = await mkdtemp(join(tmpdir(), 'trickle-job-fairness-'))
    market = await startLocalMarketplace({ rowsPerSecond: 0, logger: pino({ level: 'silent' }) })
    provider = await startSellerServer({
      rpcUrl: market.rpcUrl,
      chainId: market.chainId,
      registry: market.deployment.registry as Hex,
      channels: market.deployment.channels as Hex,
      sellerKey: market.buyerKeys[6]!,
      brokerUrl: market.brokerUrl,
      dataDir: join(root, 'provider'),
      jobSlots: 1,
      // The flood below passes the `hello` rate limit: a patient attacker gets the same quotes under
      // the default limit (20 a second per address) in about a minute; here it takes seconds.
      limits: {
        hellosPerIp: { perSecond: 100_000, burst: 100_000 },
        hellosTotal: { perSecond: 100_000, burst: 100_000 },
      },
      products: [
        {
          key: 'wasm-compute',
          name: 'Compute',
          description: 'Your WASI module',
          kind: 'compute',
          topics: [],
          fields: [],
          tags: ['jobs'],
          source: { title: 'none', licence: 'CC0-1.0', attribution: 'Trickle tests' },
          pricePerChunk: UNIT_PRICE,
          policy: { maxChunkBytes: 16 * 1024 },
          job: {
            limits: {
              memoryBytes: 64 * 1024 ** 2,
              cpuMs: 20_000,
              wallMs: 30_000,
              moduleBytes: 4 * 1024 ** 2,
              outputBytes: 1024 ** 2,
            },
            startUnits: 3,
            cpuMsPerUnit: 50,
          },
        },
      ],
      logger: pino({ level: 'silent' }),
    })
    provider.events.on('session', (end) => ends.push(end))
    const h = await buyerFor(market, { gateway: provider.httpUrl, keyIndex: 2 })
    const a = await buyerFor(market, { gateway: provider.httpUrl, keyIndex: 3 })
    honest = h.buyer
    attacker = a.buyer
    rpcs.push(h.provider, a.provider)
    compute = await honest.product(provider.products[0]!.productId)
  }, 180_000)

  afterAll(async () => {
    await honest?.close()
    await attacker?.close()
    for (const rpc of rpcs) rpc.destroy()
    await provider?.close()
    await market?.stop()
    if (root) await rm(root, { recursive: true, force: true })
  })

  const quoteOf = async (buyer: BuyerClient, args: string[]) => {
    const answer = await buyer.quoteJob(compute, { module: attack, args })
    if ('decline' in answer) throw new Error(`declined: ${answer.decline.reason}`)
    return answer
  }

  /** A channel from `buyer` to the provider worth the quote's most. */
  const channelFor = async (buyer: BuyerClient, signed: SignedJobQuote) =>
    (await buyer.openChannel(provider.address, BigInt(signed.quote.maxUnits) * UNIT_PRICE)).channelId

  /** A bare session that says `hello` with the job of `signed` and nothing else (yet). */
  async function hello(signed: SignedJobQuote, channelId: Hex, args: string[]): Promise<RawClient> {
    const raw = await connectRaw(provider.url)
    raw.sendFrame({
      t: 'hello',
      v: 1,
      productId: compute.productId,
      channelId,
      job: { quote: signed.quote, signature: signed.signature, args },
    })
    return raw
  }

  /** Runs the job of `signed` through the SDK: its records and outcome. */
  async function run(buyer: BuyerClient, signed: SignedJobQuote, args: string[]) {
    const job = await buyer.runJob(compute, signed, { channelId: await channelFor(buyer, signed), args })
    const records: JobRecord[] = []
    for await (const record of job) records.push(record)
    return { records, outcome: await job.finished }
  }

  async function until(done: () => boolean): Promise<void> {
    for (let i = 0; i < 400 && !done(); i++) await new Promise((r) => setTimeout(r, 25))
  }

  it('takes no slot for a hello that never accepts: an honest buyer’s job runs meanwhile', async () => {
    const args = ['attack', 'ticks', '1']
    const squat = await quoteOf(attacker, args)
    const squatter = await hello(squat, await channelFor(attacker, squat), args)
    await squatter.next('terms')
    expect(provider.jobs).toMatchObject({ running: 0, slots: 1 })

    const { records, outcome } = await run(honest, await quoteOf(honest, args), args)
    expect(records.at(-2)).toMatchObject({ k: 'end', exitCode: 0, error: '' })
    expect(outcome.attestation).toBeDefined()
    squatter.close()
    await squatter.closed
  }, 120_000)

  it('reserves a quote for the session that said hello, and frees it when that session ends before accept', async () => {
    const args = ['attack', 'ticks', '1']
    const signed = await quoteOf(honest, args)
    const first = await hello(signed, await channelFor(honest, signed), args)
    await first.next('terms')
    // Someone who saw the quote tries it on a session of their own while the first holds it.
    const thief = await hello(signed, await channelFor(attacker, signed), args)
    expect(await thief.next('error')).toMatchObject({
      code: 'JOB_REJECTED',
      message: expect.stringContaining('in use'),
    })
    expect(thief.frames.some((f) => f.t === 'terms')).toBe(false)
    await thief.closed
    first.close()
    await first.closed
    await until(() => ends.some((e) => e.jobId === signed.quote.quoteId))

    const { outcome } = await run(honest, signed, args)
    expect(outcome.attestation?.attestation.jobId).toBe(signed.quote.quoteId)
  }, 120_000)

  it('refuses the second of two hello’d sessions to accept on one slot, JOB_REJECTED before any record, charging nothing', async () => {
    const long = ['attack', 'ticks', '1000']
    const short = ['attack', 'ticks', '1']
    const first = await quoteOf(attacker, long)
    const second = await quoteOf(honest, short)
    const firstChannel = await channelFor(attacker, first)
    const secondChannel = await channelFor(honest, second)
    const a = await hello(first, firstChannel, long)
    const b = await hello(second, secondChannel, short)
    const [aTerms, bTerms] = await Promise.all([a.next('terms'), b.next('terms')])
    const startedBefore = provider.jobs!.started

    a.sendFrame(acceptFor(aTerms, attacker.sessionKey))
    await a.next('chunk')
    b.sendFrame(acceptFor(bTerms, honest.sessionKey))
    expect(await b.next('error')).toMatchObject({
      code: 'JOB_REJECTED',
      message: expect.stringContaining('all 1 job slots are busy'),
    })
    await b.closed
    expect(b.frames.map((f) => f.t)).toEqual(['terms', 'error', 'close'])
    await until(() => ends.some((e) => e.channelId === secondChannel))
    expect(ends.find((e) => e.channelId === secondChannel)).toMatchObject({ paid: 0n, chunksSent: 0 })
    expect(await provider.store.latest(secondChannel)).toBeUndefined()
    expect(provider.jobs).toMatchObject({ running: 1, slots: 1, started: startedBefore + 1 })

    a.close()
    await a.closed
    await until(() => provider.jobs!.running === 0)
    expect(provider.jobs?.running).toBe(0)
    // The refused session's quote was only reserved: it runs once the slot is free.
    const { outcome } = await run(honest, second, short)
    expect(outcome.attestation?.attestation.jobId).toBe(second.quote.quoteId)
  }, 120_000)

  it('keeps an honest buyer’s quote through a quote flood: an address holds its newest quotes, a full provider evicts from the address holding most', async () => {
    const args = ['attack', 'ticks', '1']
    const kept = await quoteOf(honest, args)

    // One address asks for more quotes than both caps: it keeps only its newest.
    const flood = await quotesFrom('127.0.0.2', MAX_OPEN_QUOTES + 1, args)
    expect(flood).toHaveLength(MAX_OPEN_QUOTES + 1)
    const channel = await channelFor(attacker, flood[0]!)
    const evicted = await hello(flood.at(-MAX_OPEN_QUOTES_PER_CLIENT - 1)!, channel, args)
    expect(await evicted.next('error')).toMatchObject({
      code: 'JOB_REJECTED',
      message: expect.stringContaining('unknown quote'),
    })
    const oldestKept = await hello(flood.at(-MAX_OPEN_QUOTES_PER_CLIENT)!, channel, args)
    await oldestKept.next('terms')
    oldestKept.close()
    await oldestKept.closed

    // Many addresses fill the provider's open quotes: the flood evicts its own, not the honest one.
    const addresses = Math.ceil(MAX_OPEN_QUOTES / MAX_OPEN_QUOTES_PER_CLIENT) + 8
    for (let n = 0; n < addresses; n++) {
      const from = `127.0.1.${n + 1}`
      expect(await quotesFrom(from, MAX_OPEN_QUOTES_PER_CLIENT, args)).toHaveLength(
        MAX_OPEN_QUOTES_PER_CLIENT,
      )
    }

    const { outcome } = await run(honest, kept, args)
    expect(outcome.attestation?.attestation.jobId).toBe(kept.quote.quoteId)
  }, 180_000)

  /**
   * Asks the provider for `count` quotes of the attack module from the loopback address `from`, one
   * at a time on a kept-alive connection: the quotes it issued, oldest first.
   */
  async function quotesFrom(from: string, count: number, args: string[]): Promise<SignedJobQuote[]> {
    const body = JSON.stringify({
      productId: compute.productId.toString(),
      module: `0x${createHash('sha256').update(attack).digest('hex')}`,
      args,
    })
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    const { port } = new URL(provider.httpUrl)
    const ask = () =>
      new Promise<SignedJobQuote | undefined>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port,
            localAddress: from,
            agent,
            method: 'POST',
            path: '/jobs/quote',
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          },
          (res) => {
            const parts: Buffer[] = []
            res.on('data', (part: Buffer) => parts.push(part))
            res.on('end', () => {
              if (res.statusCode !== 200) return resolve(undefined)
              const { quote, signature } = JSON.parse(Buffer.concat(parts).toString('utf8'))
              resolve({
                quote: { ...quote, productId: BigInt(quote.productId), unitPrice: BigInt(quote.unitPrice) },
                signature,
              })
            })
          },
        )
        req.on('error', reject)
        req.end(body)
      })
    const quotes: SignedJobQuote[] = []
    try {
      for (let n = 0; n < count; n++) {
        const quote = await ask()
        if (quote) quotes.push(quote)
      }
    } finally {
      agent.destroy()
    }
    return quotes
  }
})
