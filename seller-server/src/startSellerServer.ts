import { EventEmitter } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'
import { attestationsAt, channelsAt, type FeeMode, registryAt } from '@trickle/contracts'
import {
  type Address,
  type CryptoBackend,
  type Hex,
  hasCode,
  type ProductDescriptor,
  receiptDomainSeparator,
  type SellerPolicy,
  signTerms,
  TrickleError,
  unseal,
  useCryptoBackend,
} from '@trickle/protocol'
import { feeOverrides } from '@trickle/sdk'
import { JsonRpcProvider, Wallet } from 'ethers'
import pino, { type Logger } from 'pino'
import type { Registry } from 'prom-client'
import { WebSocketServer } from 'ws'
import { chainScope as scopeOf } from './chainScope.ts'
import { ChannelLedgers, type DEFAULT_MAX_INDEBTED_CHANNELS_PER_PAYER } from './channelLedgers.ts'
import { type ChannelReadStats, cacheChannelReads } from './channelReadCache.ts'
import {
  ConnectionGuard,
  type ConnectionLimits,
  type ConnectionStats,
  clientKey,
  DEFAULT_CONNECTION_LIMITS,
} from './connectionLimits.ts'
import { DEFAULT_SETTLEMENT_POLICY, type SettlementPolicy } from './decideClaim.ts'
import { describeProduct } from './describeProduct.ts'
import {
  DEFAULT_REPLAY_LIMITS,
  historyRangeOfQuery,
  planRange,
  type ReplayLimits,
  replaySpan,
} from './feedPlan.ts'
import { fromChain } from './fromChain.ts'
import { importProductsFile } from './importProductsFile.ts'
import { startIpfsNode } from './ipfsNode.ts'
import {
  type AnchorRecord,
  type AnchorStats,
  type AttestationAnchorer,
  startAttestationAnchor,
} from './jobs/anchorAttestations.ts'
import { handleJobRequest } from './jobs/jobHttp.ts'
import {
  type AttestedJob,
  type JobProduct,
  JobProvider,
  type JobSpec,
  type JobStats,
} from './jobs/jobProvider.ts'
import { openModuleStore } from './jobs/moduleStore.ts'
import { connectMqttSource, type MqttSourceOptions } from './mqttSource.ts'
import { nativeCrypto } from './nativeCrypto.ts'
import { type PublishedProduct, publishProducts } from './publishProducts.ts'
import { type DEFAULT_READING_RETENTION, openReadingStore, type ReadingRetention } from './readingStore.ts'
import { type ClaimRecord, openReceiptStore, type ReceiptStore } from './receiptStore.ts'
import { defaultVerifierThreads, startReceiptVerifier } from './receiptVerifier.ts'
import { resolveChannel } from './resolveChannel.ts'
import { sellerClientId } from './sellerClientId.ts'
import { admissionOf, evaluateHealth, healthyState, type SellerHealth } from './sellerHealth.ts'
import { createSellerMetrics } from './sellerMetrics.ts'
import { driveSession, type ProductTally, type SessionEnd, type SessionHandle } from './sessionDriver.ts'
import { type SettlementWorker, startSettlementWorker } from './settlementWorker.ts'

/** A live sensor product: the MQTT topics it streams and what it costs. */
export interface StreamProductSpec {
  /** local name, unique on this server, e.g. `co` */
  key: string
  name: string
  description: string
  /**
   * `stream` (default): live MQTT readings, whose recording buyers may also buy in ranges; `dataset`:
   * the recording of the stream product `recordingOf`, sold as finite ranges only (SPEC.md §History)
   */
  kind?: 'stream' | 'dataset' | 'compute' | 'app'
  /** dataset products: the key of a stream product of this server whose recorded readings it sells */
  recordingOf?: string
  /**
   * `compute` and `app` products: what a job may use, its price model in units of `pricePerChunk`,
   * its inputs and (app) module (SPEC.md §Jobs); such a product has no topics
   */
  job?: JobSpec
  /**
   * MQTT topic filters (a dataset's are its source's, whatever is given): exact names (`office1/co2`) or with the wildcards `+` (one level) and `#` (the
   * rest, the parent included), e.g. `office1/#`; each message on a matching topic is one chunk
   */
  topics: string[]
  fields: { name: string; unit: string }[]
  tags: string[]
  /** wei per chunk (one chunk = one MQTT message) */
  pricePerChunk: bigint
  /**
   * the nominal chunks (MQTT messages) per second of all `topics` together, finite, > 0, ≤ 1 000 000;
   * written into the descriptor so buyers can price a duration (SPEC.md §Descriptor). Omit it when the
   * rate is not known. Like the price, a changed rate changes the descriptor: the product is updated
   * on the registry at the next start
   */
  chunksPerSecond?: number
  /**
   * the devices whose keys sign this product's readings (written into the descriptor; the seller
   * passes the signed payloads through untouched, SPEC.md §Device signatures)
   */
  devices?: { id: string; address: Address }[]
  /** where the sensors are, WGS 84 degrees (written into the descriptor) */
  location?: { lat: number; lon: number }
  source: ProductDescriptor['source']
  /** MIME type of each chunk's payload, as published on MQTT (default `application/json`) */
  encoding?: string
  /** what one chunk is, for the descriptor (default `one sensor reading`) */
  chunkUnit?: string
  /**
   * this product's session policy where it differs from the server's: the largest payload in bytes
   * (`maxChunkBytes`; larger MQTT messages are not sent), the credit window in chunks, and how many
   * chunks a receipt is due after
   */
  policy?: Partial<Pick<SessionPolicy, 'maxChunkBytes' | 'window' | 'receiptEvery'>>
}

/** The session policy apart from the price, shared by all products of a server. */
export type SessionPolicy = Omit<SellerPolicy, 'pricePerChunk'>

/**
 * Default session policy: 16-chunk initial window growing by 16 up to 256, receipts every 8 chunks;
 * a `ping` after 10 s of buyer silence, closed after 30 s; at most 1 024 chunks queued for a slow
 * buyer (the oldest dropped first) and 1 MiB waiting in the socket's send buffer.
 */
