import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { ConnectionStats } from './connectionLimits.ts'
import type { AnchorStats } from './jobs/anchorAttestations.ts'
import type { ProductTally } from './sessionDriver.ts'
import type { SettlementStats } from './settlementWorker.ts'

/**
 * What a seller's metrics read when they are scraped: the server's own state, injected, so that the
 * numbers are the ones the server acts on (no second count to drift from them).
 */
export interface MetricsSources {
  /** the product keys the server sells: their series exist (at 0) from the start */
  products: readonly string[]
  /** chunk and byte totals per product key, live objects the sessions add to */
  tallies: ReadonlyMap<string, ProductTally>
  /**
   * wei delivered on the channels held now that no durable receipt covers, across sessions
   * (`ChannelLedgers.debt`)
   */
  unpaidExposureWei(): bigint
  /** the settlement worker's counters, once it runs */
  settlement(): Readonly<SettlementStats> | undefined
  /** whether the MQTT broker connection is up */
  brokerConnected(): boolean
  /** whether the chain's RPC endpoint answered its last probe or read */
  rpcHealthy(): boolean
  /** TCP connections open now and refusals since the start */
  connections(): ConnectionStats
  /** the job attestation anchorer's counters, when it runs (job products and a JobAttestations address) */
  anchors?(): Readonly<AnchorStats> | undefined
}

/**
 * A seller server's Prometheus metrics: a registry of its own (never prom-client's global one, so
 * several servers can run in one process), filled by `collect` callbacks that read
 * {@link MetricsSources} at scrape time, plus the counters of events below.
 *
 * Wei amounts are exported as float64, Prometheus's only sample type: exact up to 2^53 wei
 * (≈ 0.009 ETH), beyond that rounded to 15–16 significant digits. The store and the chain keep the
 * exact amounts.
 */
export interface SellerMetrics {
  /** the server's registry: `await registry.metrics()` is the text exposition `GET /metrics` serves */
  readonly registry: Registry
  /** A session started to be served (the buyer proved the channel's key). */
  sessionStarted(product: string): void
  /**
   * A started session ended.
   * @param reason - its close reason (a bounded set: SPEC.md §Close, `disconnected`)
   */
  sessionEnded(product: string, reason: string): void
  /**
   * A receipt was stored durably.
   * @param seconds - how long the store took
   */
  receiptStored(product: string, seconds: number): void
  /**
   * A claim attempt failed.
   * @param code - its TrickleError code (`TRANSACTION_REVERTED`, `CLAIM_REJECTED`, `CLAIM_MISSED`,
   *   `CHAIN_UNAVAILABLE`, `STORE_FAILED`, `INTERNAL`)
   */
  claimFailed(code: string): void
}

/** Prefix of every seller metric. */
export const METRIC_PREFIX = 'trickle_seller_'

/**
 * Buckets of the receipt store latency histogram, seconds: a durable SQLite commit (WAL, fsync in
 * the writer thread) takes about a millisecond on an SSD, tens on a slow disk.
 */
export const RECEIPT_STORE_BUCKETS_SECONDS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
]

/** Process metrics (CPU, memory, event loop, GC), collected once per process and shared. */
let processRegistry: Registry | undefined

/**
 * The process's default metrics (prom-client's `collectDefaultMetrics`, `process_*` and `nodejs_*`).
 * They describe the process, not a server, so they are set up once (each set-up adds a GC observer
 * and an event-loop monitor that are never released) and registered in every seller's registry.
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

/** wei as a Prometheus sample (float64; see {@link SellerMetrics}). */
const weiSample = (wei: bigint): number => Number(wei)

/**
 * Creates a seller's metrics (names and meanings in `seller-server/METRICS.md`).
 * @param sources - the state read at each scrape
 */
