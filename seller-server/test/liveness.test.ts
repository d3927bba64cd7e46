// Heartbeats, idle timeouts and slow-buyer back-pressure against a real seller server (SPEC.md
// §Liveness, §Back-pressure): anvil, the MQTT broker and the seller run for real; the buyers are a raw
// client, a client whose socket stops reading, and the SDK's BuyerClient.
import type { Socket } from 'node:net'
import { type LocalMarketplace, startLocalMarketplace } from '@trickle/devnet'
import { type ChunkFrame, decodeFrame, encodeFrame, type Frame, type Hex } from '@trickle/protocol'
import { BuyerClient } from '@trickle/sdk'
import { JsonRpcProvider, Wallet } from 'ethers'
import mqtt from 'mqtt'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import type { SessionEnd } from '../src/index.ts'
import { acceptFor, connectRaw } from './helpers/rawClient.ts'

const HEARTBEAT_MS = 500
const IDLE_MS = 3_000
const MAX_QUEUED = 4
/** large chunks, so that a few fill the loopback socket buffers (several MB) quickly */
const MAX_CHUNK_BYTES = 200_000
const MAX_BUFFERED = 256 * 1024
/** payload of each published reading, bytes */
const READING_BYTES = 150_000
/** readings published while the client is stalled (22.5 MB) */
const READINGS = 150

