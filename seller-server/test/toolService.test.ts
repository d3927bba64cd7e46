// Issue 13: a seller sells its own sensors with `trickle-seller` — a config file, the service as its
// own process on a real anvil and a real mosquitto, a buyer through the SDK, then earnings, channels,
// claim and update from the command line.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { channelsAt, registryAt } from '@trickle/contracts'
import { type Deployment, deployContracts, type LocalChain, startLocalChain } from '@trickle/devnet'
import type { Hex } from '@trickle/protocol'
import { BuyerClient, type PaidStream } from '@trickle/sdk'
import { JsonRpcProvider, Wallet } from 'ethers'
import mqtt from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, type Mosquitto, startMosquitto } from '../../devices/test/helpers/mosquitto.ts'
import type { ReloadOutcome } from '../src/tool/controlSocket.ts'
import { type Scrape, scrapeMetrics } from './helpers/metrics.ts'
import { runTool, spawnService, type ToolService } from './helpers/sellerTool.ts'

const PAYEE = 3
const BUYER = 2
/** the buyer of the live-session tests (its own channel) */
const LIVE_BUYER = 4
const AIR_PRICE = 1_000_000_000_000n // "0.000001 ETH"
const STILL_PRICE = 5_000_000_000_000n // "5000 gwei"
const NEW_AIR_PRICE = 2_000_000_000_000n // "0.000002 ETH"

/** The seller's config: a wildcard JSON product, a binary product, and one to drop later. */
function configYaml(o: {
  deployment: Deployment
  rpcUrl: string
  port: number
  brokerUrl: string
  old: boolean
  /** the sensors' price (default "0.000001 ETH") */
  sensorsPrice?: string
  /** `metrics:` in the config, when given */
  metrics?: boolean
}) {
  return `# a synthetic office, not air quality
chain:
  rpcUrl: ${o.rpcUrl}
  chainId: 31337
  registry: "${o.deployment.registry}"
  channels: "${o.deployment.channels}"
  deployBlock: ${o.deployment.deployBlock}
payee:
  keyFile: payee.key
dataDir: data
listen: { host: 127.0.0.1, port: ${o.port} }
${o.metrics === undefined ? '' : `metrics: ${o.metrics}\n`}broker:
  url: ${o.brokerUrl}
settlement:
  claimThreshold: "1000 ETH"      # never on its own: the test claims
  claimOnSessionEnd: false
  pollIntervalMs: 100
  sweepIntervalMs: 500
products:
  - key: office1-sensors
    name: Office 1 sensors
    description: every sensor of office 1, one JSON reading per chunk
    topics: [office1/sensors/#]
    fields: [{ name: co2, unit: ppm }, { name: temp, unit: °C }, { name: rh, unit: "%" }]
    pricePerChunk: "${o.sensorsPrice ?? '0.000001 ETH'}"
    chunksPerSecond: 60
    tags: [office, co2]
    location: { lat: 48.14, lon: 11.58 }
    source: { title: Office 1, licence: CC0, attribution: the test }
  - key: office1-door
    name: Office 1 door stills
    description: raw bytes of the door sensor
    topics: [office1/door/still]
    pricePerChunk: "5000 gwei"
    encoding: application/octet-stream
    chunkUnit: one still
    maxChunkBytes: 1024
    window: { initial: 4, step: 4, max: 32 }
    receiptEvery: 2
${
  o.old
    ? `  - key: office1-old
    name: Office 1 old feed
    topics: [office1/old]
    pricePerChunk: 1000
`
    : ''
}`
}