export const DEFAULT_SESSION_POLICY: SessionPolicy = {
  maxChunkBytes: 4096,
  window: { initial: 16, step: 16, max: 256 },
  receiptEvery: 8,
  paymentTimeoutMs: 5_000,
  termsTtlMs: 30_000,
  maxQueuedChunks: 1024,
  overflow: 'drop_oldest',
  heartbeatMs: 10_000,
  idleTimeoutMs: 30_000,
  maxBufferedBytes: 1024 * 1024,
}

/** Options of {@link startSellerServer}. */
export interface SellerServerOptions {
  rpcUrl: string
  chainId: number
  /** DataRegistry address */
  registry: Address
  /** StreamChannels address */
  channels: Address
  /** the seller's account key: registers products, is the channels' payee, sends claims */
  sellerKey: string
  /** the key that signs terms and is recorded in `DataRegistry.sellerKey` (default: `sellerKey`) */
  termsKey?: string
  brokerUrl: string
  /** credentials and TLS of the broker connection (see {@link MqttSourceOptions}) */
  broker?: Pick<MqttSourceOptions, 'username' | 'password' | 'tls'>
  /**
   * directory for the receipt database (one per chain, genesis and StreamChannels; it records the
   * published products too) and the IPFS blockstore
   */
  dataDir: string
  /** default 127.0.0.1 */
  host?: string
  /** default 0 (a free port) */
  port?: number
  /** base URL written into descriptors (default `ws://host:port`) */
  publicUrl?: string
  products: StreamProductSpec[]
  policy?: Partial<SessionPolicy>
  /** when receipts are claimed on-chain (default {@link DEFAULT_SETTLEMENT_POLICY}) */
  settlement?: Partial<SettlementPolicy>
  /** how transaction fees are set (default `eip1559`; `legacy` for IOTA EVM) */
  fees?: FeeMode
  /**
   * the hash and curve implementation installed process-wide with `useCryptoBackend` (default
   * {@link nativeCrypto}: libsecp256k1, WebAssembly Keccak, OpenSSL SHA-256)
   */
  crypto?: CryptoBackend
  /**
   * worker threads that recover receipt signers off the event loop; 0 recovers them inline on the
   * event loop (default {@link defaultVerifierThreads}: 0 with libsecp256k1, else cores − 1)
   */
  verifierThreads?: number
  /**
   * live sessions one channel may have at once; they share its deposit and credit (default
   * {@link DEFAULT_MAX_SESSIONS_PER_CHANNEL}, 16); more get `CHANNEL_BUSY`
   */
  maxSessionsPerChannel?: number
  /**
   * other channels of one payer that may be in debt (chunks delivered, never receipted) when it starts
   * a session on a new channel (default {@link DEFAULT_MAX_INDEBTED_CHANNELS_PER_PAYER}, 2); beyond
   * it: `DEBT_OUTSTANDING`
   */
  maxIndebtedChannelsPerPayer?: number
  /** jobs of `compute`/`app` products run at once at most (default 2; more quotes are declined) */
  jobSlots?: number
  /**
   * JobAttestations address (bound to `channels`): each finished job's attestation is anchored there
   * by the payee once its session ended paid (SPEC.md §Jobs, "Anchoring"). Without it nothing is
   * anchored (logged once at the start when the server sells jobs)
   */
  attestations?: Address
  /**
   * how much of a product's recorded feed a resumed session is replayed at most (default
   * {@link DEFAULT_REPLAY_LIMITS}: the latest 4,096 readings or 4 MiB after its resume point)
   */
  replay?: Partial<ReplayLimits>
  /**
   * how many readings of each product the reading store keeps on disk, at
   * `<dataDir>/<chain scope>/readings.sqlite` (default {@link DEFAULT_READING_RETENTION}: 100,000
   * readings or 64 MiB per product)
   */
  retention?: Partial<ReadingRetention>
  /**
   * the MQTT client id of the seller's persistent session (default {@link sellerClientId} of the
   * payee address and `dataDir`): two sellers must never share one
   */
  mqttClientId?: string
  /**
   * what clients may use: connections per address and in total, request timeouts, inbound frame
   * size and rates, the send-buffer allowance, channel-read caching (default
   * {@link DEFAULT_CONNECTION_LIMITS}; each field given replaces the default's)
   */
  limits?: Partial<ConnectionLimits>
  /**
   * ms between health probes: a block-number read (the chain), and while receipt writes fail a probe
   * write (the store); a probe slower than this counts as failed (default 5 000)
   */
  healthProbeMs?: number
  /**
   * whether `GET /metrics` serves the Prometheus metrics (default true); when false it answers 404
   * like any unknown path (`SellerServer.metrics` still counts, for the embedding process)
   */
  serveMetrics?: boolean
  /**
   * the receipt store, which records the published products too (default: SQLite at
   * `<dataDir>/<chain id>-<genesis hash>-<StreamChannels>/receipts.sqlite`, so that a fresh chain
   * reusing the chain id and addresses starts a store of its own); it must belong to this chain and
   * StreamChannels deployment. `close()`, or a failed start, closes it
   */
  store?: ReceiptStore
  logger?: Logger
}

/** Events a running server emits. */
export interface SellerServerEvents {
  session: [SessionEnd]
  claimed: [ClaimRecord]
  claimFailed: [{ channelId: Hex; error: Error; willRetry: boolean }]
  /** a job's attestation was anchored on-chain (`JobAttestations.attest`) */
  jobAnchored: [AnchorRecord]
}

