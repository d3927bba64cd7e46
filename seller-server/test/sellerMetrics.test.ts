import { describe, expect, it } from 'vitest'
import type { ConnectionStats } from '../src/connectionLimits.ts'
import { createSellerMetrics, type MetricsSources } from '../src/sellerMetrics.ts'
import type { ProductTally } from '../src/sessionDriver.ts'
import type { SettlementStats } from '../src/settlementWorker.ts'

/** Sources with every part healthy and nothing counted, `changes` applied. */
function sources(changes: Partial<MetricsSources> = {}): MetricsSources {
  return {
    products: ['co'],
    tallies: new Map<string, ProductTally>([['co', { chunksSent: 0, bytesSent: 0 }]]),
    unpaidExposureWei: () => 0n,
    settlement: () => undefined,
    brokerConnected: () => true,
    rpcHealthy: () => true,
    connections: () => ({ open: 0, clients: 0, rejected: {} }) as unknown as ConnectionStats,
    ...changes,
  }
}

/** The value of the sample line `series` (name and labels as printed) in `text`. */
function sample(text: string, series: string): string | undefined {
  return text
    .split('\n')
    .find((line) => line.startsWith(`${series} `))
    ?.slice(series.length + 1)
}

describe('createSellerMetrics', () => {
  it('reads the sources at each scrape: tallies, settlement counters, parts', async () => {
    const tally = { chunksSent: 0, bytesSent: 0 }
    const stats = { claimsSent: 0, claimsMined: 0, gasUsed: 0n, unclaimedWei: 0n } as SettlementStats
    let broker = true
    const metrics = createSellerMetrics(
      sources({
        tallies: new Map([['co', tally]]),
        settlement: () => stats,
        brokerConnected: () => broker,
      }),
    )
    const before = await metrics.registry.metrics()
    expect(sample(before, 'trickle_seller_chunks_sent_total{product="co"}')).toBe('0')
    expect(sample(before, 'trickle_seller_sessions_open{product="co"}')).toBe('0')
    expect(sample(before, 'trickle_seller_broker_connected')).toBe('1')

    tally.chunksSent = 7
    tally.bytesSent = 350
    stats.claimsSent = 2
    stats.claimsMined = 1
    stats.gasUsed = 61_234n
    broker = false
    metrics.sessionStarted('co')
    metrics.receiptStored('co', 0.003)
    const after = await metrics.registry.metrics()
    expect(sample(after, 'trickle_seller_chunks_sent_total{product="co"}')).toBe('7')
    expect(sample(after, 'trickle_seller_chunk_bytes_sent_total{product="co"}')).toBe('350')
    expect(sample(after, 'trickle_seller_claims_sent_total')).toBe('2')
    expect(sample(after, 'trickle_seller_claims_mined_total')).toBe('1')
    expect(sample(after, 'trickle_seller_claim_gas_used_total')).toBe('61234')
    expect(sample(after, 'trickle_seller_broker_connected')).toBe('0')
    expect(sample(after, 'trickle_seller_sessions_open{product="co"}')).toBe('1')
    expect(sample(after, 'trickle_seller_receipts_stored_total{product="co"}')).toBe('1')
    expect(sample(after, 'trickle_seller_receipt_store_seconds_bucket{le="0.005"}')).toBe('1')

    metrics.sessionEnded('co', 'buyer_closed')
    const ended = await metrics.registry.metrics()
    expect(sample(ended, 'trickle_seller_sessions_open{product="co"}')).toBe('0')
    expect(sample(ended, 'trickle_seller_sessions_ended_total{product="co",reason="buyer_closed"}')).toBe('1')
  })

  it('exports wei above 2^53 as the nearest float64', async () => {
    const wei = 123_456_789_012_345_678_901n
    const metrics = createSellerMetrics(sources({ unpaidExposureWei: () => wei }))
    const text = await metrics.registry.metrics()
    const exported = Number(sample(text, 'trickle_seller_unpaid_exposure_wei'))
    // 123456789012345680000: float64's nearest, 15–16 significant digits.
    expect(exported).toBe(Number(wei))
  })

  it('keeps one registry per server, the process metrics in each', async () => {
    const a = createSellerMetrics(sources())
    const b = createSellerMetrics(sources())
    a.sessionStarted('co')
    a.claimFailed('CHAIN_UNAVAILABLE')
    const [textA, textB] = await Promise.all([a.registry.metrics(), b.registry.metrics()])
    expect(sample(textA, 'trickle_seller_sessions_started_total{product="co"}')).toBe('1')
    expect(sample(textB, 'trickle_seller_sessions_started_total{product="co"}')).toBe('0')
    expect(sample(textA, 'trickle_seller_claims_failed_total{code="CHAIN_UNAVAILABLE"}')).toBe('1')
    expect(textB).not.toContain('trickle_seller_claims_failed_total{')
    for (const text of [textA, textB]) expect(text).toContain('# TYPE process_cpu_seconds_total counter')
  })
})
