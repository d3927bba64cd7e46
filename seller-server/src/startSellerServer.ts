import { EventEmitter } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { channelsAt, type FeeMode, registryAt } from '@trickle/contracts'
import {
  type Address,
  DEFAULT_MAX_FRAME_BYTES,
  feeOverrides,
  type Hex,
  type ProductDescriptor,
  receiptDomainSeparator,
  type SellerPolicy,
  signTerms,
} from '@trickle/protocol'
import { JsonRpcProvider, NonceManager, Wallet } from 'ethers'
import pino, { type Logger } from 'pino'
import { WebSocketServer } from 'ws'
import { ChannelLedgers } from './channelLedgers.ts'
import { startIpfsNode } from './ipfsNode.ts'
import { connectMqttSource, DEFAULT_REPLAY_LIMITS, type ReplayLimits } from './mqttSource.ts'
import { type PublishedProduct, publishProducts } from './publishProducts.ts'
import { type ClaimRecord, openReceiptStore, type ReceiptStore } from './receiptStore.ts'
import { defaultVerifierThreads, startReceiptVerifier } from './receiptVerifier.ts'
import { resolveChannel } from './resolveChannel.ts'
import { driveSession, type ResumePoints, type SessionEnd, type SessionHandle } from './sessionDriver.ts'
import {
  DEFAULT_SETTLEMENT_POLICY,
  type SettlementPolicy,
  type SettlementWorker,
  startSettlementWorker,
} from './settlementWorker.ts'

/** A live sensor product: the MQTT topics it streams and what it costs. */
export interface StreamProductSpec {
  /** local name, unique on this server, e.g. `co` */
  key: string
  name: string
  description: string
  /** exact MQTT topic names (no wildcards) */
  topics: string[]
  fields: { name: string; unit: string }[]
  tags: string[]
  /** wei per chunk (one chunk = one MQTT message) */
  pricePerChunk: bigint
  source: ProductDescriptor['source']
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
  /** directory for the receipt database (one per chain, genesis and StreamChannels), the IPFS blockstore and product ids */
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
   * each product's replay buffer for resumed sessions (default {@link DEFAULT_REPLAY_LIMITS}: 4,096
   * readings or 4 MiB); in memory, so a restarted seller resumes live only
   */
  replay?: Partial<ReplayLimits>
  logger?: Logger
}

/** Events a running server emits. */
export interface SellerServerEvents {
  session: [SessionEnd]
  claimed: [ClaimRecord]
  claimFailed: [{ channelId: Hex; error: Error; willRetry: boolean }]
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
  /**
   * Stops accepting, closes sessions with `server_shutdown`, gives running claims up to 5 s to be
   * mined (the rest stay pending in the ledger and resume at the next start), and releases everything.
   */
  close(): Promise<void>
}

/**
 * Starts a seller: HTTP (`GET /health`, `GET /ipfs/<cid>`) and WebSocket sessions on one port,
 * products published to IPFS and registered on-chain, MQTT topics bridged into chunks, receipts
 * stored in `node:sqlite`, and each channel's latest receipt claimed when a session on it ends.
 *
 * @throws TrickleError `CHAIN_UNAVAILABLE` when registration fails; MQTT connection errors
 */