/** A running seller server. */
export interface SellerServer {
  /** WebSocket URL, e.g. `ws://127.0.0.1:4312` */
  readonly url: string
  /** HTTP base URL (health, IPFS trustless gateway) */
  readonly httpUrl: string
  /** the seller's (payee's) address */
  readonly address: Address
  readonly products: readonly PublishedProduct[]
  readonly events: EventEmitter<SellerServerEvents>
  readonly store: ReceiptStore
  readonly settlement: SettlementWorker
  /** sessions live now */
  readonly sessionCount: number
  /** jobs of `compute`/`app` products: slots, running, started, finished (also in `/health`); none without job products */
  readonly jobs: JobStats | undefined
  /**
   * the anchoring of job attestations: queued, sent, anchored, failed, skipped, gas (also in
   * `/health` as `jobAnchors`); none without job products or an `attestations` address
   */
  readonly jobAnchors: Readonly<AnchorStats> | undefined
  /** sessions being served now (the buyer proved the channel key), by product key; absent keys: 0 */
  readonly sessionsByProduct: ReadonlyMap<string, number>
  /** TCP connections open now and everything refused for a limit since the start (also in `/health`) */
  readonly connections: ConnectionStats
  /** channel reads answered from the cache and sent to the chain (also in `/health`) */
  readonly channelReads: ChannelReadStats
  /**
   * the server's Prometheus registry, which `GET /metrics` serves (see `seller-server/METRICS.md`);
   * its own, never prom-client's global registry
   */
  readonly metrics: Registry
  /**
   * Whether a buyer can be served now: not while receipt writes fail or the chain is unreachable
   * (new sessions are then refused with `STORE_FAILED` or `CHAIN_UNAVAILABLE`), nor while the MQTT
   * broker is disconnected (sessions are admitted, readings resume when it is back). `/health` then
   * answers 503 naming the failing parts.
   */
  health(): SellerHealth
  /**
   * Re-publishes the products while serving, as a start would: a product whose descriptor changed
   * (price, description, rate…) is updated on the registry, an unchanged one costs no transaction
   * (see {@link publishProducts}). Sessions that start afterwards get the new terms (price, window);
   * live sessions keep the terms they agreed to. A product missing from `products` takes no new
   * sessions (deactivating it on-chain is the caller's: {@link deactivateDroppedProducts}). One
   * reload runs at a time; a second waits for the first. Claims are let finish before the products
   * are published, since both send from the payee's account.
   *
   * The MQTT subscriptions are made at the start: every product must be one the server started
   * with (by key), with the same topics.
   *
   * @param products - the products to sell from now on (wei per chunk in `pricePerChunk`)
   * @returns the products as published now, each with `changed` when its product id or descriptor
   *   CID is not the one served before (an update or a registration was sent)
   * @throws TrickleError `INVALID_ARGUMENT` (a new product key or changed topics: restart the server
   *   to subscribe to them; nothing is changed), `CHAIN_UNAVAILABLE`, `TRANSACTION_REVERTED`,
   *   `DESCRIPTOR_INVALID`, `STORE_FAILED` as {@link publishProducts} (the products already
   *   published stay served as they were)
   */
  reload(products: readonly StreamProductSpec[]): Promise<ReloadedProduct[]>
  /**
   * Stops accepting, closes sessions with `server_shutdown`, gives running claims up to 5 s to be
   * mined (the rest stay pending in the ledger and resume at the next start), and releases everything.
   */
  close(): Promise<void>
}

/** A product as a {@link SellerServer.reload} left it. */
export interface ReloadedProduct extends PublishedProduct {
  /** whether a transaction (update or registration) was needed: the id or the descriptor CID changed */
  changed: boolean
}

/** Default ms between health probes (see {@link SellerServerOptions.healthProbeMs}). */
export const DEFAULT_HEALTH_PROBE_MS = 5_000

/** ms a refused connection is kept open to take in what its client already sent (see `refuseConnection`). */
const REFUSAL_LINGER_MS = 500
/** refused connections lingering at once; past it they are destroyed at once */
const MAX_LINGERING = 256

/**
 * Starts a seller: HTTP (`GET /health`, `GET /metrics`, `GET /ipfs/<cid>`) and WebSocket sessions on
 * one port, products published to IPFS and registered on-chain, MQTT topics bridged into chunks,
 * receipts stored in `node:sqlite`, and each channel's latest receipt claimed when a session on it
 * ends.
 *
 * Hostile clients are held to {@link SellerServerOptions.limits}: connections are counted per client
 * address and in total at accept (HTTP 429 / 503 beyond), a connection must send its request headers
 * within `headersTimeoutMs` (408), only `GET` and `HEAD` are served (405), the WebSocket upgrade only
 * on `/` (the descriptors' endpoint; 404 elsewhere), and a session that floods frames or `hello`s
 * (`RATE_LIMITED`) or does not read what it asked for (`SEND_BUFFER_FULL`) is closed with
 * `resource_limit`. `GET /health` answers 503 with the failing parts (`store`, `rpc`, `broker`,
 * `starting`) and their reasons while a buyer cannot be served, 200 otherwise; `GET /metrics` answers
 * the Prometheus text format (`seller-server/METRICS.md`), or 404 when `serveMetrics` is false. One
 * pino line at `info` marks each served session's start and end (product, channel, payer; at the end
 * chunks, amount paid, close reason, duration).
 *
 * Products are registered once however often the seller starts (see {@link publishProducts}); the
 * product ids of an older seller's `products.json` are imported into the store once. A start that
 * fails releases what it took (port, store, IPFS node, MQTT connection) before it rejects, so it can
 * simply be tried again.
 *
 * @throws TrickleError `CHAIN_UNAVAILABLE` (the RPC failed: try again later), `STORE_FAILED` (the
 *   receipt store cannot be opened or written), `CONNECTION_FAILED` (the MQTT broker cannot be
 *   reached), `TRANSACTION_REVERTED` (the registry refuses a product), `DESCRIPTOR_INVALID` (a product
 *   makes an invalid descriptor), `INVALID_ARGUMENT` (a product key used twice, a dataset whose
 *   `recordingOf` is not a stream product, a JobAttestations `attestations` bound to another
 *   StreamChannels), `INTERNAL` (the IPFS node cannot start, the port cannot be bound),
 *   each with the underlying error as `cause`
 */
export async function startSellerServer(options: SellerServerOptions): Promise<SellerServer> {
  const log = options.logger ?? pino({ level: process.env.TRICKLE_LOG_LEVEL ?? 'info' })
  useCryptoBackend(options.crypto ?? (await nativeCrypto()))
  /** what the start took so far, released (newest first) if it fails */
  const releases: (() => unknown)[] = []
  try {
    return await launch(options, log, releases)
  } catch (err) {
    for (const release of releases.reverse()) {
      try {
        await release()
      } catch (cause) {
        log.warn({ err: cause }, 'could not release a part of a failed start')
      }
    }
    throw err
  }
}

