// Issue 14: compute and app jobs as metered paid streams, end to end — a provider (the seller server
// with a compute and an app product), anvil, the buyer SDK, and real WASI modules built from C.
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_CSV_PATH } from '@trickle/devices'
import { type LocalMarketplace, startLocalMarketplace } from '@trickle/devnet'
import {
  decodeJobRecord,
  type Hex,
  hasCode,
  type JobRecord,
  type SignedJobQuote,
  sealTo,
  toHex,
} from '@trickle/protocol'
import type { BuyerClient, CatalogProduct, JobOutcome } from '@trickle/sdk'
import { type JsonRpcProvider, Wallet } from 'ethers'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildJobModules, type JobModuleName } from '../modules/build.ts'
import { type SellerServer, startSellerServer } from '../src/index.ts'
import type { JobSpec } from '../src/jobs/jobProvider.ts'
import { buyerFor } from './helpers/buyer.ts'
import { runWasiDirectly } from './helpers/runWasiDirectly.ts'

const UNIT_PRICE = 10_000_000_000n // wei per unit
const LIMITS: JobSpec['limits'] = {
  memoryBytes: 64 * 1024 ** 2,
  cpuMs: 20_000,
  wallMs: 30_000,
  moduleBytes: 4 * 1024 ** 2,
  outputBytes: 1024 ** 2,
}

