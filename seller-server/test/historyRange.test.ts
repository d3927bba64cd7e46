// Issue 13, "History for sale": a seller process records what mosquitto delivers and sells ranges of
// it as finite paid streams (SPEC.md §History) — by time, the latest N, resumed after the seller is
// killed mid-range, and a backfill followed by live readings.
import { mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { type LocalMarketplace, startLocalMarketplace } from '@trickle/devnet'
import { type Hex, hasCode } from '@trickle/protocol'
import type { BuyerClient, CatalogProduct, Chunk, StreamOptions } from '@trickle/sdk'
import type { JsonRpcProvider } from 'ethers'
import mqtt from 'mqtt'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Mosquitto, startMosquitto } from '../../devices/test/helpers/mosquitto.ts'
import { buyerFor } from './helpers/buyer.ts'
import { freePort, ledgerIn, type SellerProcess, spawnMarketSeller } from './helpers/spawnSeller.ts'

const PRICE = 1_000_000_000_000n // wei per chunk
const DATASET_PRICE = 400_000_000_000n // wei per chunk of the recording sold as a dataset
const SELLER_KEY_INDEX = 8 // anvil account 8: a seller process of its own
/** the topic of the Air Quality product `co`, the first of `airQualityProducts` */
const TOPIC = 'trickle/airquality-uci/co'

