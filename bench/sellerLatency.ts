/**
 * Seller latency benchmark (issue 13): how much later a paying buyer gets a reading than a plain MQTT
 * subscriber of the same topic on the same broker, measured per reading in one process (one clock).
 * The replayer publishes the UCI data; the seller bridges it to a paid WebSocket session (receipts,
 * credit window, durable receipt store). The baseline is the plain subscriber's arrival time of the
 * same message, so the figure is what the seller and the paid session add, broker hops excluded.
 *
 * `LATENCY_BENCH_READINGS` (default 1000) sets how many readings are measured, at 50 rows/s.
 */

import { startLocalMarketplace } from '@trickle/devnet'
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
    const market = await startLocalMarketplace({ rowsPerSecond: 50, logger: pino({ level: 'silent' }) })
    const provider = new JsonRpcProvider(market.rpcUrl, market.chainId, {
      staticNetwork: true,
      cacheTimeout: -1,
    })
    const plain = await mqtt.connectAsync(market.brokerUrl)
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
      const price = BigInt(product.descriptor!.pricePerChunk)
      const budget = price * BigInt(READINGS + 64)
      const { channelId } = await client.openChannel(product.descriptor!.seller as Address, budget)
      const stream = await client.stream(product, { channelId, maxSpend: budget, maxChunks: READINGS })
      const added: number[] = []
      let unmatched = 0
      for await (const chunk of stream) {
        const at = performance.now()
        const plainAt = seenPlain.get(new TextDecoder().decode(chunk.data))
        if (plainAt === undefined) unmatched++
        else added.push(at - plainAt)
      }
      await stream.finished
      added.sort((a, b) => a - b)
      const figure = (name: string, value: number, unit: string): BenchMeasurement => ({
        section: SECTION,
        name,
        value: Number(value.toFixed(2)),
        unit,
      })
      return [
        figure('seller-added latency p50', quantile(added, 0.5), 'ms'),
        figure('seller-added latency p99', quantile(added, 0.99), 'ms'),
        figure('seller-added latency max', added.at(-1) ?? Number.NaN, 'ms'),
        figure('readings measured', added.length, 'readings'),
        figure('readings the plain subscriber had not seen first', unmatched, 'readings'),
      ]
    } finally {
      await plain.endAsync()
      provider.destroy()
      await market.stop()
    }
  },
}