/** The start of {@link startSellerServer}; each part it takes is added to `releases`. */
async function launch(
  options: SellerServerOptions,
  log: Logger,
  releases: (() => unknown)[],
): Promise<SellerServer> {
  const policy: SessionPolicy = { ...DEFAULT_SESSION_POLICY, ...options.policy }
  /** the key each product's readings are recorded under: its own, or a dataset's source's */
  const feedKeys = feedKeysOf(options.products)
  const streams = options.products.filter((p) => (p.kind ?? 'stream') === 'stream')
  const provider = new JsonRpcProvider(options.rpcUrl, options.chainId, {
    staticNetwork: true,
    pollingInterval: 250,
    cacheTimeout: -1,
  })
  releases.push(() => provider.destroy())
  const wallet = new Wallet(options.sellerKey, provider)
  const termsWallet = new Wallet(options.termsKey ?? options.sellerKey)
  const fees = () => feeOverrides(provider, options.fees ?? 'eip1559')
  const registry = registryAt(options.registry, wallet)
  // Channel ids are only unique per chain and StreamChannels deployment, and a fresh anvil reuses both
  // the chain id and the contract address: scope the receipts by the genesis block hash too.
  const genesis = await fromChain('read the genesis block', () => provider.getBlock(0))
  const chainScope = scopeOf(options.chainId, genesis?.hash ?? undefined, options.channels)
  const store = options.store ?? openReceiptStore(join(options.dataDir, chainScope, 'receipts.sqlite'))
  releases.push(() => store.close())
  const events = new EventEmitter<SellerServerEvents>()
  const ipfs = await startIpfsNode(join(options.dataDir, 'blocks')).catch((cause: unknown) => {
    throw new TrickleError('INTERNAL', 'could not start the IPFS node', { cause })
  })
  releases.push(() => ipfs.stop())
  const readings = openReadingStore(
    join(options.dataDir, chainScope, 'readings.sqlite'),
    options.retention ? { retention: options.retention } : {},
  )
  releases.push(() => readings.close())
  const mqttSource = await connectMqttSource(
    options.brokerUrl,
    new Map(streams.map((p) => [p.key, p.topics])),
    {
      ...options.broker,
      onError: (err) => log.warn({ err }, 'mqtt error'),
      readings,
      clientId: options.mqttClientId ?? sellerClientId(wallet.address, options.dataDir),
    },
  ).catch((cause: unknown) => {
    throw new TrickleError('CONNECTION_FAILED', 'could not connect to the MQTT broker', { cause })
  })
  releases.push(() => mqttSource.close())
  /** claims receipts on-chain; started once the products are published (both send from `wallet`) */
  let settlement: SettlementWorker | undefined
  const resumePoints = readings.resumePoints
  const replay: ReplayLimits = { ...DEFAULT_REPLAY_LIMITS, ...options.replay }
  /**
   * `GET /history/<productId>?from&to|last[&live=1]`: what a session of that history range would
   * send now (SPEC.md §History): `{ productId, count, from, to, live }`, 200; 400 for a bad query,
   * 404 for a product not sold here or a range that holds no reading.
   */
  const historyAnswer = (id: string, url: URL): { status: number; body: Record<string, unknown> } => {
    const productId = /^[1-9][0-9]{0,77}$/.test(id) ? BigInt(id) : undefined
    const product = productId === undefined || retired.has(productId) ? undefined : policies.get(productId)
    if (!product)
      return { status: 404, body: { code: 'UNKNOWN_PRODUCT', message: `product ${id} is not sold here` } }
    try {
      const range = historyRangeOfQuery(url.searchParams)
      const feedKey = feedKeys.get(product.key)!
      const kind = feedKey === product.key ? 'stream' : 'dataset'
      const { echo } = planRange(readings, { feedKey, kind, range, now: Date.now() })
      return { status: 200, body: { productId: id, ...echo } }
    } catch (err) {
      const code = (err as { code?: string }).code
      if (code === 'INVALID_ARGUMENT')
        return { status: 400, body: { code, message: (err as TrickleError).shortMessage } }
      if (code === 'RANGE_UNAVAILABLE')
        return { status: 404, body: { code, message: (err as TrickleError).shortMessage } }
      throw err
    }
  }

  // A channel's debt (chunks delivered, never receipted) is recorded when its last session ends, so a
  // reconnect or a restart cannot make it free (SPEC.md §Channel debt).
  const ledgers = new ChannelLedgers({
    ...(options.maxSessionsPerChannel !== undefined
      ? { maxSessionsPerChannel: options.maxSessionsPerChannel }
      : {}),
    ...(options.maxIndebtedChannelsPerPayer !== undefined
      ? { maxIndebtedChannelsPerPayer: options.maxIndebtedChannelsPerPayer }
      : {}),
    persistDebt: (channelId, debt) => {
      store.setChannelDebt(channelId, debt).catch((err: Error) => {
        log.error({ err, channelId }, 'could not record the channel debt')
      })
    },
  })
  let sessions = 0
  const sessionsByProduct = new Map<string, number>()
  const policies = new Map<
    bigint,
    { key: string; policy: SellerPolicy; kind: 'stream' | 'dataset' | 'compute' | 'app' }
  >()
  /** the job products by id, and what runs their jobs (SPEC.md §Jobs) */
  const jobProducts = new Map<bigint, JobProduct>()
  const modules = options.products.some((p) => p.job)
    ? openModuleStore(join(options.dataDir, 'modules'), {}, (sealed) =>
        unseal(termsWallet.signingKey.privateKey as Hex, sealed),
      )
    : undefined
  /** anchors finished jobs' attestations, once the settlement worker runs (both send from `wallet`) */
  let anchorer: AttestationAnchorer | undefined
  if (modules && !options.attestations)
    log.info('job attestations are not anchored: no JobAttestations address (attestations) configured')
  const jobs = modules
    ? new JobProvider({
        modules,
        termsKey: termsWallet.signingKey,
        chainId: options.chainId,
        channels: options.channels,
        payee: wallet.address as Address,
        ...(options.jobSlots !== undefined ? { slots: options.jobSlots } : {}),
        ...(options.attestations ? { onAttested: (job: AttestedJob) => anchorer?.attested(job) } : {}),
        log,
      })
    : undefined
  /** products dropped by a reload: no new sessions (their policy stays for the sessions still live) */
  const retired = new Set<bigint>()

  const limits: ConnectionLimits = { ...DEFAULT_CONNECTION_LIMITS, ...options.limits }
  const guard = new ConnectionGuard(limits, performance.now())

  // Health: the store fails from a failed call until a receipt (or the probe) writes; the chain from a
  // failed probe until a chain read succeeds. New sessions are refused meanwhile (`admit`).
  const healthState = healthyState()
  const storeFailed = (err: unknown) => {
    if (healthState.storeFailedAt === undefined)
      log.error({ err }, 'receipt store failing: refusing new sessions')
    healthState.storeFailedAt ??= Date.now()
  }
  const chainFailed = (err: unknown) => {
    if (healthState.chainFailedAt === undefined) {
      log.warn({ err }, 'chain unreachable: refusing new sessions')
    }
    healthState.chainFailedAt ??= Date.now()
  }
  const chainAnswered = () => {
    if (healthState.chainFailedAt !== undefined) log.info('chain reachable again')
    healthState.chainFailedAt = undefined
  }
  /**
   * the store the sessions use: a failed call marks the store failed, a stored receipt healthy again
   * (a read that works says nothing of writes). Every failure is a `STORE_FAILED` TrickleError, the
   * store's own error its cause, whatever an injected store threw.
   */
  const sessionStore: ReceiptStore = new Proxy(store, {
    get: (target, property) => {
      const member: unknown = Reflect.get(target, property)
      if (typeof member !== 'function') return member
      return async (...args: unknown[]) => {
        let result: unknown
        try {
          result = await member.apply(target, args)
        } catch (err) {
          storeFailed(err)
          throw hasCode(err, 'STORE_FAILED')
            ? err
            : new TrickleError('STORE_FAILED', 'the receipt store failed', { cause: err })
        }
        if (property === 'save') healthState.storeFailedAt = undefined
        return result
      }
    },
  })
  const probeMs = options.healthProbeMs ?? DEFAULT_HEALTH_PROBE_MS
  const probe = async () => {
    await withTimeout(provider.getBlockNumber(), probeMs).then(chainAnswered, chainFailed)
    if (healthState.storeFailedAt !== undefined) {
      await withTimeout(store.setMeta('health.probe', String(Date.now())), probeMs).then(
        () => {
          log.info('receipt store writable again')
          healthState.storeFailedAt = undefined
        },
        () => undefined,
      )
    }
  }
  let probing = false
  const probeNow = () => {
    if (probing) return
    probing = true
    void probe().finally(() => {
      probing = false
    })
  }
  const probeTimer = setInterval(probeNow, probeMs).unref()
  releases.push(() => clearInterval(probeTimer))

  // Each hello reads its channel: a short-lived cache makes repeated hellos cost no chain call.
  const channelSource = channelsAt(options.channels, provider)
  const channelCache = cacheChannelReads(
    {
      getChannel: async (channelId) => {
        // One failed read may be a blip: the probe, run now, decides whether the chain is down.
        const view = await channelSource.getChannel(channelId).catch((err: unknown) => {
          probeNow()
          throw err
        })
        chainAnswered()
        return view
      },
    },
    {
      ttlMs: limits.channelCacheTtlMs,
      unknownTtlMs: limits.unknownChannelCacheTtlMs,
      maxEntries: limits.channelCacheEntries,
    },
  )
  // `resolveChannel` reads channels through the cache: `getChannel`, and `getFreshChannel` for a view
  // that looks spent.
  const channelReads = {
    getChannel: channelCache.getChannel,
    getFreshChannel: channelCache.getFreshChannel,
  }

  // Metrics: collect callbacks read the state above when scraped; events count as they happen.
  const tallies = new Map<string, ProductTally>(
    options.products.map((p) => [p.key, { chunksSent: 0, bytesSent: 0 }]),
  )
  const metrics = createSellerMetrics({
    products: options.products.map((p) => p.key),
    tallies,
    unpaidExposureWei: () => ledgers.debt,
    settlement: () => settlement?.stats,
    brokerConnected: () => mqttSource.connected,
    rpcHealthy: () => healthState.chainFailedAt === undefined,
    connections: () => guard.stats(),
    anchors: () => anchorer?.stats,
  })
  /** the parts read now for {@link evaluateHealth}: sessions are served once `upgrades` is set */
  const liveParts = () => ({ brokerConnected: mqttSource.connected, serving: upgrades !== undefined })

  const allowed = (req: IncomingMessage) => req.method === 'GET' || req.method === 'HEAD'
  const methodNotAllowed = (res: ServerResponse) => {
    guard.count('method_not_allowed')
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed')
  }
  /** connections refused at accept, whose requests are not served */
  const refusedSockets = new WeakSet<Duplex>()
  const http = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: Math.max(limits.requestTimeoutMs, limits.headersTimeoutMs),
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // How often Node checks the two timeouts above: often enough that they hold within a second.
      connectionsCheckingInterval: Math.max(100, Math.min(1_000, limits.headersTimeoutMs / 2)),
    },
    (req, res) => {
      if (refusedSockets.has(req.socket)) return
      void (async () => {
        const path = new URL(req.url ?? '/', 'http://localhost').pathname
        const jobContext = jobs && {
          provider: jobs,
          modules: modules!,
          products: jobProducts,
          admit: (r: IncomingMessage) => !guard.query(clientKey(r.socket.remoteAddress), performance.now()),
          clientOf: (r: IncomingMessage) => clientKey(r.socket.remoteAddress),
        }
        if (jobContext && (await handleJobRequest(req, res, path, jobContext))) return
        const known =
          path === '/health' ||
          (path === '/metrics' && options.serveMetrics !== false) ||
          path === '/' ||
          path.startsWith('/ipfs/') ||
          path.startsWith('/history/')
        if (!known) {
          res.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
          return
        }
        if (!allowed(req)) return methodNotAllowed(res)
        // Descriptors and health are public: a buyer in a browser page of any origin may read them.
        res.setHeader('access-control-allow-origin', '*')
        if (await ipfs.handle(req, res)) return
        if (path === '/') {
          res
            .writeHead(426, { upgrade: 'websocket', connection: 'Upgrade', 'content-type': 'text/plain' })
            .end('sessions are WebSocket connections')
          return
        }
        if (path === '/metrics') {
          const text = await metrics.registry.metrics()
          res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text)
          return
        }
        if (path.startsWith('/history/')) {
          // A query reads the reading store as a `hello` does: it is charged like one.
          if (guard.query(clientKey(req.socket.remoteAddress), performance.now())) {
            res
              .writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' })
              .end(JSON.stringify({ code: 'RATE_LIMITED', message: 'too many queries: slow down' }))
            return
          }
          const answer = historyAnswer(
            path.slice('/history/'.length),
            new URL(req.url ?? '/', 'http://localhost'),
          )
          res
            .writeHead(answer.status, { 'content-type': 'application/json' })
            .end(JSON.stringify(answer.body))
          return
        }
        if (path !== '/health') {
          res.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
          return
        }
        const health = evaluateHealth(healthState, liveParts())
        const body = JSON.stringify(
          {
            status: health.ok ? 'ok' : 'unavailable',
            failing: health.failing,
            reasons: health.reasons,
            chainId: options.chainId,
            seller: wallet.address,
            mqtt: mqttSource.connected ? 'connected' : 'reconnecting',
            store: healthState.storeFailedAt === undefined ? 'ok' : 'failing',
            chain: healthState.chainFailedAt === undefined ? 'ok' : 'unreachable',
            sessions,
            ...(jobs ? { jobs: jobs.stats } : {}),
            ...(anchorer ? { jobAnchors: anchorer.stats } : {}),
            connections: guard.stats(),
            channelReads: channelCache.stats,
            settlement: settlement?.stats,
            // `published` exists once sessions are served (`upgrades` is set after it); while the
            // server starts, reading it threw and `/health` answered 500.
            products: upgrades
              ? published.map((p) => ({ key: p.key, productId: p.productId.toString(), cid: p.cid }))
              : [],
          },
          (_, value: unknown) => (typeof value === 'bigint' ? value.toString() : value),
        )
        res.writeHead(health.ok ? 200 : 503, { 'content-type': 'application/json' }).end(body)
      })().catch((err) => {
        log.error({ err }, 'http handler failed')
        if (!res.headersSent) res.writeHead(500).end()
        else res.destroy()
      })
    },
  )
  // Counted at the TCP level, before any byte is read: HTTP requests and WebSocket sessions alike.
  let lingering = 0
  const refuseConnection = (socket: Socket, status: 429 | 503) => {
    refusedSockets.add(socket)
    socket.on('error', () => undefined)
    // Answer, then keep reading a moment: closing with unread request bytes sends a reset, which
    // may make the client drop the answer (the reason for Apache's lingering close).
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\nretry-after: 1\r\ncontent-length: 0\r\n\r\n`,
    )
    if (lingering >= MAX_LINGERING) {
      socket.destroy()
      return
    }
    lingering++
    const timer = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref()
    socket.once('close', () => {
      lingering--
      clearTimeout(timer)
    })
  }
  http.on('connection', (socket: Socket) => {
    const key = clientKey(socket.remoteAddress)
    const refused = guard.admit(key, performance.now())
    if (refused) return refuseConnection(socket, refused === 'connections_per_ip' ? 429 : 503)
    socket.once('close', () => guard.release(key))
  })
  http.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (refusedSockets.has(socket) || err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy()
      return
    }
    const timedOut = err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
    guard.count(timedOut ? 'request_timeout' : 'bad_request')
    const status = timedOut ? 408 : 400
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`)
    setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref()
  })
  /** the WebSocket server, once the products are published */
  let upgrades: WebSocketServer | undefined
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (refusedSockets.has(socket)) return
    socket.on('error', () => undefined)
    const reject = (status: 404 | 503) => {
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`,
      )
      setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref()
    }
    // The descriptors' endpoint is `${wsBase}/`: sessions there and nowhere else.
    if (new URL(req.url ?? '/', 'http://localhost').pathname !== '/') {
      guard.count('upgrade_path')
      return reject(404)
    }
    if (!upgrades) return reject(503)
    const server = upgrades
    server.handleUpgrade(req, socket, head, (ws) => server.emit('connection', ws, req))
  })
  const host = options.host ?? '127.0.0.1'
  await new Promise<void>((resolve, reject) => {
    http.once('error', (cause) =>
      reject(new TrickleError('INTERNAL', `could not listen on ${host}:${options.port ?? 0}`, { cause })),
    )
    http.listen(options.port ?? 0, host, resolve)
  })
  releases.push(
    () =>
      new Promise<void>((resolve) => {
        http.close(() => resolve())
        http.closeAllConnections()
      }),
  )
  const port = (http.address() as AddressInfo).port
  const wsBase = options.publicUrl ?? `ws://${host}:${port}`

  // Publish: the terms key first, so buyers can authenticate terms as soon as products are listed.
  const registeredKey = await fromChain('read the terms key', () => registry.sellerKey(wallet.address))
  if (registeredKey.toLowerCase() !== termsWallet.address.toLowerCase()) {
    await fromChain('set the terms key', async () =>
      (await registry.setSellerKey(termsWallet.address, await fees())).wait(),
    )
  }
  const describeAll = (specs: readonly StreamProductSpec[]) =>
    new Map<string, ProductDescriptor>(
      specs.map((p) => {
        // A dataset's readings come from its source's topics.
        const topics = specs.find((q) => q.key === feedKeys.get(p.key))?.topics ?? p.topics
        return [
          p.key,
          describeProduct({ ...p, topics }, wallet.address as Address, `${wsBase}/`, policy.maxChunkBytes),
        ]
      }),
    )
  /** Serves `specs` as published: each product's terms (price, window) for the sessions that start. */
  const applyPolicies = (specs: readonly StreamProductSpec[], products: readonly PublishedProduct[]) => {
    for (const p of products) {
      const spec = specs.find((s) => s.key === p.key)!
      policies.set(p.productId, {
        key: p.key,
        policy: { ...policy, ...spec.policy, pricePerChunk: spec.pricePerChunk },
        kind: spec.kind ?? 'stream',
      })
      if (spec.job && (spec.kind === 'compute' || spec.kind === 'app')) {
        jobProducts.set(p.productId, {
          productId: p.productId,
          key: p.key,
          kind: spec.kind,
          unitPrice: spec.pricePerChunk,
          maxChunkBytes: spec.policy?.maxChunkBytes ?? policy.maxChunkBytes,
          spec: spec.job,
        })
      }
    }
  }
  // An older seller kept the product ids in a side file: the store takes them over once.
  await importProductsFile(store, join(options.dataDir, chainScope, 'products.json'), log)
  let published = await publishProducts(
    { ipfs, registry, provider, wallet, store, fees },
    describeAll(options.products),
  )
  applyPolicies(options.products, published)
  /** the topics of each product key, as subscribed at the start (fixed until a restart) */
  const startTopics = new Map(options.products.map((p) => [p.key, p.topics.join('\n')]))

  // Anchors of job attestations go to a JobAttestations of this StreamChannels, or every one reverts.
  const attestations = jobs && options.attestations ? attestationsAt(options.attestations, wallet) : undefined
  if (attestations) {
    const bound = await fromChain('read the JobAttestations deployment', () => attestations.channels())
    if (bound.toLowerCase() !== options.channels.toLowerCase()) {
      throw new TrickleError(
        'INVALID_ARGUMENT',
        `JobAttestations ${options.attestations} is bound to StreamChannels ${bound}, not ${options.channels}`,
      )
    }
  }
  // Started after the publication, so that registrations and claims never pick the same nonce.
  const worker = startSettlementWorker(
    {
      provider,
      wallet,
      channels: channelsAt(options.channels, provider),
      store,
      fees: options.fees ?? 'eip1559',
    },
    { ...DEFAULT_SETTLEMENT_POLICY, ...options.settlement },
    log,
  )
  settlement = worker
  worker.events.on('claimed', (claim) => events.emit('claimed', claim))
  worker.events.on('claimFailed', (failure) => events.emit('claimFailed', failure))
  worker.events.on('claimFailed', (failure) => metrics.claimFailed(failure.error.code))
  if (jobs && attestations) {
    anchorer = startAttestationAnchor({
      attestations,
      store,
      claimsIdle: () => worker.idle(),
      fees,
      recent: jobs.recent,
      log,
    })
    anchorer.events.on('anchored', (record) => events.emit('jobAnchored', record))
  }

  // One chain, one StreamChannels: the receipt domain separator is fixed for this server.
  const domainSeparator = receiptDomainSeparator({ chainId: options.chainId, channels: options.channels })
  // ws's own limit sits above the frame limit so oversized frames get a FRAME_TOO_LARGE error frame.
  // Upgrades reach it through the `upgrade` listener above (path `/` only).
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxMessageBytes })
  upgrades = wss
  const drivers = new Set<SessionHandle>()
  const verifierThreads = options.verifierThreads ?? defaultVerifierThreads()
  const verifier = verifierThreads === 0 ? undefined : startReceiptVerifier({ threads: verifierThreads })
  // A closing channel only pays what is claimed before its deadline: stop extending credit on it.
  worker.events.on('closeRequested', ({ channelId }) => {
    channelCache.forget(channelId)
    for (const driver of drivers) {
      if (driver.channelId?.toLowerCase() !== channelId) continue
      log.info({ channelId }, 'payer requested close: ending the session')
      driver.reject('CHANNEL_NOT_OPEN', 'the payer requested to close the channel')
    }
  })
  wss.on('connection', (ws, req: IncomingMessage) => {
    sessions++
    const driver = driveSession(ws, {
      policyFor: (id) => (retired.has(id) ? undefined : policies.get(id)),
      resolve: (productId, channelId, now) =>
        resolveChannel(
          channelReads,
          sessionStore,
          {
            productId,
            channelId,
            chainId: options.chainId,
            channels: options.channels,
            payee: wallet.address as Address,
          },
          now,
          log,
        ),
      signTerms: (terms) => signTerms(termsWallet.signingKey, terms),
      domainSeparator: () => domainSeparator,
      listen: (key, onChunk) => mqttSource.listen(feedKeys.get(key)!, onChunk),
      feed: (key, onChunk, span) => mqttSource.feed(feedKeys.get(key)!, onChunk, span),
      planRange: (key, range, resumeAfter, now) =>
        planRange(readings, {
          feedKey: feedKeys.get(key)!,
          kind: key === feedKeys.get(key) ? 'stream' : 'dataset',
          range: range ?? {},
          resumeAfter,
          now,
        }),
      replaySpan: (key, after) => replaySpan(readings, feedKeys.get(key)!, after, replay),
      ...(jobs
        ? {
            admitJob: (productId, job, now) =>
              jobs.admit(productId, job, now, clientKey(req.socket.remoteAddress)),
          }
        : {}),
      resumePoints,
      store: sessionStore,
      ledgers,
      onReceiptStored: (receipt, storeMs) => {
        worker.receiptStored(receipt)
        const key = policies.get(receipt.productId)?.key
        if (key !== undefined) metrics.receiptStored(key, storeMs / 1000)
      },
      onSessionStart: (start) => {
        metrics.sessionStarted(start.productKey)
        sessionsByProduct.set(start.productKey, (sessionsByProduct.get(start.productKey) ?? 0) + 1)
        log.info(
          {
            product: start.productKey,
            channelId: start.channelId,
            payer: start.payer,
            baseAmount: start.baseAmount.toString(),
          },
          'session started',
        )
      },
      onSessionEnd: (end) => {
        if (end.code === 'SEND_BUFFER_FULL') guard.count('send_buffer_full')
        sessions--
        events.emit('session', end)
        if (end.started && end.productKey !== undefined) {
          metrics.sessionEnded(end.productKey, end.reason)
          const left = (sessionsByProduct.get(end.productKey) ?? 1) - 1
          if (left > 0) sessionsByProduct.set(end.productKey, left)
          else sessionsByProduct.delete(end.productKey)
          log.info(
            {
              product: end.productKey,
              channelId: end.channelId,
              payer: end.payer,
              chunks: end.chunksSent,
              amount: end.paid.toString(),
              unpaidChunks: end.unpaidChunks,
              receipts: end.receiptsAccepted,
              reason: end.reason,
              code: end.code,
              durationMs: end.durationMs,
            },
            'session ended',
          )
        } else
          log.debug(
            { channelId: end.channelId, reason: end.reason, code: end.code },
            'session ended unserved',
          )
        if (end.channelId && end.receiptsAccepted > 0) worker.sessionEnded(end.channelId)
        // After the claim it may start, so that the anchor waits for it (one account, one nonce).
        if (end.jobId && end.channelId)
          anchorer?.sessionEnded({
            jobId: end.jobId,
            channelId: end.channelId,
            unpaidChunks: end.unpaidChunks,
          })
      },
      tallyOf: (key) => tallies.get(key)!,
      maxFrameBytes: limits.maxInboundFrameBytes,
      gate: guard.gate(clientKey(req.socket.remoteAddress), performance.now()),
      sendBufferAllowanceBytes: limits.sendBufferAllowanceBytes,
      admit: () => admissionOf(healthState),
      ...(verifier ? { verifier } : {}),
      liveness: policy,
      helloTimeoutMs: limits.helloTimeoutMs,
      log,
    })
    drivers.add(driver)
    ws.once('close', () => drivers.delete(driver))
  })

  /** the reload running now, if any: reloads run one at a time */
  let reloading: Promise<unknown> = Promise.resolve()
  const reload = (specs: readonly StreamProductSpec[]): Promise<ReloadedProduct[]> => {
    const run = reloading.then(async () => {
      const nextFeeds = feedKeysOf(specs)
      for (const spec of specs) {
        if (feedKeys.has(spec.key) && nextFeeds.get(spec.key) !== feedKeys.get(spec.key)) {
          throw new TrickleError(
            'INVALID_ARGUMENT',
            `the kind or recordingOf of ${spec.key} changed: restart the seller to sell it`,
          )
        }
        const topics = startTopics.get(spec.key)
        if (topics === undefined) {
          throw new TrickleError(
            'INVALID_ARGUMENT',
            `${spec.key} is a new product: restart the seller to subscribe to its topics`,
          )
        }
        if (topics !== spec.topics.join('\n')) {
          throw new TrickleError(
            'INVALID_ARGUMENT',
            `the topics of ${spec.key} changed: restart the seller to subscribe to them`,
          )
        }
      }
      // Claims and registry transactions send from one account: let running claims take their nonces.
      await worker.idle()
      const before = new Map(published.map((p) => [p.key, `${p.productId}:${p.cid}`]))
      const fresh = await publishProducts(
        { ipfs, registry, provider, wallet, store, fees },
        describeAll(specs),
      )
      const kept = new Set(fresh.map((p) => p.productId))
      for (const p of published) if (!kept.has(p.productId)) retired.add(p.productId)
      applyPolicies(specs, fresh)
      published = fresh
      for (const p of fresh) retired.delete(p.productId)
      const reloaded = fresh.map((p) => ({ ...p, changed: before.get(p.key) !== `${p.productId}:${p.cid}` }))
      log.info(
        {
          products: reloaded.map((p) => ({
            key: p.key,
            productId: p.productId.toString(),
            changed: p.changed,
          })),
        },
        'products reloaded',
      )
      return reloaded
    })
    reloading = run.catch(() => undefined)
    return run
  }

  let closing: Promise<void> | undefined
  return {
    url: `ws://${host}:${port}`,
    httpUrl: `http://${host}:${port}`,
    address: wallet.address as Address,
    get products() {
      return published
    },
    events,
    store,
    settlement: worker,
    get sessionCount() {
      return sessions
    },
    get jobs() {
      return jobs?.stats
    },
    get jobAnchors() {
      return anchorer?.stats
    },
    sessionsByProduct,
    get connections() {
      return guard.stats()
    },
    get channelReads() {
      return channelCache.stats
    },
    metrics: metrics.registry,
    health: () => evaluateHealth(healthState, liveParts()),
    reload,
    close() {
      closing ??= (async () => {
        clearInterval(probeTimer)
        // Sessions end with a `close` frame (server_shutdown) once their pending receipts are stored.
        for (const driver of drivers) driver.shutdown()
        const deadline = Date.now() + 2_000
        while (wss.clients.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
        for (const client of wss.clients) client.terminate()
        await new Promise<void>((resolve) => wss.close(() => resolve()))
        const httpClosed = new Promise<void>((resolve) => http.close(() => resolve()))
        http.closeAllConnections()
        await httpClosed
        // A session ends once its receipts in flight are checked and stored: keep the store open for them.
        const stored = Date.now() + 5_000
        while (sessions > 0 && Date.now() < stored) await new Promise((r) => setTimeout(r, 20))
        await anchorer?.stop(5_000)
        await worker.stop(5_000)
        await verifier?.close()
        await mqttSource.close()
        readings.close()
        await ipfs.stop()
        await store.close()
        provider.destroy()
      })()
      return closing
    },
  }
}