describe('trickle-seller: a seller’s own sensors, sold and paid (anvil, mosquitto)', () => {
  let chain: LocalChain
  let deployment: Deployment
  let broker: Mosquitto
  let dir: string
  let config: string
  let port: number
  let service: ToolService | undefined
  let publisher: mqtt.MqttClient
  let publishing: NodeJS.Timeout | undefined
  /** the buyer's channel and what its receipts add up to, once the buyer is done */
  let lateChannel: { channelId: Hex; total: bigint; late: bigint } | undefined
  /** payloads published per product, in order */
  const published = { sensors: [] as Buffer[], door: [] as Buffer[] }
  /** the live-session tests' buyer and its channel */
  let live: { buyer: BuyerClient; provider: JsonRpcProvider; channelId: Hex } | undefined
  /** sensor readings {@link pumpUntil} published, in order */
  const pumped: Buffer[] = []

  const write = (old: boolean, more: { sensorsPrice?: string; metrics?: boolean } = {}) =>
    writeFileSync(
      config,
      configYaml({ deployment, rpcUrl: chain.rpcUrl, port, brokerUrl: broker.url, old, ...more }),
    )

  beforeAll(async () => {
    chain = await startLocalChain()
    deployment = await deployContracts(new Wallet(chain.privateKeys[0]!, chain.provider), {
      challengePeriodSeconds: 3600n,
    })
    broker = await startMosquitto()
    dir = mkdtempSync(join(tmpdir(), 'trickle-tool-'))
    config = join(dir, 'trickle-seller.yaml')
    writeFileSync(join(dir, 'payee.key'), `${chain.privateKeys[PAYEE]}\n`, { mode: 0o600 })
    port = await freePort()
    write(true)
    publisher = await mqtt.connectAsync(broker.url)
  })
  afterAll(async () => {
    clearInterval(publishing)
    await live?.buyer.close()
    live?.provider.destroy()
    await service?.stop()
    await publisher?.endAsync(true)
    await broker?.close()
    await chain?.stop()
  })

  /** the publishing round running now */
  let publishingRound: Promise<void> = Promise.resolve()
  /** Publishes a round of readings every 25 ms: three sensor topics, one binary still. */
  function startPublishing() {
    let n = 0
    let busy = false
    publishing = setInterval(() => {
      if (busy) return
      busy = true
      const round = n++
      publishingRound = (async () => {
        for (const sensor of ['co2', 'temp', 'rh']) {
          const payload = Buffer.from(JSON.stringify({ sensor, n: round, value: round % 7 }))
          published.sensors.push(payload)
          await publisher.publishAsync(`office1/sensors/${sensor}`, payload, { qos: 1 })
        }
        const still = randomBytes(64 + (round % 200))
        published.door.push(still)
        await publisher.publishAsync('office1/door/still', still, { qos: 1 })
        await publisher.publishAsync('office2/sensors/co2', 'not office 1', { qos: 1 })
      })().finally(() => {
        busy = false
      })
    }, 25)
  }

  /**
   * Publishes sensor readings on `office1/sensors/co2` (QoS 1), one every 20 ms, until `done()`.
   * @throws Error when `done()` is still false after 3,000 readings
   */
  async function pumpUntil(done: () => boolean): Promise<void> {
    for (let i = 0; !done(); i++) {
      if (i === 3_000) throw new Error('3,000 readings published, and the buyer still waits')
      const payload = Buffer.from(JSON.stringify({ sensor: 'co2', n: `pumped ${pumped.length}` }))
      pumped.push(payload)
      await publisher.publishAsync('office1/sensors/co2', payload, { qos: 1 })
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }

  /** Reads a paid stream in the background: `got` fills as chunks arrive, `ended` is its summary. */
  function consume(stream: PaidStream) {
    const got: Uint8Array[] = []
    const ended = (async () => {
      for await (const chunk of stream) got.push(chunk.data)
      return stream.finished
    })()
    return { got, ended }
  }

  /**
   * Waits until `check()` holds, looking every 100 ms, at most `tries` times.
   * @throws Error when it never held
   */
  async function until(what: string, check: () => boolean | Promise<boolean>, tries = 300): Promise<void> {
    for (let i = 0; i < tries; i++) {
      if (await check()) return
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    throw new Error(`${what}: not after ${tries} looks`)
  }

  /** Whether `got` is a run of consecutive items of `all`, byte for byte. */
  function consecutiveIn(all: readonly Buffer[], got: readonly Uint8Array[]): boolean {
    const first = all.findIndex((p) => p.equals(got[0]!))
    return first >= 0 && got.every((g, i) => all[first + i]?.equals(g) === true)
  }

  it('starts as its own process, waits for the broker, and shuts down on SIGTERM', async () => {
    // Without the broker: it waits and says so, instead of exiting.
    await broker.kill()
    service = spawnService(config)
    await service.waitFor(/waiting for the MQTT broker at mqtt:\/\/127\.0\.0\.1:\d+/, 30_000)
    await broker.restart()
    const ready = await service.waitFor(/^ready$/, 60_000)
    expect(ready).toBe('ready')
    expect(service.output).toMatch(/product 1 +office1-sensors +Office 1 sensors/)
    expect(service.output).toMatch(/product 2 +office1-door/)
    expect(service.output).toMatch(/product 3 +office1-old/)
  })

  it('sells a wildcard product and a binary product: the buyer gets the published bytes, in order', async () => {
    startPublishing()
    const provider = new JsonRpcProvider(chain.rpcUrl, 31337, {
      staticNetwork: true,
      cacheTimeout: -1,
      pollingInterval: 100,
    })
    const buyer = await BuyerClient.create({
      wallet: new Wallet(chain.privateKeys[BUYER]!, provider),
      chainId: 31337,
      registry: deployment.registry as Hex,
      channels: deployment.channels as Hex,
      deployBlock: deployment.deployBlock,
      gateways: [`http://127.0.0.1:${port}`],
    })
    try {
      const catalog = await buyer.products()
      const sensors = catalog.find((p) => p.descriptor?.name === 'Office 1 sensors')!
      const door = catalog.find((p) => p.descriptor?.name === 'Office 1 door stills')!
      expect(sensors.descriptor).toMatchObject({
        topics: ['office1/sensors/#'],
        pricePerChunk: AIR_PRICE.toString(),
        chunksPerSecond: 60,
        chunk: { encoding: 'application/json', maxBytes: 4096 },
      })
      expect(door.descriptor?.chunk).toEqual({
        encoding: 'application/octet-stream',
        maxBytes: 1024,
        unit: 'one still',
      })

      const seller = sensors.descriptor!.seller
      const { channelId } = await buyer.openChannel(seller, 10n ** 17n)
      const take = async (product: typeof sensors, n: number, price: bigint) => {
        const stream = await buyer.stream(product, { channelId, maxSpend: price * BigInt(n), maxChunks: n })
        const got: Uint8Array[] = []
        for await (const chunk of stream) got.push(chunk.data)
        const summary = await stream.finished
        return { got, summary }
      }
      const a = await take(sensors, 45, AIR_PRICE)
      expect(a.got).toHaveLength(45)
      expect(consecutiveIn(published.sensors, a.got)).toBe(true)
      // all three topics came through the one `#` filter
      const topics = new Set(
        a.got.map((g) => (JSON.parse(Buffer.from(g).toString()) as { sensor: string }).sensor),
      )
      expect(topics).toEqual(new Set(['co2', 'temp', 'rh']))

      const b = await take(door, 12, STILL_PRICE)
      expect(b.got).toHaveLength(12)
      expect(consecutiveIn(published.door, b.got)).toBe(true)
      expect(a.summary.paid + b.summary.paid).toBe(45n * AIR_PRICE + 12n * STILL_PRICE)

      // The payee's view before any claim: everything outstanding.
      const paid = a.summary.paid + b.summary.paid
      const channels = await runTool(['--config', config, 'channels', '--json'])
      expect(channels.code, channels.stderr).toBe(0)
      const rows = JSON.parse(channels.stdout) as {
        channelId: string
        claimed: string
        outstanding: string
        deposit: string
      }[]
      expect(rows).toEqual([
        expect.objectContaining({
          channelId,
          claimed: '0',
          outstanding: paid.toString(),
          deposit: (10n ** 17n).toString(),
        }),
      ])
      const before = await runTool(['--config', config, 'earnings', '--json'])
      expect(before.code, before.stderr).toBe(0)
      const report = JSON.parse(before.stdout) as {
        total: { claimed: string; unclaimed: string }
        products: { key: string; claimed: string; unclaimed: string }[]
      }
      expect(report.total).toEqual({ claimed: '0', unclaimed: paid.toString() })
      expect(report.products).toEqual([
        expect.objectContaining({
          key: 'office1-sensors',
          claimed: '0',
          unclaimed: (45n * AIR_PRICE).toString(),
        }),
        expect.objectContaining({
          key: 'office1-door',
          claimed: '0',
          unclaimed: (12n * STILL_PRICE).toString(),
        }),
      ])
      const human = await runTool(['--config', config, 'earnings'])
      expect(human.stdout).toContain(`unclaimed ${Number(paid) / 1e18} ETH`)

      // claim, through the running service: the claim equals the receipts
      const claim = await runTool(['--config', config, 'claim', channelId])
      expect(claim.code, claim.stderr).toBe(0)
      expect(claim.stdout).toContain(`claimed ${Number(paid) / 1e18} ETH`)
      const view = await channelsAt(deployment.channels, provider).getChannel(channelId)
      expect(view.claimed).toBe(paid)
      const after = JSON.parse(
        (await runTool(['--config', config, 'earnings', '--json', '--wei'])).stdout,
      ) as typeof report
      expect(after.total).toEqual({ claimed: paid.toString(), unclaimed: '0' })
      expect(after.products.map((p) => [p.key, p.claimed])).toEqual([
        ['office1-sensors', (45n * AIR_PRICE).toString()],
        ['office1-door', (12n * STILL_PRICE).toString()],
      ])

      // More readings after the claim: left unclaimed for the claim without the service, below.
      const c = await take(sensors, 5, AIR_PRICE)
      expect(consecutiveIn(published.sensors, c.got)).toBe(true)
      lateChannel = { channelId, total: paid + c.summary.paid, late: c.summary.paid }

      const products = await runTool(['--config', config, 'products'])
      expect(products.code, products.stderr).toBe(0)
      expect(products.stdout).toMatch(/1 +office1-sensors +active +0\.000001 ETH +\d+ +Office 1 sensors/)
      expect(products.stdout).toMatch(/2 +office1-door +active +0\.000005 ETH/)
      expect(products.stdout).toMatch(/service: running, \d+ session\(s\) live now/)
    } finally {
      await buyer.close()
      provider.destroy()
    }
  })

  it('counts a live session per product in /metrics and `products` while it streams, and a claim in the claim metrics', async () => {
    // The office's own publishing stops: the readings of these sessions are published one by one,
    // so that a session can sit idle (open, nothing owed) while the test scrapes and runs commands.
    clearInterval(publishing)
    await publishingRound
    const provider = new JsonRpcProvider(chain.rpcUrl, 31337, {
      staticNetwork: true,
      cacheTimeout: -1,
      pollingInterval: 100,
    })
    const buyer = await BuyerClient.create({
      wallet: new Wallet(chain.privateKeys[LIVE_BUYER]!, provider),
      chainId: 31337,
      registry: deployment.registry as Hex,
      channels: deployment.channels as Hex,
      deployBlock: deployment.deployBlock,
      gateways: [`http://127.0.0.1:${port}`],
    })
    const sensors = (await buyer.products()).find((p) => p.descriptor?.name === 'Office 1 sensors')!
    const { channelId } = await buyer.openChannel(sensors.descriptor!.seller, 10n ** 17n)
    live = { buyer, provider, channelId }

    const httpUrl = `http://127.0.0.1:${port}`
    const SENSORS = { product: 'office1-sensors' }
    const DOOR = { product: 'office1-door' }
    const before = await scrapeMetrics(httpUrl)
    expect(before.status).toBe(200)
    /** the change of a sample since `before` (absent samples count 0) */
    const delta = (s: Scrape, name: string, labels: Record<string, string> = {}) =>
      s.sum(name, labels) - before.sum(name, labels)
    expect(before.value('trickle_seller_sessions_open', SENSORS)).toBe(0)

    const N = 40
    const a = consume(
      await buyer.stream(sensors, { channelId, maxSpend: AIR_PRICE * BigInt(N), maxChunks: N }),
    )
    await pumpUntil(() => a.got.length >= 10)
    const held = a.got.length
    const first = await scrapeMetrics(httpUrl)
    expect(first.value('trickle_seller_sessions_open', SENSORS)).toBe(1)
    expect(first.value('trickle_seller_sessions_open', DOOR)).toBe(0)
    expect(delta(first, 'trickle_seller_sessions_started_total', SENSORS)).toBe(1)
    // what the buyer holds was sent; the seller sends no more than the buyer asked for
    expect(delta(first, 'trickle_seller_chunks_sent_total', SENSORS)).toBeGreaterThanOrEqual(held)
    expect(delta(first, 'trickle_seller_chunks_sent_total', SENSORS)).toBeLessThanOrEqual(N)
    expect(first.value('trickle_seller_broker_connected')).toBe(1)
    expect(first.value('trickle_seller_rpc_healthy')).toBe(1)
    // The session is idle (nothing published), so it stays open however long the command takes.
    const during = await runTool(['--config', config, 'products'])
    expect(during.code, during.stderr).toBe(0)
    expect(during.stdout).toMatch(/1 +office1-sensors +active +0\.000001 ETH +1 +Office 1 sensors/)
    expect(during.stdout).toMatch(/2 +office1-door +active +0\.000005 ETH +0 +Office 1 door stills/)
    expect(during.stdout).toMatch(/service: running, 1 session\(s\) live now/)

    await pumpUntil(() => a.got.length >= 25)
    const second = await scrapeMetrics(httpUrl)
    expect(delta(second, 'trickle_seller_chunks_sent_total', SENSORS)).toBeGreaterThan(
      delta(first, 'trickle_seller_chunks_sent_total', SENSORS),
    )
    expect(second.value('trickle_seller_sessions_open', SENSORS)).toBe(1)

    await pumpUntil(() => a.got.length >= N)
    const summary = await a.ended
    expect(summary).toMatchObject({ chunks: N, paid: AIR_PRICE * BigInt(N) })
    expect(a.got).toHaveLength(N)

    // Ended: the seller sent exactly what the buyer got and stored its receipts.
    let ended = await scrapeMetrics(httpUrl)
    await until('the session counted as ended', async () => {
      ended = await scrapeMetrics(httpUrl)
      return ended.value('trickle_seller_sessions_open', SENSORS) === 0
    })
    expect(delta(ended, 'trickle_seller_chunks_sent_total', SENSORS)).toBe(N)
    expect(delta(ended, 'trickle_seller_chunk_bytes_sent_total', SENSORS)).toBe(
      a.got.reduce((sum, g) => sum + g.byteLength, 0),
    )
    expect(delta(ended, 'trickle_seller_chunks_sent_total', DOOR)).toBe(0)
    // one served session ended (its reason is the buyer's `done`, or `disconnected` if the socket closed first)
    expect(delta(ended, 'trickle_seller_sessions_ended_total', SENSORS)).toBe(1)
    expect(delta(ended, 'trickle_seller_receipts_stored_total', SENSORS)).toBeGreaterThanOrEqual(N / 8)
    const after = JSON.parse((await runTool(['--config', config, 'products', '--json'])).stdout) as {
      products: { key: string; sessions: number | null }[]
      sessions: number | null
    }
    expect(after.products.map((p) => [p.key, p.sessions])).toEqual([
      ['office1-sensors', 0],
      ['office1-door', 0],
      ['office1-old', 0],
    ])
    expect(after.sessions).toBe(0)

    // A claim through the service: sent, mined, its gas and what it paid.
    const claim = await runTool(['--config', config, 'claim', channelId])
    expect(claim.code, claim.stderr).toBe(0)
    const txHash = /in (0x[0-9a-f]{64})/.exec(claim.stdout)?.[1]
    expect(txHash, claim.stdout).toBeDefined()
    const mined = (await provider.getTransactionReceipt(txHash!))!
    // The service records the mined claim after the command returns: wait for its gauges.
    let claimed = await scrapeMetrics(httpUrl)
    await until('the claim recorded', async () => {
      claimed = await scrapeMetrics(httpUrl)
      return (
        claimed.value('trickle_seller_unclaimed_wei') === before.value('trickle_seller_unclaimed_wei') &&
        delta(claimed, 'trickle_seller_claims_mined_total') === 1
      )
    })
    expect(delta(claimed, 'trickle_seller_claims_sent_total')).toBe(1)
    expect(delta(claimed, 'trickle_seller_claims_mined_total')).toBe(1)
    expect(delta(claimed, 'trickle_seller_claims_failed_total')).toBe(0)
    expect(delta(claimed, 'trickle_seller_claimed_wei_total')).toBe(Number(summary.paid))
    expect(delta(claimed, 'trickle_seller_claim_gas_used_total')).toBe(Number(mined.gasUsed))
    expect(delta(claimed, 'trickle_seller_claim_gas_cost_wei_total')).toBe(
      Number(mined.gasUsed * mined.gasPrice),
    )
    // this channel's receipts are all claimed again: what stays unclaimed is the earlier channel's
    expect(claimed.value('trickle_seller_unclaimed_wei')).toBe(before.value('trickle_seller_unclaimed_wei'))
    expect(claimed.value('trickle_seller_unpaid_exposure_wei')).toBe(0)
  })

  it('update while serving: the changed price goes on-chain in one transaction, new sessions pay it, the live one keeps its terms; a SIGHUP without changes sends nothing; a dropped product is deactivated', async () => {
    const { buyer, channelId } = live!
    const registry = registryAt(deployment.registry, chain.provider)
    const sensors = (await buyer.products()).find((p) => p.descriptor?.name === 'Office 1 sensors')!
    const a = consume(await buyer.stream(sensors, { channelId, maxSpend: AIR_PRICE * 20n, maxChunks: 20 }))
    await pumpUntil(() => a.got.length >= 5)

    const height = await chain.provider.getBlockNumber()
    const cid = (await registry.getProduct(1n)).descriptorCid
    write(true, { sensorsPrice: '0.000002 ETH' })
    const update = await runTool(['--config', config, 'update', '--json'])
    expect(update.code, update.stderr).toBe(0)
    const report = JSON.parse(update.stdout) as ReloadOutcome
    expect(report.products.map((p) => [p.key, p.productId, p.changed, p.pricePerChunk])).toEqual([
      ['office1-sensors', '1', true, NEW_AIR_PRICE.toString()],
      ['office1-door', '2', false, STILL_PRICE.toString()],
      ['office1-old', '3', false, '1000'],
    ])
    expect(report.deactivated).toEqual([])
    expect(report.restartNeeded).toEqual([])
    // one transaction (anvil mines one block per transaction): the sensors' update
    expect(await chain.provider.getBlockNumber()).toBe(height + 1)
    expect((await registry.getProduct(1n)).descriptorCid).not.toBe(cid)
    expect(service!.output).toMatch(/product 1 +office1-sensors +updated/)

    // The live session keeps the price it agreed to.
    await pumpUntil(() => a.got.length >= 20)
    expect(await a.ended).toMatchObject({ chunks: 20, paid: 20n * AIR_PRICE })

    // A new session gets the new price in its terms (the catalog shows it too).
    const repriced = (await buyer.products()).find((p) => p.productId === 1n)!
    expect(repriced.descriptor?.pricePerChunk).toBe(NEW_AIR_PRICE.toString())
    const b = consume(await buyer.stream(repriced, { channelId, maxSpend: NEW_AIR_PRICE * 5n, maxChunks: 5 }))
    await pumpUntil(() => b.got.length >= 5)
    expect(await b.ended).toMatchObject({ chunks: 5, paid: 5n * NEW_AIR_PRICE })
    expect(consecutiveIn(pumped, b.got)).toBe(true)

    // SIGHUP with the file as it is: every product unchanged, no transaction.
    const mark = service!.output.length
    const still = await chain.provider.getBlockNumber()
    service!.child.kill('SIGHUP')
    await until(
      'the reload to report',
      () => (service!.output.slice(mark).match(/ unchanged /g) ?? []).length === 3,
    )
    expect(service!.output.slice(mark)).toMatch(/product 1 +office1-sensors +unchanged/)
    expect(await chain.provider.getBlockNumber()).toBe(still)
    const status = await runTool(['--config', config, 'products', '--json'])
    expect(status.code, status.stderr).toBe(0)

    // A new product needs a restart: refused, nothing changes.
    writeFileSync(
      config,
      `${configYaml({ deployment, rpcUrl: chain.rpcUrl, port, brokerUrl: broker.url, old: true, sensorsPrice: '0.000002 ETH' })}  - key: office1-new
    name: Office 1 new feed
    topics: [office1/new]
    pricePerChunk: 1000
`,
    )
    const refused = await runTool(['--config', config, 'update'])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(
      /^error INVALID_ARGUMENT: office1-new is a new product: restart the seller/,
    )
    expect(await chain.provider.getBlockNumber()).toBe(still)

    // A product dropped from the config: deactivated in one transaction, the others untouched.
    write(false, { sensorsPrice: '0.000002 ETH' })
    const dropped = await runTool(['--config', config, 'update', '--json'])
    expect(dropped.code, dropped.stderr).toBe(0)
    const afterDrop = JSON.parse(dropped.stdout) as ReloadOutcome
    expect(afterDrop.deactivated).toEqual([{ key: 'office1-old', productId: '3' }])
    expect(afterDrop.products.map((p) => [p.key, p.changed])).toEqual([
      ['office1-sensors', false],
      ['office1-door', false],
    ])
    expect(await chain.provider.getBlockNumber()).toBe(still + 1)
    expect((await registry.getProduct(3n)).active).toBe(false)
    expect(service!.output).toContain('deactivated product 3 (office1-old): no longer in the config')
  })

  it('stops cleanly on SIGTERM; claims without the service; update publishes without the service', async () => {
    clearInterval(publishing)
    expect(await service!.stop()).toBe(0)
    expect(service!.output).toContain('stopped')
    service = undefined

    // Claims with the seller's settlement code in this process when no service runs.
    const claim = await runTool(['--config', config, 'claim'])
    expect(claim.code, claim.stderr).toBe(0)
    // what the late session paid: its 5 readings and any the seller had sent before it saw the close
    expect(claim.stdout).toContain(
      `${lateChannel!.channelId}  claimed ${Number(lateChannel!.late) / 1e18} ETH`,
    )
    const view = await channelsAt(deployment.channels, chain.provider).getChannel(lateChannel!.channelId)
    expect(view.claimed).toBe(lateChannel!.total)
    expect((await runTool(['--config', config, 'claim'])).stdout).toContain('nothing to claim')

    // Without the service, update publishes itself: the sensors' price back (office1-old was
    // deactivated by the running seller's update, above).
    write(false)
    const update = await runTool(['--config', config, 'update'])
    expect(update.code, update.stderr).toBe(0)
    expect(update.stdout).toMatch(/product 1 +office1-sensors +ipfs:\/\//)
    expect(update.stdout).not.toContain('deactivated')
    const registry = registryAt(deployment.registry, chain.provider)
    expect((await registry.getProduct(3n)).active).toBe(false)
    expect((await registry.getProduct(1n)).active).toBe(true)
    const products = JSON.parse((await runTool(['--config', config, 'products', '--json'])).stdout) as {
      products: { productId: string; key: string; active: boolean }[]
      sessions: number | null
    }
    expect(products.products.map((p) => [p.productId, p.key, p.active])).toEqual([
      ['1', 'office1-sensors', true],
      ['2', 'office1-door', true],
      ['3', 'office1-old', false],
    ])
    expect(products.sessions).toBeNull()
  })

  it('names the field and the line of a config error, and exits 2', async () => {
    const bad = join(dir, 'bad.yaml')
    writeFileSync(
      bad,
      configYaml({ deployment, rpcUrl: chain.rpcUrl, port, brokerUrl: broker.url, old: false }).replace(
        'pricePerChunk: "5000 gwei"',
        'pricePerChunk: five pence',
      ),
    )
    const run = await runTool(['--config', bad, 'start'])
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(
      /^error CONFIG_INVALID: .*bad\.yaml:\d+:20 products\[1\]\.pricePerChunk: must be an amount like "0\.000001 ETH"/,
    )
  })

  it('with `metrics: false` answers 404 on /metrics and serves the rest; a restart without changes sends no transaction', async () => {
    write(false, { metrics: false })
    const height = await chain.provider.getBlockNumber()
    service = spawnService(config)
    await service.waitFor(/^ready$/, 60_000)
    const metrics = await fetch(`http://127.0.0.1:${port}/metrics`)
    expect(metrics.status).toBe(404)
    const health = await fetch(`http://127.0.0.1:${port}/health`)
    expect(health.status).toBe(200)
    expect(await chain.provider.getBlockNumber()).toBe(height)
    expect(await service.stop()).toBe(0)
    service = undefined
  })
})