export async function startSellerServer(options: SellerServerOptions): Promise<SellerServer> {
  const log = options.logger ?? pino({ level: process.env.TRICKLE_LOG_LEVEL ?? 'info' })
  const policy: SessionPolicy = { ...DEFAULT_SESSION_POLICY, ...options.policy }
  const provider = new JsonRpcProvider(options.rpcUrl, options.chainId, {
    staticNetwork: true,
    pollingInterval: 250,
    cacheTimeout: -1,
  })
  const wallet = new Wallet(options.sellerKey, provider)
  const sender = new NonceManager(wallet)
  const termsWallet = new Wallet(options.termsKey ?? options.sellerKey)
  const fees = () => feeOverrides(provider, options.fees ?? 'eip1559')
  const registry = registryAt(options.registry, sender)
  const channels = channelsAt(options.channels, sender)
  // Channel ids are only unique per chain and StreamChannels deployment, and a fresh anvil reuses both
  // the chain id and the contract address: scope the receipts by the genesis block hash too.
  const genesis = await provider.getBlock(0)
  const chainScope = `${options.chainId}-${(genesis?.hash ?? '0x').slice(2, 14)}-${options.channels.toLowerCase()}`
  const store = openReceiptStore(join(options.dataDir, chainScope, 'receipts.sqlite'))
  const settlement = startSettlementWorker(
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
  const events = new EventEmitter<SellerServerEvents>()
  settlement.events.on('claimed', (claim) => events.emit('claimed', claim))
  settlement.events.on('claimFailed', (failure) => events.emit('claimFailed', failure))
  const ipfs = await startIpfsNode(join(options.dataDir, 'blocks'))
  const mqttSource = await connectMqttSource(
    options.brokerUrl,
    new Map(options.products.map((p) => [p.key, p.topics])),
    (err) => log.warn({ err: err.message }, 'mqtt error'),
    { ...DEFAULT_REPLAY_LIMITS, ...options.replay },
  )
  const resumePoints: ResumePoints = new Map()

  const ledgers = new ChannelLedgers(options.maxSessionsPerChannel)
  let sessions = 0
  const policies = new Map<bigint, { key: string; policy: SellerPolicy }>()

  const http = createServer((req, res) => {
    void (async () => {
      if (await ipfs.handle(req, res)) return
      if (req.url === '/health') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            status: mqttSource.connected ? 'ok' : 'degraded',
            chainId: options.chainId,
            seller: wallet.address,
            mqtt: mqttSource.connected ? 'connected' : 'reconnecting',
            sessions,
            products: published.map((p) => ({ key: p.key, productId: p.productId.toString(), cid: p.cid })),
          }),
        )
        return
      }
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
    })().catch((err) => {
      log.error({ err }, 'http handler failed')
      if (!res.headersSent) res.writeHead(500).end()
    })
  })
  const host = options.host ?? '127.0.0.1'
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject)
    http.listen(options.port ?? 0, host, resolve)
  })
  const port = (http.address() as AddressInfo).port
  const wsBase = options.publicUrl ?? `ws://${host}:${port}`

  // Publish: the terms key first, so buyers can authenticate terms as soon as products are listed.
  const registeredKey = await registry.sellerKey(wallet.address)
  if (registeredKey.toLowerCase() !== termsWallet.address.toLowerCase()) {
    await (await registry.setSellerKey(termsWallet.address, await fees())).wait()
  }
  const descriptors = new Map<string, ProductDescriptor>(
    options.products.map((p) => [
      p.key,
      {
        schema: 'trickle.descriptor/1',
        name: p.name,
        description: p.description,
        kind: 'stream',
        seller: wallet.address,
        endpoint: `${wsBase}/`,
        pricePerChunk: p.pricePerChunk.toString(),
        chunk: { encoding: 'application/json', maxBytes: policy.maxChunkBytes, unit: 'one sensor reading' },
        topics: p.topics,
        fields: p.fields,
        tags: p.tags,
        source: p.source,
        createdAt: new Date().toISOString(),
      },
    ]),
  )
  const published = await publishProducts(
    ipfs,
    registry,
    wallet.address,
    descriptors,
    join(options.dataDir, chainScope, 'products.json'),
    fees,
  )
  for (const p of published) {
    const spec = options.products.find((s) => s.key === p.key)!
    policies.set(p.productId, { key: p.key, policy: { ...policy, pricePerChunk: spec.pricePerChunk } })
  }

  // One chain, one StreamChannels: the receipt domain separator is fixed for this server.
  const domainSeparator = receiptDomainSeparator({ chainId: options.chainId, channels: options.channels })
  // ws's own limit sits above the frame limit so oversized frames get a FRAME_TOO_LARGE error frame.
  const wss = new WebSocketServer({ server: http, maxPayload: 2 * DEFAULT_MAX_FRAME_BYTES })
  const drivers = new Set<SessionHandle>()
  const verifierThreads = options.verifierThreads ?? defaultVerifierThreads()
  const verifier = verifierThreads === 0 ? undefined : startReceiptVerifier({ threads: verifierThreads })
  // A closing channel only pays what is claimed before its deadline: stop extending credit on it.
  settlement.events.on('closeRequested', ({ channelId }) => {
    for (const driver of drivers) {
      if (driver.channelId?.toLowerCase() !== channelId) continue
      log.info({ channelId }, 'payer requested close: ending the session')
      driver.reject('CHANNEL_NOT_OPEN', 'the payer requested to close the channel')
    }
  })
  wss.on('connection', (ws) => {
    sessions++
    const driver = driveSession(ws, {
      policyFor: (id) => policies.get(id),
      resolve: (productId, channelId, now) =>
        resolveChannel(
          channels,
          store,
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
      listen: (key, onChunk, after) => mqttSource.listen(key, onChunk, after),
      resumePoints,
      store,
      ledgers,
      onReceiptStored: (receipt) => settlement.receiptStored(receipt),
      onSessionEnd: (end) => {
        sessions--
        events.emit('session', end)
        log.info(end, 'session ended')
        if (end.channelId && end.receiptsAccepted > 0) settlement.sessionEnded(end.channelId)
      },
      maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
      ...(verifier ? { verifier } : {}),
      liveness: policy,
      log,
    })
    drivers.add(driver)
    ws.once('close', () => drivers.delete(driver))
  })

  let closing: Promise<void> | undefined
  return {
    url: `ws://${host}:${port}`,
    httpUrl: `http://${host}:${port}`,
    address: wallet.address as Address,
    products: published,
    events,
    store,
    settlement,
    get sessionCount() {
      return sessions
    },
    close() {
      closing ??= (async () => {
        // Sessions end with a `close` frame (server_shutdown) once their pending receipts are stored.
        for (const driver of drivers) driver.shutdown()
        const deadline = Date.now() + 2_000
        while (wss.clients.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
        for (const client of wss.clients) client.terminate()
        await new Promise<void>((resolve) => wss.close(() => resolve()))
        await new Promise<void>((resolve) => http.close(() => resolve()))
        http.closeAllConnections()
        // A session ends once its receipts in flight are checked and stored: keep the store open for them.
        const stored = Date.now() + 5_000
        while (sessions > 0 && Date.now() < stored) await new Promise((r) => setTimeout(r, 20))
        await settlement.stop(5_000)
        await verifier?.close()
        await mqttSource.close()
        await ipfs.stop()
        await store.close()
        provider.destroy()
      })()
      return closing
    },
  }
}
