/**
 * The seller side of the protocol benchmark, run as its own process (`fork` with `process.execPath`)
 * so its RSS and CPU are its own. It serves WebSocket sessions on 127.0.0.1 with the seller server's
 * real driver (`driveSession` from `@trickle/seller`: `SellerSession`, receipts stored through a
 * `ReceiptStore` before credit extends) or, in `unpaid` mode, sends the same chunk frames with the same
 * source and pacing and no session at all. The parent picks the mode per run over IPC.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import {
  type AcceptedReceipt,
  type ChannelInfo,
  decodeFrame,
  encodeFrame,
  signTerms,
  useCryptoBackend,
  ZERO_HASH,
} from '@trickle/protocol'
import {
  ChannelLedgers,
  defaultVerifierThreads,
  driveSession,
  nativeCrypto,
  openReceiptStore,
  type ReceiptStore,
  startReceiptVerifier,
} from '@trickle/seller'
import pino from 'pino'
import WebSocket, { WebSocketServer } from 'ws'
import {
  BUYER_ADDRESS,
  CHAIN_ID,
  CHANNELS,
  DEPOSIT,
  DOMAIN_SEPARATOR,
  type FromSeller,
  PAYEE,
  policyFor,
  quantile,
  SELLER_TERMS_KEY,
  type SellerRunConfig,
  stampedChunk,
  type ToSeller,
} from './protocolFixture.ts'

/** Send buffer above which the source waits for the socket to drain, bytes. */
const HIGH_WATER = 1 << 20
const TICK_MS = 10

// The seller's accelerated crypto, as `startSellerServer` installs it.
useCryptoBackend(await nativeCrypto())
const dataDir = mkdtempSync(join(tmpdir(), 'trickle-bench-'))
const stores: Record<SellerRunConfig['store'], ReceiptStore> = {
  disk: openReceiptStore(join(dataDir, 'receipts.sqlite')),
  memory: openReceiptStore(':memory:'),
}
const saveTimes: number[] = []
/** The configured store, timing each save (the same call the driver makes). */
const timedStore = (store: ReceiptStore): ReceiptStore => ({
  ...store,
  async save(receipt) {
    const started = performance.now()
    await store.save(receipt)
    saveTimes.push(performance.now() - started)
  },
})

let config: SellerRunConfig = {
  mode: 'paid',
  receiptEvery: 1024,
  store: 'disk',
  source: { kind: 'flood', chunks: 0 },
}
let store = timedStore(stores.disk)
/** as the seller server: receipt signers recovered inline with libsecp256k1, else in worker threads */
const verifierThreads = defaultVerifierThreads()
const verifier = verifierThreads === 0 ? undefined : startReceiptVerifier({ threads: verifierThreads })
/** as the seller server: concurrent sessions on a channel share its ledger */
const ledgers = new ChannelLedgers()
const log = pino({ level: 'silent' })
const loopDelay = monitorEventLoopDelay({ resolution: 10 })
loopDelay.enable()
let cpuAtConfigure = process.cpuUsage()
let peakRss = process.memoryUsage.rss()
setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss())
}, 250).unref()

/** Paced sources: one offer callback per session, called every `1000 / chunksPerSecond` ms, staggered. */
const paced = new Set<{ slot: number; offer: () => void }>()
let tick = 0
let nextSlot = 0
setInterval(() => {
  if (config.source.kind !== 'paced') return
  const slots = Math.max(1, Math.round(1000 / config.source.chunksPerSecond / TICK_MS))
  const current = tick++ % slots
  for (const source of paced) if (source.slot % slots === current) source.offer()
}, TICK_MS)

/**
 * Runs the flood source of one session: offers chunks while the socket's send buffer is under
 * {@link HIGH_WATER} and `credit()` allows, until `chunks` are offered or the socket closes.
 * @returns a function that resumes the source (call it when credit extends)
 */
function flood(ws: WebSocket, chunks: number, offer: (data: Uint8Array) => void, credit: () => boolean) {
  let offered = 0
  let waiting = false
  const pump = (): void => {
    waiting = false
    while (offered < chunks && ws.readyState === WebSocket.OPEN && credit()) {
      if (ws.bufferedAmount > HIGH_WATER) {
        waiting = true
        setImmediate(pump)
        return
      }
      offered++
      offer(stampedChunk())
    }
  }
  return {
    resume: () => {
      if (!waiting) pump()
    },
    get offered() {
      return offered
    },
  }
}