/**
 * `promise`, or a rejection once `ms` have passed.
 * @throws Error `timed out after <ms> ms`
 */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms).unref()
    }),
  ]).finally(() => clearTimeout(timer))
}

/**
 * The key each product's readings are recorded under: a stream's own, a dataset's source's.
 * @throws TrickleError `INVALID_ARGUMENT` when keys repeat or a dataset's `recordingOf` names no
 *   stream product of the list
 */
function feedKeysOf(products: readonly StreamProductSpec[]): Map<string, string> {
  const keys = new Map<string, string>()
  for (const p of products) {
    if (keys.has(p.key)) throw new TrickleError('INVALID_ARGUMENT', `product key ${p.key} is used twice`)
    if ((p.kind ?? 'stream') === 'stream') {
      keys.set(p.key, p.key)
      continue
    }
    if (p.kind === 'compute' || p.kind === 'app') {
      if (!p.job)
        throw new TrickleError('INVALID_ARGUMENT', `${p.kind} product ${p.key} needs its job settings`)
      if (p.kind === 'app' && !p.job.app)
        throw new TrickleError('INVALID_ARGUMENT', `app ${p.key} needs its module`)
      continue
    }
    const source = products.find((q) => q.key === p.recordingOf && (q.kind ?? 'stream') === 'stream')
    if (!source) {
      throw new TrickleError(
        'INVALID_ARGUMENT',
        `dataset ${p.key}: recordingOf ${JSON.stringify(p.recordingOf)} is not a stream product of this seller`,
      )
    }
    keys.set(p.key, source.key)
  }
  return keys
}