describe('seller server liveness and back-pressure', () => {
  let market: LocalMarketplace
  let provider: JsonRpcProvider
  let buyer: BuyerClient
  let price: bigint
  let productId: bigint
  let topic: string
  let publisher: mqtt.MqttClient
  const ends: SessionEnd[] = []

  beforeAll(async () => {
    market = await startLocalMarketplace({
      rowsPerSecond: 0,
      policy: {
        maxChunkBytes: MAX_CHUNK_BYTES,
        // A window the paused buyer never exhausts: only the socket can hold the seller back.
        window: { initial: 100_000, step: 0, max: 100_000 },
        receiptEvery: 8,
        heartbeatMs: HEARTBEAT_MS,
        idleTimeoutMs: IDLE_MS,
        maxQueuedChunks: MAX_QUEUED,
        overflow: 'drop_oldest',
        maxBufferedBytes: MAX_BUFFERED,
      },
      logger: pino({ level: 'silent' }),
    })
    market.seller.events.on('session', (end) => ends.push(end))
    provider = new JsonRpcProvider(market.rpcUrl, market.chainId, {
      staticNetwork: true,
      cacheTimeout: -1,
      pollingInterval: 100,
    })
    const payer = new Wallet(market.buyerKeys[2]!, provider)
    buyer = await BuyerClient.create({ wallet: payer, ...market.config })
    const product = market.seller.products[0]!
    productId = product.productId
    price = BigInt(product.descriptor.pricePerChunk)
    topic = product.descriptor.topics[0]!
    publisher = await mqtt.connectAsync(market.brokerUrl)
  })
  afterAll(async () => {
    await publisher?.endAsync()
    await buyer?.close()
    provider?.destroy()
    await market?.stop()
  })

  /** Publishes `count` readings of {@link READING_BYTES} bytes, in bursts of 10. */
  async function publish(count: number, first = 0): Promise<void> {
    for (let i = first; i < first + count; i += 10) {
      for (let j = i; j < Math.min(i + 10, first + count); j++) {
        const reading = new Uint8Array(READING_BYTES).fill(j & 255)
        publisher.publish(topic, Buffer.from(reading), { qos: 0 })
      }
      await new Promise((r) => setImmediate(r))
    }
  }

  async function sessionEnd(channelId: Hex, timeoutMs = 15_000): Promise<SessionEnd> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const end = ends.find((e) => e.channelId?.toLowerCase() === channelId.toLowerCase())
      if (end) return end
      await new Promise((r) => setTimeout(r, 20))
    }
    throw new Error(`session on ${channelId} did not end within ${timeoutMs} ms`)
  }

  it('pings a silent client every heartbeatMs, then closes it with IDLE_TIMEOUT after idleTimeoutMs', async () => {
    const started = Date.now()
    const raw = await connectRaw(market.seller.url)
    expect(await raw.next('ping')).toEqual({ t: 'ping', n: 1 })
    const closed = await raw.closed
    const elapsed = Date.now() - started
    const pings = raw.frames.filter((f) => f.t === 'ping')
    expect(pings.length).toBeGreaterThanOrEqual(2)
    expect(raw.frames.slice(-2)).toMatchObject([
      { t: 'error', code: 'IDLE_TIMEOUT' },
      { t: 'close', reason: 'idle_timeout' },
    ])
    expect(closed).toEqual({ code: 1000, reason: 'idle_timeout' })
    expect(elapsed).toBeGreaterThanOrEqual(IDLE_MS)
  })

  it('keeps a client that answers pings open beyond idleTimeoutMs', async () => {
    const raw = await connectRaw(market.seller.url)
    const deadline = Date.now() + IDLE_MS + 2 * HEARTBEAT_MS
    let answered = 0
    while (Date.now() < deadline) {
      const pings = raw.frames.filter((f): f is Extract<Frame, { t: 'ping' }> => f.t === 'ping')
      for (const p of pings.slice(answered)) raw.sendFrame({ t: 'pong', n: p.n })
      answered = pings.length
      await new Promise((r) => setTimeout(r, 50))
    }
    expect(answered).toBeGreaterThanOrEqual(3)
    expect(raw.frames.some((f) => f.t === 'close')).toBe(false)
    raw.close()
    await raw.closed
  })

  it('holds back and drops chunks for a client that stops reading, within the queue and buffer bounds, while another session keeps streaming', async () => {
    // A healthy SDK buyer streams throughout.
    const product = await buyer.product(productId)
    const good = await buyer.openChannel(market.seller.address, price * 10_000n)
    const stream = await buyer.stream(product, { channelId: good.channelId, maxSpend: price * 10_000n })
    const received: number[] = []
    const consuming = (async () => {
      for await (const c of stream) received.push(c.seq)
    })()

    // A client that accepts the terms, then stops reading its socket.
    const stalled = await buyer.openChannel(market.seller.address, price * 10_000n)
    const ws = new WebSocket(market.seller.url)
    await new Promise((resolve, reject) => {
      ws.once('open', resolve)
      ws.once('error', reject)
    })
    const frames: Frame[] = []
    ws.on('message', (data: Buffer) => frames.push(decodeFrame(data)))
    const wsClosed = new Promise<void>((resolve) => ws.once('close', () => resolve()))
    ws.send(encodeFrame({ t: 'hello', v: 1, productId, channelId: stalled.channelId }))
    while (!frames.some((f) => f.t === 'terms')) await new Promise((r) => setTimeout(r, 10))
    const terms = frames.find((f) => f.t === 'terms')!
    if (terms.t !== 'terms') throw new Error('no terms')
    ws.send(encodeFrame(acceptFor(terms, buyer.sessionKey)))
    await new Promise((r) => setTimeout(r, 50))
    ;(ws as unknown as { _socket: Socket })._socket.pause()

    // Far more than the socket buffers of a paused loopback connection hold.
    await publish(READINGS)
    const atStallEnd = received.length
    const end = await sessionEnd(stalled.channelId)
    await publish(20, READINGS)
    await stream.close()
    await consuming
    ws.terminate()
    await wsClosed

    expect(end).toMatchObject({ reason: 'idle_timeout', code: 'IDLE_TIMEOUT' })
    expect(end.peakQueuedChunks).toBeLessThanOrEqual(MAX_QUEUED)
    expect(end.chunksDropped).toBeGreaterThan(0)
    expect(end.chunksSent + end.chunksDropped).toBeLessThanOrEqual(READINGS)
    expect(end.peakBufferedBytes).toBeGreaterThanOrEqual(MAX_BUFFERED)
    expect(end.peakBufferedBytes).toBeLessThanOrEqual(MAX_BUFFERED + MAX_QUEUED * (MAX_CHUNK_BYTES + 64))
    // The healthy session got its chunks in order, and more after the stalled one ended.
    expect(received).toEqual(Array.from({ length: received.length }, (_, i) => i))
    expect(received.length).toBeGreaterThan(atStallEnd)
    expect(frames.filter((f): f is ChunkFrame => f.t === 'chunk').length).toBeLessThanOrEqual(end.chunksSent)
  })
})
