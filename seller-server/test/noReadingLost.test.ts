// Issue 13, "No reading lost that the broker kept", end to end: a QoS 1 publisher, mosquitto with
// persistence, a seller process, and a reconnecting buyer, while the broker restarts and the seller
// is killed (SIGKILL) and started again on its data directory.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type LocalMarketplace, startLocalMarketplace } from '@trickle/devnet'
import type { Hex } from '@trickle/protocol'
import type { Chunk } from '@trickle/sdk'
import mqtt from 'mqtt'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Mosquitto, startMosquitto } from '../../devices/test/helpers/mosquitto.ts'
import { buyerFor } from './helpers/buyer.ts'
import { freePort, type SellerProcess, spawnMarketSeller } from './helpers/spawnSeller.ts'

const PRICE = 1_000_000_000_000n // wei per chunk
const SELLER_KEY_INDEX = 7 // anvil account 7: a seller process of its own
/** the topic of the Air Quality product `co`, the first of `airQualityProducts` */
const TOPIC = 'trickle/airquality-uci/co'
/** chunks a buyer may hold unsigned when its seller dies: the initial credit window (see below) */
const CREDIT_WINDOW = 16

/** Resolves once `predicate` holds, checking every 20 ms; rejects after `ms`. */
async function until(predicate: () => boolean, ms: number, what: string) {
  const deadline = Date.now() + ms
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/**
 * Publishes `{"n":0}`, `{"n":1}`, … at QoS 1, about 50 a second, one at a time; `accepted` are the
 * numbers the broker PUBACKed, in order. While the broker is down a publish waits for it (mqtt.js
 * sends it again after the reconnect).
 */
function startPublisher(client: mqtt.MqttClient) {
  const accepted: number[] = []
  let stopped = false
  const done = (async () => {
    for (let n = 0; !stopped; n++) {
      await client.publishAsync(TOPIC, JSON.stringify({ n }), { qos: 1 })
      accepted.push(n)
      await new Promise((r) => setTimeout(r, 20))
    }
  })()
  return {
    accepted,
    async stop() {
      stopped = true
      await done
    },
  }
}

describe('no reading lost that the broker kept (mosquitto with persistence, seller process)', () => {
  let broker: Mosquitto
  let market: LocalMarketplace
  const children: SellerProcess[] = []

  beforeAll(async () => {
    broker = await startMosquitto({ persistence: true })
    market = await startLocalMarketplace({
      brokerUrl: broker.url,
      rowsPerSecond: 0,
      pricePerChunk: PRICE,
      logger: pino({ level: 'silent' }),
    })
  })
  afterAll(async () => {
    for (const child of children) await child.kill()
    await market?.stop()
    await broker?.close()
  })

  it('delivers every reading the broker accepted once and in order through a broker restart and a seller SIGKILL, and the buyer pays for those', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'trickle-no-loss-'))
    const port = await freePort()
    const startSeller = async () => {
      const child = await spawnMarketSeller(market, {
        keyIndex: SELLER_KEY_INDEX,
        dataDir,
        port,
        price: PRICE,
      })
      children.push(child)
      return child
    }
    let seller = await startSeller()
    const { buyer, provider } = await buyerFor(market, { gateway: seller.httpUrl, keyIndex: 5 })
    const product = await buyer.product(seller.products[0]!)
    const deposit = PRICE * 100_000n
    const { channelId } = await buyer.openChannel(seller.address as Hex, deposit)
    const stream = await buyer.stream(product, {
      channelId,
      maxSpend: deposit,
      reconnect: { attempts: 40, baseDelayMs: 200, maxDelayMs: 500 },
    })
    const received: number[] = []
    const reading = (async () => {
      for await (const chunk of stream as AsyncIterable<Chunk>) {
        received.push((JSON.parse(new TextDecoder().decode(chunk.data)) as { n: number }).n)
      }
    })()
    const publisherClient = await mqtt.connectAsync(broker.url, { reconnectPeriod: 100 })
    const publisher = startPublisher(publisherClient)
    try {
      await until(() => received.length >= 50, 20_000, 'the first readings')

      // (a) The broker restarts; it keeps the seller's session and what it queued for it.
      await broker.stop()
      await new Promise((r) => setTimeout(r, 300))
      await broker.restart()
      const afterBroker = publisher.accepted.length
      await until(() => received.length >= afterBroker + 20, 20_000, 'readings after the broker restart')

      // (b) The seller is killed; the broker queues for its session; it starts again on its data dir.
      await seller.kill()
      const atKill = publisher.accepted.length
      await until(() => publisher.accepted.length >= atKill + 50, 20_000, 'readings published meanwhile')
      seller = await startSeller()
      const afterSeller = publisher.accepted.length
      await until(() => received.length >= afterSeller + 20, 30_000, 'readings after the seller restart')

      // The cut-off: everything the broker accepted reaches the buyer.
      await publisher.stop()
      const accepted = publisher.accepted
      await until(() => received.length >= accepted.length - received[0]!, 20_000, 'the last readings')
    } finally {
      await publisher.stop()
      await publisherClient.endAsync()
    }
    const summary = await stream.close()
    await reading

    // Live from the session's start (readings published before it are not for this buyer), then every
    // number the broker accepted, once, in order.
    const first = received[0]!
    expect(first).toBeLessThan(50)
    expect(received).toEqual(publisher.accepted.slice(first))

    // The buyer pays one price per reading it received, plus at most the chunks it held unsigned when
    // the seller died: the killed seller had not recorded them as the channel's debt and sends their
    // labels again, the buyer carries them (SPEC.md §Channel debt, as in crashDurability.test.ts). A
    // buyer signs a receipt every `receiptEvery` (8) chunks and cannot hold more unsigned than its
    // credit allows; the seller's receipt write is durable before it extends credit, so it is at most
    // one initial credit window (16).
    const paidFor = BigInt(received.length) * PRICE
    expect(summary.cumulativeAmount).toBeGreaterThanOrEqual(paidFor)
    expect(summary.cumulativeAmount - paidFor).toBeLessThanOrEqual(BigInt(CREDIT_WINDOW) * PRICE)
    expect((summary.cumulativeAmount - paidFor) % PRICE).toBe(0n)
    await buyer.close()
    provider.destroy()
  }, 180_000)
})
