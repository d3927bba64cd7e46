/**
 * Seller latency benchmark (issue 13): how much later a paying buyer gets a reading than a plain MQTT
 * subscriber of the same topic on the same broker, measured per reading in one process (one clock).
 * The benchmark publishes a CO reading every 20 ms (50/s, QoS 1, as the seller's guide has sensors
 * publish) and notes when; the seller bridges it to a paid WebSocket session (durable recording,
 * receipts, credit window, durable receipt store). Each reading's publish → arrival time is measured
 * for the plain subscriber and for the paying buyer; the seller-added figure is the buyer's arrival
 * minus the plain subscriber's arrival of the same message, so broker hops are excluded.
 *
 * The broker is a real mosquitto (`/usr/sbin/mosquitto`, on a free loopback port with a temp config)
 * when it is installed, else the embedded aedes broker; the figures' note names the one used.
 * `LATENCY_BENCH_READINGS` (default 1000) sets how many readings are measured, at 50 rows/s.
 */

import { existsSync } from 'node:fs'
import { encodeReading, sensorInfo } from '@trickle/devices'
import { MOSQUITTO_BIN, type Mosquitto, startLocalMarketplace, startMosquitto } from '@trickle/devnet'
import type { Address } from '@trickle/protocol'
import { BuyerClient } from '@trickle/sdk'
import { JsonRpcProvider, Wallet } from 'ethers'
import mqtt from 'mqtt'
import pino from 'pino'
import type { BenchMeasurement, Benchmark } from './results.ts'

const SECTION = 'Seller latency: MQTT publish → paying buyer, beyond a plain subscriber'
const READINGS = Number(process.env.LATENCY_BENCH_READINGS ?? '1000')

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN
}

export const sellerLatencyBenchmark: Benchmark = {
  name: 'latency',
  async run(): Promise<BenchMeasurement[]> {
    const mosquitto: Mosquitto | undefined = existsSync(MOSQUITTO_BIN) ? await startMosquitto() : undefined
    const broker = mosquitto ? 'mosquitto' : 'aedes (embedded)'
    const market = await startLocalMarketplace({
      rowsPerSecond: 0, // no replayer: the benchmark publishes, noting when
      logger: pino({ level: 'silent' }),
      ...(mosquitto ? { brokerUrl: mosquitto.url } : {}),
    }).catch(async (err: unknown) => {
      await mosquitto?.close()
      throw err
    })
    const provider = new JsonRpcProvider(market.rpcUrl, market.chainId, {
      staticNetwork: true,
      cacheTimeout: -1,
    })
    const plain = await mqtt.connectAsync(market.brokerUrl)
    const publisher = await mqtt.connectAsync(market.brokerUrl)
    let publishing: NodeJS.Timeout | undefined
    try {
      const client = await BuyerClient.create({
        ...market.config,
        wallet: new Wallet(market.buyerKeys[0]!, provider),
      })
      const product = (await client.products()).find((p) =>
        p.descriptor?.topics.some((t) => t.endsWith('/co')),
      )!
      const topic = product.descriptor!.topics[0]!
      const seenPlain = new Map<string, number>()
      plain.on('message', (_topic, payload) => seenPlain.set(payload.toString('utf8'), performance.now()))
      await plain.subscribeAsync(topic, { qos: 0 })
      // Readings every 20 ms, each unique (its row), published at QoS 1; `publishedAt` is taken just
      // before the client writes it.
      const publishedAt = new Map<string, number>()
      const co = sensorInfo('co')
      let row = 0
      publishing = setInterval(() => {
        const reading = new TextDecoder().decode(
          encodeReading({
            device: 'bench',
            sensor: co.key,
            column: co.column,
            row,
            time: new Date(Date.UTC(2026, 0, 1) + row * 1000).toISOString().slice(0, 19),
            value: row % 11,
            unit: co.unit,
          }),
        )
        row++
        publishedAt.set(reading, performance.now())
        publisher.publish(topic, reading, { qos: 1 })
      }, 20)
      const price = BigInt(product.descriptor!.pricePerChunk)
      const budget = price * BigInt(READINGS + 64)
      const { channelId } = await client.openChannel(product.descriptor!.seller as Address, budget)
      const stream = await client.stream(product, { channelId, maxSpend: budget, maxChunks: READINGS })
      /** the buyer's arrival time of each reading */
      const seenBuyer = new Map<string, number>()
      for await (const chunk of stream) seenBuyer.set(new TextDecoder().decode(chunk.data), performance.now())
      clearInterval(publishing)
      await stream.finished
      // On a loaded machine the broker may write to the seller before the plain subscriber, and the
      // buyer then gets a reading first (a negative added latency): give the plain subscriber up to
      // 100 × 10 ms to see every reading the buyer got.
      for (let i = 0; i < 100 && [...seenBuyer.keys()].some((r) => !seenPlain.has(r)); i++) {
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      const added: number[] = []
      const plainPublished: number[] = []
      const sellerPublished: number[] = []
      let unmatched = 0
      let buyerFirst = 0
      for (const [reading, at] of seenBuyer) {
        const plainAt = seenPlain.get(reading)
        const sentAt = publishedAt.get(reading)
        if (plainAt === undefined || sentAt === undefined) {
          unmatched++
          continue
        }
        if (at < plainAt) buyerFirst++
        added.push(at - plainAt)
        plainPublished.push(plainAt - sentAt)
        sellerPublished.push(at - sentAt)
      }
      added.sort((a, b) => a - b)
      const figure = (name: string, value: number, unit: string, note?: string): BenchMeasurement => ({
        section: SECTION,
        name,
        value: Number(value.toFixed(2)),
        unit,
        ...(note === undefined ? {} : { note }),
      })
      const plainLatency = plainPublished.sort((a, b) => a - b)
      const sellerLatency = sellerPublished.sort((a, b) => a - b)
      const via = `broker: ${broker}; publish (QoS 1) → arrival, ${READINGS} readings at 50/s, one clock`
      return [
        figure('seller-added latency p50', quantile(added, 0.5), 'ms', `broker: ${broker}`),
        figure('seller-added latency p99', quantile(added, 0.99), 'ms', `broker: ${broker}`),
        figure('seller-added latency max', added.at(-1) ?? Number.NaN, 'ms', `broker: ${broker}`),
        figure('plain subscriber latency p50', quantile(plainLatency, 0.5), 'ms', via),
        figure('plain subscriber latency p99', quantile(plainLatency, 0.99), 'ms', via),
        figure('paying buyer latency p50', quantile(sellerLatency, 0.5), 'ms', via),
        figure('paying buyer latency p99', quantile(sellerLatency, 0.99), 'ms', via),
        figure('readings measured', added.length, 'readings'),
        figure(
          'readings the plain subscriber had not seen first',
          buyerFirst,
          'readings',
          'the buyer got them before the plain subscriber (negative added latency, counted)',
        ),
        figure('readings the plain subscriber never got', unmatched, 'readings'),
      ]
    } finally {
      clearInterval(publishing)
      await plain.endAsync()
      await publisher.endAsync()
      provider.destroy()
      await market.stop()
      await mosquitto?.close()
    }
  },
}
