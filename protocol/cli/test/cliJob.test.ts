// Issue 14 from the terminal: `trickle job quote`, `job run`, `job status`, `job cancel` and `job verify` against a
// local marketplace whose seller also provides jobs (a compute-to-data and an app product).
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_CSV_PATH } from '@trickle/devices'
import { type LocalMarketplace, localConfig, startLocalMarketplace } from '@trickle/devnet'
import type { Hex, SignedJobQuote } from '@trickle/protocol'
import { BuyerClient } from '@trickle/sdk'
import { startSellerServer } from '@trickle/seller'
import { JsonRpcProvider, Wallet } from 'ethers'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { buildJobModules } from '../../../seller-server/modules/build.ts'
import { runTrickle, spawnTrickle } from './helpers/runTrickle.ts'

describe('trickle job: quote, run, status, cancel, verify', { timeout: 240_000 }, () => {
  let market: LocalMarketplace
  let dir: string
  let config: string
  let stats: string
  let env: Record<string, string>

  const trickle = (args: string[]) => runTrickle(['--config', config, ...args], env)

  beforeAll(async () => {
    const modules = await buildJobModules()
    stats = modules.airQualityStats
    market = await startLocalMarketplace({
      rowsPerSecond: 0,
      jobs: { reportModule: modules.airQualityReport },
    })
    dir = mkdtempSync(join(tmpdir(), 'trickle-cli-job-'))
    config = join(dir, 'local.json')
    writeFileSync(config, JSON.stringify(localConfig(market)))
    env = { TRICKLE_PRIVATE_KEY: new Wallet(market.buyerKeys[3]!).privateKey }
  }, 180_000)

  afterAll(async () => {
    await market?.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('quotes a module at every compute provider, runs it on the cheapest, and the result checks against the chain', async () => {
    const quote = await trickle(['job', 'quote', stats, '--input', 'air-quality'])
    expect(quote.code, quote.stderr).toBe(0)
    expect(quote.stdout).toMatch(/→ product \d+ Compute over Air Quality \(UCI\)/)
    expect(quote.stdout).toMatch(
      /start 0\.00000005 ETH, 0\.0000002 ETH per CPU-second, 0\.00000001 ETH per output record/,
    )

    const out = join(dir, 'stats')
    const run = await trickle(['job', 'run', stats, '--input', 'air-quality', '--out', out])
    expect(run.code, run.stderr).toBe(0)
    const report = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>
    expect(report).toMatchObject({ exitCode: 0, error: null, attested: true, reason: 'product_ended' })
    expect(BigInt(report.paidWei as string)).toBe(BigInt(report.units as number) * 10_000_000_000n)
    const lines = readFileSync(join(out, 'stdout'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(lines.filter((l) => l.type === 'hour')).toHaveLength(24)
    expect(run.stderr).toContain(`check it: trickle job verify ${out}`)

    // The provider anchors the attestation once the session ended paid.
    let status: Record<string, unknown> = {}
    for (let i = 0; i < 100 && status.state !== 'anchored'; i++) {
      const res = await trickle([
        'job',
        'status',
        report.jobId as string,
        '--product',
        report.productId as string,
      ])
      status = JSON.parse(res.stdout) as Record<string, unknown>
      if (status.state !== 'anchored') await new Promise((r) => setTimeout(r, 200))
    }
    expect(status).toMatchObject({ state: 'anchored', exitCode: 0 })

    const verify = await trickle(['job', 'verify', out])
    expect(verify.code, verify.stderr).toBe(0)
    expect(verify.stdout).toMatch(/output {5}the \d+ records received hash to 0x[0-9a-f]{64}/)
    expect(verify.stdout).toMatch(/anchored {3}in 0x[0-9a-f]{64}/)

    // A record altered after the run no longer checks.
    // (in the middle of the file: the stdout records, which the output hash covers)
    const records = readFileSync(join(out, 'records.bin'))
    const at = Math.floor(records.length / 2)
    records[at] = records[at]! ^ 1
    writeFileSync(join(out, 'records.bin'), records)
    const tampered = await trickle(['job', 'verify', out])
    expect(tampered.code).toBe(1)
    expect(tampered.stderr).toMatch(/JOB_ATTESTATION_INVALID|JOB_RECORD_INVALID/)
  })

  it('runs the app with its parameters and writes its report file', async () => {
    const products = JSON.parse((await trickle(['products', '--json'])).stdout) as {
      productId: string
      kind: string
    }[]
    const app = products.find((p) => p.kind === 'app')!
    const out = join(dir, 'report')
    const run = await trickle([
      'job',
      'run',
      app.productId,
      '--input',
      'air-quality',
      '--out',
      out,
      '--',
      '--field',
      'NO2(GT)',
      '--from',
      '2004-11-01',
      '--to',
      '2004-11-30',
      '--horizon',
      '5',
    ])
    expect(run.code, run.stderr).toBe(0)
    const csv = readFileSync(join(out, 'files', 'report.csv'), 'utf8')
      .trim()
      .split('\n')
    expect(csv[0]).toBe('date,field,n,mean,min,max')
    expect(csv.length - 1).toBeGreaterThan(20)
    expect(csv.slice(1).every((row) => /^2004-11-\d\d,NO2\(GT\),/.test(row))).toBe(true)
  })

  it('cancels a running job from another terminal: the run ends JOB_CANCELLED, paid for the records it got', async () => {
    const products = JSON.parse((await trickle(['products', '--json'])).stdout) as {
      productId: string
      kind: string
    }[]
    const compute = products.find((p) => p.kind === 'compute')!.productId
    const out = join(dir, 'cancelled')
    const attack = (await buildJobModules()).attack
    const run = spawnTrickle(
      ['--config', config, 'job', 'run', attack, 'churn', '--product', compute, '--out', out],
      env,
    )
    // `job run` tells how to cancel it; cancel once its records are arriving.
    let told: RegExpExecArray | null = null
    await vi.waitFor(
      () => {
        told = /trickle job cancel (0x[0-9a-f]{64}) --product (\d+) --channel (0x[0-9a-f]{64})/.exec(
          run.output().stderr,
        )
        expect(told).not.toBeNull()
        expect(run.output().stderr).toMatch(/job 0x[0-9a-f]{8}…: \d+ records/)
      },
      { timeout: 60_000, interval: 50 },
    )
    const [, jobId, productId, channelId] = told!
    expect(productId).toBe(compute)
    const cancel = await trickle(['job', 'cancel', jobId!, '--product', productId!, '--channel', channelId!])
    expect(cancel.code, cancel.stderr).toBe(0)
    expect(cancel.stdout).toMatch(
      new RegExp(`^job ${jobId}: cancelled \\(\\d+ records, \\d+ ms CPU so far\\)`),
    )
    expect(cancel.stdout).toContain(`trickle close ${channelId}`)
    expect(cancel.stdout).toContain(`trickle finalize ${channelId}`)

    const done = await run.exited
    expect(done.code, done.stderr).toBe(0)
    const report = JSON.parse(done.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>
    expect(report).toMatchObject({ jobId, exitCode: -1, error: 'JOB_CANCELLED', attested: true })
    expect(BigInt(report.paidWei as string)).toBe(BigInt(report.units as number) * 10_000_000_000n)

    // Both sides see it: the provider's status, and a cancel again says the same.
    const status = JSON.parse(
      (await trickle(['job', 'status', jobId!, '--product', productId!])).stdout,
    ) as Record<string, unknown>
    expect(status).toMatchObject({ error: 'JOB_CANCELLED', records: report.units })
    const again = await trickle(['job', 'cancel', jobId!, '--product', productId!, '--channel', channelId!])
    expect(again.code, again.stderr).toBe(0)
    // Another payer's key is not a key of the channel.
    const stranger = await runTrickle(
      ['--config', config, 'job', 'cancel', jobId!, '--product', productId!, '--channel', channelId!],
      { TRICKLE_PRIVATE_KEY: new Wallet(market.buyerKeys[5]!).privateKey },
    )
    expect(stranger.code).toBe(1)
    expect(stranger.stderr).toMatch(/AUTH_FAILED/)
  })

  it('three providers quote: the cheapest that meets the limits wins, and one at capacity declines', async () => {
    // Two more providers on the same chain, each with one compute product over the same data:
    // `cheap` offers only 2 s of CPU, `busy` has no free slot (its one slot runs a sleeping job).
    const input = join(dir, 'input')
    mkdirSync(input, { recursive: true })
    copyFileSync(DEFAULT_CSV_PATH, join(input, 'AirQualityUCI.csv'))
    const provider = (key: number, unitPrice: bigint, cpuMs: number) =>
      startSellerServer({
        rpcUrl: market.rpcUrl,
        chainId: market.chainId,
        registry: market.deployment.registry as Hex,
        channels: market.deployment.channels as Hex,
        sellerKey: market.buyerKeys[key]!,
        brokerUrl: market.brokerUrl,
        dataDir: mkdtempSync(join(dir, 'provider-')),
        jobSlots: 1,
        products: [
          {
            key: 'compute',
            name: `Compute at ${unitPrice} wei a unit`,
            description: 'another provider',
            kind: 'compute',
            topics: [],
            fields: [],
            tags: [],
            pricePerChunk: unitPrice,
            source: { title: '', licence: '', attribution: '' },
            policy: { maxChunkBytes: 16_384 },
            job: {
              limits: {
                memoryBytes: 64 * 1024 ** 2,
                cpuMs,
                wallMs: 60_000,
                moduleBytes: 8 * 1024 ** 2,
                outputBytes: 4 * 1024 ** 2,
              },
              startUnits: 5,
              cpuMsPerUnit: 50,
              inputs: [{ name: 'air-quality', description: 'the same data', dir: input }],
            },
          },
        ],
        logger: pino({ level: 'silent' }),
      })
    const cheap = await provider(5, 1_000_000_000n, 2_000)
    const busy = await provider(6, 2_000_000_000n, 30_000)
    // Buyers read each provider's descriptors from its own gateway.
    const gateways = [market.seller.httpUrl, cheap.httpUrl, busy.httpUrl]
    writeFileSync(config, JSON.stringify({ ...localConfig(market), gateways }))
    try {
      // Fill `busy`'s one slot with a job that sleeps.
      const { buyer, provider: rpc } = await buyerOf(market, 4, gateways)
      const product = await buyer.product(busy.products[0]!.productId)
      const modules = await buildJobModules()
      const sleeper = new Uint8Array(readFileSync(modules.attack))
      const held = (await buyer.quoteJob(product, {
        module: sleeper,
        args: ['attack', 'sleep'],
      })) as SignedJobQuote
      const { channelId } = await buyer.openChannel(
        product.descriptor!.seller as Hex,
        BigInt(held.quote.maxUnits) * held.quote.unitPrice,
      )
      const job = await buyer.runJob(product, held, { channelId, args: ['attack', 'sleep'] })
      const iterator = job[Symbol.asyncIterator]()
      await iterator.next() // the job runs: its first record arrived

      const quote = await trickle([
        'job',
        'quote',
        stats,
        '--input',
        'air-quality',
        '--cpu-ms',
        '10000',
        '--json',
      ])
      expect(quote.code, quote.stderr).toBe(0)
      const rows = JSON.parse(quote.stdout) as {
        productId: string
        quote?: { cpuMs: number }
        maxPrice?: string
        decline?: { reason: string }
        picked: boolean
      }[]
      expect(rows).toHaveLength(3)
      const of = (server: { products: readonly { productId: bigint }[] }) =>
        rows.find((r) => r.productId === server.products[0]!.productId.toString())!
      expect(of(busy).decline?.reason).toBe('at_capacity')
      // `cheap` is cheapest but holds a job to 2 s of CPU: the npm start provider wins.
      expect(of(cheap).quote?.cpuMs).toBe(2_000)
      expect(BigInt(of(cheap).maxPrice!)).toBeLessThan(BigInt(rows.find((r) => r.picked)!.maxPrice!))
      expect(rows.filter((r) => r.picked).map((r) => r.productId)).toEqual([
        rows.find((r) => r !== of(cheap) && r !== of(busy))!.productId,
      ])
      // Without the CPU need, the cheapest wins.
      const any = JSON.parse(
        (await trickle(['job', 'quote', stats, '--input', 'air-quality', '--json'])).stdout,
      ) as typeof rows
      expect(any.find((r) => r.picked)!.productId).toBe(cheap.products[0]!.productId.toString())
      await job.cancel()
      await buyer.close()
      rpc.destroy()
    } finally {
      writeFileSync(config, JSON.stringify(localConfig(market)))
      await cheap.close()
      await busy.close()
    }
  })

  it('says so when no provider runs such jobs, and refuses a price nobody meets', async () => {
    const none = await trickle(['job', 'quote', stats, '--input', 'no-such-dataset'])
    expect(none.code).toBe(0)
    expect(none.stdout).toContain('no provider runs such jobs')
    const cheap = await trickle([
      'job',
      'run',
      stats,
      '--input',
      'air-quality',
      '--max-price',
      '1wei',
      '--out',
      join(dir, 'x'),
    ])
    expect(cheap.code).toBe(1)
    expect(cheap.stderr).toContain('no quote is within --max-price and gives --cpu-ms')
  })
})

/** A buyer client of `market` paying with anvil account `index`. */
async function buyerOf(market: LocalMarketplace, index: number, gateways: string[]) {
  const provider = new JsonRpcProvider(market.rpcUrl, market.chainId, {
    staticNetwork: true,
    cacheTimeout: -1,
  })
  const buyer = await BuyerClient.create({
    wallet: new Wallet(market.buyerKeys[index]!, provider),
    ...market.config,
    gateways,
  })
  return { buyer, provider }
}