let sessions = 0
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 512 * 1024 })
wss.on('connection', (ws) => {
  sessions++
  ws.once('close', () => sessions--)
  if (config.mode === 'unpaid') return serveUnpaid(ws, config)
  return servePaid(ws, config)
})

/** The real driver: hello → terms → accept → chunks, receipts stored before credit extends. */
function servePaid(ws: WebSocket, run: SellerRunConfig): void {
  const policy = policyFor(run.receiptEvery)
  let onChunk: ((data: Uint8Array, position: number) => void) | undefined
  let position = 0
  let durableSeq = 0
  let source: ReturnType<typeof flood> | undefined
  driveSession(ws, {
    policyFor: (productId) => ({ key: productId.toString(), policy }),
    resolve: async (productId, channelId): Promise<ChannelInfo> => ({
      productId,
      channelId,
      chainId: CHAIN_ID,
      channels: CHANNELS,
      payee: PAYEE,
      deposit: DEPOSIT,
      signers: [BUYER_ADDRESS],
      base: { seq: 0, amount: 0n, ackHash: ZERO_HASH, signature: '0x' },
    }),
    signTerms: (terms) => signTerms(SELLER_TERMS_KEY, terms),
    domainSeparator: () => DOMAIN_SEPARATOR,
    listen: (_key, listener) => {
      onChunk = listener
      const offer = (data: Uint8Array) => onChunk?.(data, position++)
      if (run.source.kind === 'flood') {
        // Never offer more than the window can take: the session's queue then never drops a chunk.
        const s = flood(ws, run.source.chunks, offer, () => source!.offered - durableSeq < policy.window.max)
        source = s
        setImmediate(s.resume)
      } else {
        const entry = { slot: nextSlot++, offer: () => offer(stampedChunk()) }
        paced.add(entry)
        ws.once('close', () => paced.delete(entry))
      }
      return () => {
        onChunk = undefined
      }
    },
    store,
    onReceiptStored: (receipt: AcceptedReceipt) => {
      durableSeq = receipt.seq
      source?.resume()
    },
    onSessionEnd: () => {},
    ledgers,
    maxFrameBytes: 512 * 1024,
    ...(verifier ? { verifier } : {}),
    log,
  })
}

/** Payment off: the same source, the same `chunk` frames, no session, no receipts. */
function serveUnpaid(ws: WebSocket, run: SellerRunConfig): void {
  let seq = 0
  const send = (data: Uint8Array) => ws.send(encodeFrame({ t: 'chunk', seq: seq++, data }))
  ws.once('message', (data: Buffer) => {
    if (decodeFrame(data).t !== 'hello') return ws.close()
    if (run.source.kind === 'flood') {
      setImmediate(flood(ws, run.source.chunks, send, () => true).resume)
    } else {
      const entry = { slot: nextSlot++, offer: () => send(stampedChunk()) }
      paced.add(entry)
      ws.once('close', () => paced.delete(entry))
    }
  })
}

const reply = (message: FromSeller) => process.send!(message)

process.on('message', (message: ToSeller) => {
  switch (message.type) {
    case 'configure':
      config = message.config
      store = timedStore(stores[config.store])
      saveTimes.length = 0
      loopDelay.reset()
      cpuAtConfigure = process.cpuUsage()
      peakRss = process.memoryUsage.rss()
      reply({ type: 'configured' })
      break
    case 'stats': {
      const cpu = process.cpuUsage(cpuAtConfigure)
      reply({
        type: 'stats',
        stats: {
          rss: process.memoryUsage.rss(),
          peakRss,
          saves: saveTimes.length,
          saveP50Ms: quantile(saveTimes, 0.5),
          saveP99Ms: quantile(saveTimes, 0.99),
          loopDelayP50Ms: loopDelay.percentile(50) / 1e6,
          loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
          cpuMs: (cpu.user + cpu.system) / 1000,
          sessions,
        },
      })
      break
    }
    case 'exit':
      for (const client of wss.clients) client.terminate()
      wss.close()
      void Promise.all([...Object.values(stores).map((s) => s.close()), verifier?.close()]).then(() => {
        rmSync(dataDir, { recursive: true, force: true })
        process.exit(0)
      })
      break
  }
})

wss.on('listening', () => {
  const address = wss.address()
  if (address === null || typeof address === 'string') throw new Error('expected a TCP address')
  reply({ type: 'ready', port: address.port })
})