async function until(predicate: () => boolean, ms: number, what: string) {
  const deadline = Date.now() + ms
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const numberOf = (chunk: Chunk) => (JSON.parse(new TextDecoder().decode(chunk.data)) as { n: number }).n

describe('history ranges (mosquitto, seller process, anvil)', () => {
  let broker: Mosquitto
  let market: LocalMarketplace
  let publisher: mqtt.MqttClient
  let seller: SellerProcess
  let dataDir: string
  let port: number
  let buyer: BuyerClient
  let provider: JsonRpcProvider
  let product: CatalogProduct
  let channelId: Hex
  const children: SellerProcess[] = []
  /** the times (ms) between the batches the seller recorded: before batch 0, 1, 2 and after 2 */
  const marks: number[] = []

  /** readings the seller recorded, read from its own SQLite file alongside it */
  const recorded = () => {
    const file = readdirSync(dataDir, { recursive: true, encoding: 'utf8' }).find((f) =>
      f.endsWith('readings.sqlite'),
    )
    if (!file) return 0
    const db = new DatabaseSync(join(dataDir, file), { readOnly: true })
    try {
      return Number((db.prepare('SELECT COUNT(*) AS n FROM readings').get() as { n: number }).n)
    } finally {
      db.close()
    }
  }
  const publish = async (from: number, to: number) => {
    for (let n = from; n < to; n++) await publisher.publishAsync(TOPIC, JSON.stringify({ n }), { qos: 1 })
    await until(() => recorded() >= to, 20_000, `the seller to record ${to} readings`)
  }
  const startSeller = async () => {
    seller = await spawnMarketSeller(market, {
      keyIndex: SELLER_KEY_INDEX,
      dataDir,
      port,
      price: PRICE,
      datasetPrice: DATASET_PRICE,
    })
    children.push(seller)
  }
  /** every reading of a stream, with its summary */
  const buy = async (options: Partial<StreamOptions>) => {
    const stream = await buyer.stream(product, { channelId, maxSpend: PRICE * 10_000n, ...options })
    const got: number[] = []
    for await (const chunk of stream) got.push(numberOf(chunk))
    return { got, summary: await stream.finished }
  }

  beforeAll(async () => {
    broker = await startMosquitto({ persistence: true })
    market = await startLocalMarketplace({
      brokerUrl: broker.url,
      rowsPerSecond: 0,
      pricePerChunk: PRICE,
      logger: pino({ level: 'silent' }),
    })
    dataDir = mkdtempSync(join(tmpdir(), 'trickle-history-'))
    port = await freePort()
    await startSeller()
    publisher = await mqtt.connectAsync(broker.url, { reconnectPeriod: 100 })
    // Three batches of 100 readings, recorded at times the test can tell apart.
    for (let batch = 0; batch < 3; batch++) {
      await new Promise((r) => setTimeout(r, 30))
      marks.push(Date.now())
      await new Promise((r) => setTimeout(r, 30))
      await publish(batch * 100, batch * 100 + 100)
    }
    await new Promise((r) => setTimeout(r, 30))
    marks.push(Date.now())
    ;({ buyer, provider } = await buyerFor(market, { gateway: seller.httpUrl, keyIndex: 6 }))
    product = await buyer.product(seller.products[0]!)
    ;({ channelId } = await buyer.openChannel(seller.address as Hex, PRICE * 100_000n))
  }, 120_000)
  afterAll(async () => {
    await publisher?.endAsync()
    await buyer?.close()
    provider?.destroy()
    for (const child of children) await child.kill()
    await market?.stop()
    await broker?.close()
  })

  it('sells exactly the readings recorded between from and to, pays one price for each, and ends done', async () => {
    const { got, summary } = await buy({ range: { from: marks[1]!, to: marks[2]! } })
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => 100 + i))
    expect(summary.reason).toBe('done')
    expect(summary.range).toMatchObject({ count: 100, live: false })
    expect(summary.range!.from).toBeGreaterThanOrEqual(marks[1]!)
    expect(summary.range!.to).toBeLessThanOrEqual(marks[2]!)
    expect(summary.paid).toBe(100n * PRICE)
    // The seller holds the receipt for all of it.
    const ledger = ledgerIn(dataDir)
    try {
      expect((await ledger.latest(channelId))?.amount).toBe(summary.cumulativeAmount)
    } finally {
      await ledger.close()
    }
  })

  it('sells the recording as a dataset product: its own price, everything held by default, never live', async () => {
    const dataset = await buyer.product(seller.products.at(-1)!)
    expect(dataset.descriptor).toMatchObject({ kind: 'dataset', pricePerChunk: DATASET_PRICE.toString() })
    expect(await buyer.history(dataset, { from: marks[1]!, to: marks[2]! })).toMatchObject({ count: 100 })
    const buyDataset = async (options: Partial<StreamOptions>) => {
      const stream = await buyer.stream(dataset, { channelId, maxSpend: DATASET_PRICE * 10_000n, ...options })
      const got: number[] = []
      for await (const chunk of stream) got.push(numberOf(chunk))
      return { got, summary: await stream.finished }
    }
    const part = await buyDataset({ range: { from: marks[1]!, to: marks[2]! } })
    expect(part.got).toEqual(Array.from({ length: 100 }, (_, i) => 100 + i))
    expect(part.summary.paid).toBe(100n * DATASET_PRICE)
    // No range: the whole recording held; the terms say how many, so the buyer ends when it has them.
    const whole = await buyDataset({})
    expect(whole.got).toEqual(Array.from({ length: 300 }, (_, i) => i))
    expect(whole.summary.reason).toBe('done')
    expect(whole.summary.range).toMatchObject({ count: 300, live: false })
    expect(whole.summary.paid).toBe(300n * DATASET_PRICE)
    await expect(buyDataset({ range: { last: 5, live: true } })).rejects.toSatisfy((err: unknown) =>
      hasCode(err, 'RANGE_UNAVAILABLE'),
    )
  })

  it('sells the latest N readings, and a range that goes on live after them', async () => {
    const last = await buy({ range: { last: 30 } })
    expect(last.got).toEqual(Array.from({ length: 30 }, (_, i) => 270 + i))
    expect(last.summary.paid).toBe(30n * PRICE)

    const stream = await buyer.stream(product, {
      channelId,
      maxSpend: PRICE * 1_000n,
      range: { last: 5, live: true },
    })
    const got: number[] = []
    const reading = (async () => {
      for await (const chunk of stream) {
        got.push(numberOf(chunk))
        if (got.length === 15) break
      }
    })()
    await until(() => got.length >= 5, 20_000, 'the backfill')
    await publish(300, 310)
    await reading
    expect(got).toEqual(Array.from({ length: 15 }, (_, i) => 295 + i))
    const summary = await stream.finished
    expect(summary.range).toMatchObject({ count: 5, live: true })
  })

  it('refuses a range that holds no reading before anything is paid', async () => {
    const before = (await buyer.channel(channelId)).claimed
    const empty = buy({ range: { from: 1_000, to: 2_000 } })
    await expect(empty).rejects.toSatisfy((err: unknown) => hasCode(err, 'RANGE_UNAVAILABLE'))
    expect((await buyer.channel(channelId)).claimed).toBe(before)
  })

  it('resumes a range after the seller is killed mid-range: every reading once, none paid twice beyond one credit window', async () => {
    const stream = await buyer.stream(product, {
      channelId,
      maxSpend: PRICE * 10_000n,
      range: { from: marks[0]!, to: marks[3]! },
      maxBufferedChunks: 1,
      reconnect: { attempts: 40, baseDelayMs: 200, maxDelayMs: 500 },
    })
    const got: number[] = []
    let killed = false
    for await (const chunk of stream) {
      got.push(numberOf(chunk))
      if (got.length === 120 && !killed) {
        killed = true
        await seller.kill()
        await startSeller()
      }
    }
    const summary = await stream.finished
    expect(killed).toBe(true)
    expect(got).toEqual(Array.from({ length: 300 }, (_, i) => i))
    expect(summary.reason).toBe('done')
    // Chunks received but not durably paid when the seller died are sent again and signed again at
    // the amounts already signed: at most one credit window (16) of them is paid twice.
    expect(summary.paid).toBeGreaterThanOrEqual(300n * PRICE)
    expect(summary.paid - 300n * PRICE).toBeLessThanOrEqual(16n * PRICE)
  }, 120_000)
})