describe('jobs: quoted, run, paid as they run, attested (anvil, provider, SDK)', () => {
  let market: LocalMarketplace
  let provider: SellerServer
  let buyer: BuyerClient
  let rpc: JsonRpcProvider
  let root: string
  let airQuality: string
  let modules: Record<JobModuleName, Uint8Array>
  let compute: CatalogProduct
  let app: CatalogProduct

  beforeAll(async () => {
    const paths = await buildJobModules()
    modules = Object.fromEntries(
      await Promise.all(Object.entries(paths).map(async ([name, path]) => [name, await readFile(path)])),
    ) as Record<JobModuleName, Uint8Array>
    root = await mkdtemp(join(tmpdir(), 'trickle-jobs-e2e-'))
    airQuality = join(root, 'air-quality')
    await mkdir(airQuality)
    await writeFile(join(airQuality, 'AirQualityUCI.csv'), await readFile(DEFAULT_CSV_PATH))
    market = await startLocalMarketplace({ rowsPerSecond: 0, logger: pino({ level: 'silent' }) })
    const job = (extra: Partial<JobSpec> = {}): JobSpec => ({
      limits: LIMITS,
      startUnits: 3,
      cpuMsPerUnit: 50,
      inputs: [{ name: 'air-quality', description: 'UCI Air Quality, 9,357 hourly rows', dir: airQuality }],
      ...extra,
    })
    const common = {
      topics: [],
      fields: [],
      tags: ['jobs'],
      pricePerChunk: UNIT_PRICE,
      source: { title: 'UCI Air Quality', licence: 'CC BY 4.0', attribution: 'S. De Vito' },
      policy: { maxChunkBytes: 16 * 1024 },
    }
    provider = await startSellerServer({
      rpcUrl: market.rpcUrl,
      chainId: market.chainId,
      registry: market.deployment.registry as Hex,
      channels: market.deployment.channels as Hex,
      sellerKey: market.buyerKeys[6]!,
      brokerUrl: market.brokerUrl,
      dataDir: join(root, 'provider'),
      jobSlots: 1,
      products: [
        {
          ...common,
          key: 'wasm-compute',
          name: 'Compute over air quality',
          description: 'Your WASI module over the UCI air-quality data, which you never see',
          kind: 'compute',
          job: job(),
        },
        {
          ...common,
          key: 'air-report',
          name: 'Air quality report',
          description: 'A daily report and forecast of one field over a date range',
          kind: 'app',
          job: job({
            app: {
              module: modules.airQualityReport,
              parameters: [
                { name: '--field', description: 'a column, e.g. NO2(GT)' },
                { name: '--from', description: 'first day, YYYY-MM-DD' },
                { name: '--to', description: 'last day, YYYY-MM-DD' },
                { name: '--horizon', description: 'days to forecast' },
              ],
            },
          }),
        },
      ],
      logger: pino({ level: 'silent' }),
    })
    ;({ buyer, provider: rpc } = await buyerFor(market, { gateway: provider.httpUrl, keyIndex: 2 }))
    compute = await buyer.product(provider.products[0]!.productId)
    app = await buyer.product(provider.products[1]!.productId)
  }, 180_000)

  afterAll(async () => {
    await buyer?.close()
    rpc?.destroy()
    await provider?.close()
    await market?.stop()
    if (root) await rm(root, { recursive: true, force: true })
  })

  /** Runs `module` directly with node:wasi: its stdout, and the files it left in `/out`. */
  async function direct(module: Uint8Array, args: string[]) {
    const outDir = await mkdtemp(join(root, 'direct-'))
    return { ...runWasiDirectly(module, args, airQuality, outDir), outDir }
  }

  /** Quotes, opens a channel worth the quote's most, runs the job and collects its records. */
  async function run(product: CatalogProduct, request: Parameters<BuyerClient['quoteJob']>[1]) {
    const answer = await buyer.quoteJob(product, request)
    if ('decline' in answer) throw new Error(`declined: ${answer.decline.reason}`)
    const signed = answer as SignedJobQuote
    const most = BigInt(signed.quote.maxUnits) * signed.quote.unitPrice
    const { channelId } = await buyer.openChannel(product.descriptor!.seller as Hex, most)
    const job = await buyer.runJob(product, signed, {
      channelId,
      args: request.args,
      ...(request.seal !== undefined ? { seal: request.seal } : {}),
    })
    const records: JobRecord[] = []
    for await (const record of job) records.push(record)
    const outcome = await job.finished
    return { signed, records, outcome, channelId, payloads: job.payloads }
  }

  const text = (records: JobRecord[], k: 'out' | 'err') =>
    Buffer.concat(records.flatMap((r) => (r.k === k ? [Buffer.from(r.data)] : []))).toString('utf8')

  function expectPaidForEveryRecord(
    records: JobRecord[],
    outcome: JobOutcome,
    quote: SignedJobQuote['quote'],
  ) {
    expect(records.length).toBeLessThanOrEqual(quote.maxUnits)
    expect(outcome.summary.chunks + outcome.summary.afterClose).toBe(records.length)
    expect(outcome.summary.paid).toBe(BigInt(records.length) * UNIT_PRICE)
    expect(outcome.attestation?.attestation.units).toBe(records.length)
  }

  it('runs a compute-to-data job: the output equals the module run directly, every record is paid, the attestation checks', async () => {
    const args = ['airQualityStats']
    const { signed, records, outcome } = await run(compute, {
      module: modules.airQualityStats,
      args,
      input: 'air-quality',
    })
    const reference = await direct(modules.airQualityStats, args)
    expect(reference.exitCode).toBe(0)
    expect(text(records, 'out')).toBe(reference.stdout)
    expect(records.slice(0, 3).map((r) => r.k)).toEqual(['start', 'start', 'start'])
    expect(records.at(-2)).toMatchObject({ k: 'end', exitCode: 0, error: '' })
    expect(records.at(-1)?.k).toBe('attestation')
    // CPU is charged as it accrues: one unit per 50 ms, the last partial one rounded up.
    const end = outcome.end!
    expect(records.filter((r) => r.k === 'cpu')).toHaveLength(Math.ceil(end.cpuMs / 50))
    expectPaidForEveryRecord(records, outcome, signed.quote)
    const { attestation } = outcome.attestation!
    expect(attestation).toMatchObject({ exitCode: 0, error: '', jobId: signed.quote.quoteId })
    expect(attestation.inputHash).not.toBe(`0x${'00'.repeat(32)}`)
    expect(outcome.summary.reason).toBe('product_ended')
  }, 120_000)

  it('runs an app with parameters: stdout and its report file equal a direct run', async () => {
    const args = [
      'airQualityReport',
      '--field',
      'NO2(GT)',
      '--from',
      '2004-11-01',
      '--to',
      '2004-11-30',
      '--horizon',
      '5',
    ]
    const { signed, records, outcome } = await run(app, { args, input: 'air-quality' })
    const reference = await direct(modules.airQualityReport, args)
    expect(text(records, 'out')).toBe(reference.stdout)
    const report = Buffer.concat(
      records.flatMap((r) => (r.k === 'file' && r.path === 'report.csv' ? [Buffer.from(r.data)] : [])),
    ).toString('utf8')
    expect(report).toBe(await readFile(join(reference.outDir, 'report.csv'), 'utf8'))
    expect(records.find((r) => r.k === 'file' && r.path === 'report.csv' && r.last)).toBeDefined()
    expectPaidForEveryRecord(records, outcome, signed.quote)
  }, 120_000)

  it('declines a quote at capacity while its one slot runs a job, and quotes again once it is free', async () => {
    const args = ['attack', 'ticks', '100']
    const answer = await buyer.quoteJob(compute, { module: modules.attack, args })
    const signed = answer as SignedJobQuote
    const { channelId } = await buyer.openChannel(
      compute.descriptor!.seller as Hex,
      BigInt(signed.quote.maxUnits) * UNIT_PRICE,
    )
    const job = await buyer.runJob(compute, signed, { channelId, args })
    const records: JobRecord[] = []
    const consuming = (async () => {
      for await (const record of job) records.push(record)
    })()
    for (let i = 0; i < 200 && !records.some((r) => r.k === 'out'); i++)
      await new Promise((r) => setTimeout(r, 25))
    expect(await buyer.quoteJob(compute, { module: modules.attack, args })).toMatchObject({
      decline: { reason: 'at_capacity' },
    })
    await consuming
    expect(records.at(-2)).toMatchObject({ k: 'end', exitCode: 0 })
    expect('quote' in (await buyer.quoteJob(compute, { module: modules.attack, args }))).toBe(true)
  }, 120_000)

  it('cancels a job mid-run: the buyer pays only for the records it got, and the slot is free again', async () => {
    const args = ['attack', 'ticks', '1000']
    const answer = (await buyer.quoteJob(compute, { module: modules.attack, args })) as SignedJobQuote
    const { channelId } = await buyer.openChannel(
      compute.descriptor!.seller as Hex,
      BigInt(answer.quote.maxUnits) * UNIT_PRICE,
    )
    const job = await buyer.runJob(compute, answer, { channelId, args })
    const records: JobRecord[] = []
    for await (const record of job) {
      records.push(record)
      if (records.filter((r) => r.k === 'out').length >= 3) break
    }
    const outcome = await job.finished
    expect(outcome.attestation).toBeUndefined()
    expect(outcome.summary.paid).toBe(
      BigInt(outcome.summary.chunks + outcome.summary.afterClose) * UNIT_PRICE,
    )
    expect(outcome.summary.paid).toBeLessThan((BigInt(answer.quote.maxUnits) * UNIT_PRICE) / 10n)
    for (let i = 0; i < 200 && provider.jobs?.running !== 0; i++) await new Promise((r) => setTimeout(r, 25))
    expect(provider.jobs?.running).toBe(0)
  }, 120_000)

  it('refuses a quote run with other arguments, or run twice, before terms', async () => {
    const args = ['attack', 'ticks', '1']
    const answer = (await buyer.quoteJob(compute, { module: modules.attack, args })) as SignedJobQuote
    const { channelId } = await buyer.openChannel(
      compute.descriptor!.seller as Hex,
      BigInt(answer.quote.maxUnits) * UNIT_PRICE,
    )
    const drain = async (args: string[]) => {
      const job = await buyer.runJob(compute, answer, { channelId, args })
      for await (const _ of job) {
        // the records of the first run
      }
      return job.finished
    }
    await expect(drain(['attack', 'ticks', '2'])).rejects.toSatisfy((err: unknown) =>
      hasCode(err, 'JOB_REJECTED'),
    )
    const first = await drain(args)
    expect(first.attestation).toBeDefined()
    await expect(drain(args)).rejects.toSatisfy((err: unknown) => hasCode(err, 'JOB_REJECTED'))
  }, 120_000)

  it('seals the module, arguments and output by default: nothing readable at rest or on the wire, the buyer opens the output equal to a direct run', async () => {
    const args = ['airQualityStats']
    const { records, outcome, payloads } = await run(compute, {
      module: modules.airQualityStats,
      args,
      input: 'air-quality',
    })
    const reference = await direct(modules.airQualityStats, args)
    expect(text(records, 'out')).toBe(reference.stdout)
    expect(outcome.attestation).toBeDefined()
    // On the wire (what a relay sees, and what the attestation's hash covers): output only sealed.
    const sent = payloads.map((p) => decodeJobRecord(p).k)
    expect(sent).toContain('sealed')
    expect(sent.filter((k) => k === 'out' || k === 'err' || k === 'file')).toEqual([])
    const firstLine = Buffer.from(reference.stdout.split('\n')[0]!)
    expect(firstLine.byteLength).toBeGreaterThan(8)
    for (const payload of payloads) expect(Buffer.from(payload).indexOf(firstLine)).toBe(-1)
    // At rest: the provider keeps the module as it came, sealed to its terms key.
    const kept = await readdir(join(root, 'provider', 'modules'))
    const name = createHash('sha256').update(modules.airQualityStats).digest('hex')
    expect(kept).toContain(`${name}.sealed`)
    expect(kept).not.toContain(`${name}.wasm`)
    const atRest = await readFile(join(root, 'provider', 'modules', `${name}.sealed`))
    expect(atRest.indexOf(Buffer.from(modules.airQualityStats).subarray(1024, 1280))).toBe(-1)
  }, 120_000)

  it('runs in the clear when the buyer asks (seal: false): the output travels as plain records', async () => {
    const args = ['attack', 'ticks', '3']
    const { records, payloads, outcome } = await run(compute, { module: modules.attack, args, seal: false })
    expect(records.filter((r) => r.k === 'out').length).toBeGreaterThan(0)
    expect(payloads.map((p) => decodeJobRecord(p).k)).not.toContain('sealed')
    expect(outcome.attestation).toBeDefined()
  }, 120_000)

  it('refuses arguments sealed to another key, or bytes that open with none, before terms: the quote stays usable', async () => {
    const args = ['attack', 'ticks', '1']
    const answer = (await buyer.quoteJob(compute, { module: modules.attack, args })) as SignedJobQuote
    const { channelId } = await buyer.openChannel(
      compute.descriptor!.seller as Hex,
      BigInt(answer.quote.maxUnits) * UNIT_PRICE,
    )
    const json = new TextEncoder().encode(JSON.stringify(args))
    const attempts = [
      sealTo(Wallet.createRandom().signingKey.publicKey as Hex, json),
      new Uint8Array(200).fill(7),
    ]
    for (const sealedArgs of attempts) {
      const hostile = async () => {
        const stream = await buyer.stream(compute, {
          channelId,
          maxSpend: UNIT_PRICE * 10n,
          job: { quote: answer.quote, signature: answer.signature, sealedArgs, sealResults: true },
        })
        for await (const _ of stream) {
          // no chunk comes: the hello is refused
        }
        return stream.finished
      }
      await expect(hostile()).rejects.toSatisfy((err: unknown) => hasCode(err, 'JOB_REJECTED'))
    }
    // The quote was not used up by the refusals: the buyer's own run goes through.
    const job = await buyer.runJob(compute, answer, { channelId, args })
    for await (const _ of job) {
      // drain
    }
    expect((await job.finished).attestation).toBeDefined()
  }, 120_000)

  it('opens sealed requests at a bounded rate: a flood from one address gets 429 past its share, and a buyer elsewhere is still quoted', async () => {
    // Each open costs the provider two ECDHs (bench jobSealing): an attacker at 127.0.0.2 floods
    // quote requests whose sealed arguments it sealed to a key of its own (valid points: the ECDH runs).
    const honest = () => buyer.quoteJob(compute, { module: modules.attack, args: ['attack', 'ticks', '1'] })
    expect('quote' in (await honest())).toBe(true) // the module is held: the flood's quotes get to the ECDH
    const attackerKey = Wallet.createRandom().signingKey.publicKey as Hex
    const body = JSON.stringify({
      productId: compute.productId.toString(),
      module: `0x${createHash('sha256').update(modules.attack).digest('hex')}`,
      sealedArgs: toHex(sealTo(attackerKey, new TextEncoder().encode('["attack","ticks","1"]'))),
    })
    const { port } = new URL(provider.httpUrl)
    const post = () =>
      new Promise<number>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port: Number(port),
            localAddress: '127.0.0.2',
            path: '/jobs/quote',
            method: 'POST',
            headers: { 'content-type': 'application/json' },
          },
          (res) => {
            res.resume()
            res.on('end', () => resolve(res.statusCode ?? 0))
          },
        )
        req.on('error', reject)
        req.end(body)
      })
    const started = performance.now()
    const statuses = await Promise.all(Array.from({ length: 60 }, post))
    const seconds = (performance.now() - started) / 1000
    // Opened ones do not open (400); the rest were refused before any ECDH (429).
    expect(statuses.every((s) => s === 400 || s === 429)).toBe(true)
    const opened = statuses.filter((s) => s === 400).length
    expect(opened).toBeLessThanOrEqual(8 + Math.ceil(4 * seconds))
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0)
    // The buyer at 127.0.0.1 has its own share: its sealed quote goes through at once.
    expect('quote' in (await honest())).toBe(true)
  }, 120_000)
})