export function createSellerMetrics(sources: MetricsSources): SellerMetrics {
  const registry = new Registry()
  const registers = [registry]
  const name = (suffix: string) => `${METRIC_PREFIX}${suffix}`
  /** A counter whose value is read from a running total at each scrape. */
  const counterOf = (suffix: string, help: string, read: () => bigint | number | undefined) =>
    new Counter({
      name: name(suffix),
      help,
      registers,
      collect() {
        this.reset()
        const value = read()
        this.inc(typeof value === 'bigint' ? weiSample(value) : (value ?? 0))
      },
    })
  /** A gauge whose value is read at each scrape. */
  const gaugeOf = (suffix: string, help: string, read: () => number) =>
    new Gauge({
      name: name(suffix),
      help,
      registers,
      collect() {
        this.set(read())
      },
    })
  const product = ['product'] as const

  // Sessions: counted as they start and end.
  const open = new Gauge({
    name: name('sessions_open'),
    help: 'Sessions being served now (the buyer proved the channel key), by product',
    labelNames: product,
    registers,
  })
  const started = new Counter({
    name: name('sessions_started_total'),
    help: 'Sessions that started to be served, by product',
    labelNames: product,
    registers,
  })
  const ended = new Counter({
    name: name('sessions_ended_total'),
    help: 'Served sessions that ended, by product and close reason',
    labelNames: ['product', 'reason'] as const,
    registers,
  })
  for (const key of sources.products) {
    open.set({ product: key }, 0)
    started.inc({ product: key }, 0)
  }

  // Delivery: the sessions' tallies, read at scrape time.
  const tallyCounter = (suffix: string, help: string, read: (tally: ProductTally) => number) =>
    new Counter({
      name: name(suffix),
      help,
      labelNames: product,
      registers,
      collect() {
        this.reset()
        for (const [key, tally] of sources.tallies) this.inc({ product: key }, read(tally))
      },
    })
  tallyCounter('chunks_sent_total', 'Chunks sent to buyers, by product', (t) => t.chunksSent)
  tallyCounter(
    'chunk_bytes_sent_total',
    'Bytes of chunk data (readings, without framing) sent to buyers, by product',
    (t) => t.bytesSent,
  )

  // Receipts: counted as they are stored.
  const receipts = new Counter({
    name: name('receipts_stored_total'),
    help: 'Receipts stored durably, by product',
    labelNames: product,
    registers,
  })
  for (const key of sources.products) receipts.inc({ product: key }, 0)
  const storeLatency = new Histogram({
    name: name('receipt_store_seconds'),
    help: 'Time to store a receipt durably, seconds',
    buckets: [...RECEIPT_STORE_BUCKETS_SECONDS],
    registers,
  })
  gaugeOf(
    'unpaid_exposure_wei',
    'Wei delivered to buyers that no durable receipt covers yet, across sessions and channels held',
    () => weiSample(sources.unpaidExposureWei()),
  )

  // Settlement: the worker's counters, read at scrape time; failed attempts counted as they fail.
  const settled = sources.settlement
  counterOf('claims_sent_total', 'Claim transactions signed and broadcast', () => settled()?.claimsSent)
  counterOf('claims_mined_total', 'Claim transactions mined and paid', () => settled()?.claimsMined)
  const failed = new Counter({
    name: name('claims_failed_total'),
    help: 'Claim attempts that failed, by error code (some are retried)',
    labelNames: ['code'] as const,
    registers,
  })
  counterOf(
    'claim_gas_used_total',
    'Gas units used by claim transactions, mined and reverted',
    () => settled()?.gasUsed,
  )
  counterOf(
    'claim_gas_cost_wei_total',
    'Wei spent on gas by claim transactions, mined and reverted',
    () => settled()?.gasSpentWei,
  )
  counterOf('claimed_wei_total', 'Wei paid to the seller by mined claims', () => settled()?.paidWei)
  counterOf(
    'claim_missed_wei_total',
    'Wei of stored receipts lost because a challenge period ended before the claim',
    () => settled()?.missedWei,
  )
  gaugeOf(
    'unclaimed_wei',
    'Wei the stored receipts would still pay if claimed now (recomputed from the chain by each settlement sweep)',
    () => weiSample(settled()?.unclaimedWei ?? 0n),
  )

  // Job attestation anchors: the anchorer's counters, read at scrape time.
  const anchors = () => sources.anchors?.()
  counterOf('job_anchors_sent_total', 'JobAttestations.attest transactions broadcast', () => anchors()?.sent)
  counterOf(
    'job_anchors_mined_total',
    'Job attestations anchored on-chain (attest mined)',
    () => anchors()?.anchored,
  )
  counterOf(
    'job_anchors_failed_total',
    'Job attestation anchors that failed (RPC errors, reverts, timeouts, dropped for the bound)',
    () => anchors()?.failed,
  )
  counterOf(
    'job_anchors_skipped_total',
    'Job attestations not anchored because their session ended with records unpaid',
    () => anchors()?.skipped,
  )
  counterOf(
    'job_anchor_gas_used_total',
    'Gas units used by JobAttestations.attest transactions, mined and reverted',
    () => anchors()?.gasUsed,
  )
  counterOf(
    'job_anchor_gas_cost_wei_total',
    'Wei spent on gas by JobAttestations.attest transactions',
    () => anchors()?.gasCostWei,
  )
  gaugeOf(
    'job_anchors_queued',
    'Job attestation anchors waiting for their transaction',
    () => anchors()?.queued ?? 0,
  )

  // Parts and connections.
  gaugeOf('broker_connected', 'Whether the MQTT broker connection is up (1) or not (0)', () =>
    sources.brokerConnected() ? 1 : 0,
  )
  gaugeOf('rpc_healthy', 'Whether the chain RPC endpoint answers (1) or not (0)', () =>
    sources.rpcHealthy() ? 1 : 0,
  )
  gaugeOf(
    'connections_open',
    'TCP connections open now (HTTP and WebSocket)',
    () => sources.connections().open,
  )
  new Counter({
    name: name('connections_refused_total'),
    help: 'Connections, requests and sessions refused or ended for a resource limit, by reason',
    labelNames: ['reason'] as const,
    registers,
    collect() {
      this.reset()
      for (const [reason, count] of Object.entries(sources.connections().rejected))
        this.inc({ reason }, count)
    },
  })

  return {
    // The server's metrics and the process's, in a registry of the server's own.
    registry: Registry.merge([registry, processMetrics()]),
    sessionStarted(key) {
      started.inc({ product: key })
      open.inc({ product: key })
    },
    sessionEnded(key, reason) {
      ended.inc({ product: key, reason })
      open.dec({ product: key })
    },
    receiptStored(key, seconds) {
      receipts.inc({ product: key })
      storeLatency.observe(seconds)
    },
    claimFailed(code) {
      failed.inc({ code })
    },
  }
}
