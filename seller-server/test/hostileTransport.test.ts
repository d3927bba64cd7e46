// Hostile clients at the transport and HTTP level against real seller servers (anvil, the MQTT
// broker, helia and the seller run for real): floods of pings and hellos, connections that never
// send a byte or never read, and requests the gateway should not answer. Each attack client binds
// its own 127.0.0.N source address, so the seller's per-address limits tell it from honest clients.
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { type AddressInfo, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ChannelStatus, type ChannelView } from '@trickle/contracts'
import { airQualityProducts, type LocalMarketplace, startLocalMarketplace } from '@trickle/devnet'
import { DEFAULT_MAX_FRAME_BYTES, encodeFrame, type Hex } from '@trickle/protocol'
import { base16 } from 'multiformats/bases/base16'
import { base32upper } from 'multiformats/bases/base32'
import { base36 } from 'multiformats/bases/base36'
import { base58btc } from 'multiformats/bases/base58'
import { base64url } from 'multiformats/bases/base64'
import { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cacheChannelReads } from '../src/channelReadCache.ts'
import {
  ConnectionGuard,
  clientKey,
  DEFAULT_CONNECTION_LIMITS,
  fullBucket,
  takeTokens,
} from '../src/connectionLimits.ts'
import { type SellerServer, type SessionEnd, startSellerServer } from '../src/index.ts'
import { parseAnyCid } from '../src/ipfsNode.ts'
import { admissionOf, evaluateHealth, healthyState } from '../src/sellerHealth.ts'
import { type BrokerLink, startBrokerLink } from './helpers/brokerLink.ts'
import { buyerFor } from './helpers/buyer.ts'
import { type FlakyRpc, startFlakyRpc } from './helpers/flakyRpc.ts'
import {
  floodPings,
  httpRequest,
  openSocket,
  probeHealth,
  refusedUpgrade,
  silentConnection,
} from './helpers/hostileClient.ts'
import { scrapeMetrics } from './helpers/metrics.ts'
import { mp } from './helpers/msgpackWriter.ts'

const MiB = 1024 * 1024
const PRICE = 1_000_000_000_000n
const randomChannelId = () => `0x${randomBytes(32).toString('hex')}` as Hex

/** A TCP port on 127.0.0.1 that was free a moment ago. */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

describe('connection limits', () => {
  it('admits a token bucket burst, then the refill rate, never more than the burst', () => {
    const limit = { perSecond: 10, burst: 5 }
    const bucket = fullBucket(limit, 0)
    expect(Array.from({ length: 6 }, () => takeTokens(bucket, limit, 1, 0))).toEqual([
      true,
      true,
      true,
      true,
      true,
      false,
    ])
    // 10/s: one token per 100 ms.
    expect(takeTokens(bucket, limit, 1, 50)).toBe(false)
    expect(takeTokens(bucket, limit, 1, 100)).toBe(true)
    // A long pause refills to the burst only.
    expect(takeTokens(bucket, limit, 6, 60_000)).toBe(false)
    expect(takeTokens(bucket, limit, 5, 60_000)).toBe(true)
  })

  it('counts IPv4 clients by address and IPv6 clients by /64', () => {
    expect(clientKey('127.0.0.1')).toBe('127.0.0.1')
    expect(clientKey('::ffff:10.1.2.3')).toBe('10.1.2.3')
    expect(clientKey('2001:db8:0:1:aaaa::1')).toBe('2001:db8:0:1::/64')
    expect(clientKey('2001:db8:0:1:bbbb:cccc:dddd:eeee')).toBe('2001:db8:0:1::/64')
    expect(clientKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64')
    expect(clientKey('::1')).toBe('0:0:0:0::/64')
    expect(clientKey(undefined)).toBe('unknown')
    expect(clientKey('1:2:3:4:5:6:7:8:9')).toBe('unknown')
  })

  it('refuses connections beyond the per-address and total caps, and frees them on release', () => {
    const guard = new ConnectionGuard(
      { ...DEFAULT_CONNECTION_LIMITS, maxConnectionsPerIp: 2, maxConnections: 3 },
      0,
    )
    expect([guard.admit('a', 0), guard.admit('a', 0), guard.admit('a', 0)]).toEqual([
      undefined,
      undefined,
      'connections_per_ip',
    ])
    expect([guard.admit('b', 0), guard.admit('c', 0)]).toEqual([undefined, 'connections_total'])
    guard.release('a')
    expect(guard.admit('c', 0)).toBeUndefined()
    expect(guard.stats()).toMatchObject({
      open: 3,
      clients: 3,
      rejected: { connections_per_ip: 1, connections_total: 1 },
    })
  })

  it('limits frames per connection and hellos per address, across reconnects', () => {
    const guard = new ConnectionGuard(
      {
        ...DEFAULT_CONNECTION_LIMITS,
        framesPerConnection: { perSecond: 1, burst: 3 },
        hellosPerIp: { perSecond: 1, burst: 2 },
      },
      0,
    )
    guard.admit('a', 0)
    const gate = guard.gate('a', 0)
    expect([1, 2, 3, 4].map(() => gate.frame(10, 0)?.code)).toEqual([
      undefined,
      undefined,
      undefined,
      'RATE_LIMITED',
    ])
    // Another connection of the same address has its own frame bucket, but shares the hello bucket,
    // also after the first one closed.
    expect([gate.hello(0), gate.hello(0)]).toEqual([undefined, undefined])
    guard.release('a')
    guard.admit('a', 0)
    const again = guard.gate('a', 0)
    expect(again.frame(10, 0)).toBeUndefined()
    expect(again.hello(0)?.code).toBe('RATE_LIMITED')
    expect(again.hello(1_000)).toBeUndefined()
    expect(guard.rejections).toMatchObject({ frame_rate: 1, hello_rate: 1 })
  })

  it('refuses frames by bytes per connection', () => {
    const guard = new ConnectionGuard(
      { ...DEFAULT_CONNECTION_LIMITS, bytesPerConnection: { perSecond: 100, burst: 1_000 } },
      0,
    )
    guard.admit('a', 0)
    const gate = guard.gate('a', 0)
    expect(gate.frame(900, 0)).toBeUndefined()
    expect(gate.frame(200, 0)?.code).toBe('RATE_LIMITED')
    expect(guard.rejections.byte_rate).toBe(1)
  })
})

describe('channel read cache', () => {
  const view = (status: number) => ({ status }) as unknown as ChannelView
  function counting(status = ChannelStatus.open) {
    const reads: string[] = []
    let failing = false
    return {
      reads,
      fail: (on: boolean) => {
        failing = on
      },
      getChannel: async (id: string) => {
        reads.push(id)
        await new Promise((r) => setTimeout(r, 5))
        if (failing) throw new Error('rpc down')
        return view(id.endsWith('00') ? ChannelStatus.none : status)
      },
    }
  }

  /** A cache over `source` on a clock the test moves (`clock.now`); a 2 s TTL, 10 s for unknown ids. */
  function clockedCache(source: ReturnType<typeof counting>, extra: { minRefreshAgeMs?: number } = {}) {
    // lru-cache reads a start time of 0 as "no TTL": the clock starts later.
    const clock = { now: 1_000 }
    const cache = cacheChannelReads(source, {
      ttlMs: 2_000,
      unknownTtlMs: 10_000,
      maxEntries: 10,
      clock: { now: () => clock.now },
      ...extra,
    })
    return { cache, clock }
  }

  it('shares one chain read among concurrent and repeated reads until the TTL passes', async () => {
    const source = counting()
    const { cache, clock } = clockedCache(source)
    await Promise.all(Array.from({ length: 5 }, () => cache.getChannel('0xAB')))
    await cache.getChannel('0xab')
    expect(source.reads).toEqual(['0xab'])
    clock.now = 3_001
    await cache.getChannel('0xab')
    expect(source.reads).toHaveLength(2)
    expect(cache.stats).toMatchObject({ reads: 2, hits: 5, entries: 1 })
  })

  it('reads a channel again for a fresh view (a top-up within the TTL), at most once per minRefreshAgeMs', async () => {
    const source = counting()
    const { cache, clock } = clockedCache(source, { minRefreshAgeMs: 250 })
    await cache.getChannel('0xab')
    // asked again and again within 250 ms of the read: the chain is not asked
    await Promise.all(Array.from({ length: 20 }, () => cache.getFreshChannel('0xab')))
    expect(source.reads).toHaveLength(1)
    clock.now = 1_300
    await cache.getFreshChannel('0xab')
    await cache.getFreshChannel('0xab')
    expect(source.reads).toHaveLength(2)
    // the fresh read is what later plain reads reuse
    await cache.getChannel('0xab')
    expect(source.reads).toHaveLength(2)
  })

  it('remembers unknown channels longer, does not cache failures, and forgets on request', async () => {
    const source = counting()
    const { cache, clock } = clockedCache(source)
    expect((await cache.getChannel('0x00')).status).toBe(ChannelStatus.none)
    clock.now = 10_000
    await cache.getChannel('0x00')
    expect(source.reads).toEqual(['0x00'])
    source.fail(true)
    await expect(cache.getChannel('0x01')).rejects.toThrow('rpc down')
    source.fail(false)
    await cache.getChannel('0x01')
    cache.forget('0x01')
    await cache.getChannel('0x01')
    expect(source.reads.filter((id) => id === '0x01')).toHaveLength(3)
    expect(cache.stats.failures).toBe(1)
  })

  it('keeps at most maxEntries reads', async () => {
    const source = counting()
    const cache = cacheChannelReads(source, { ttlMs: 60_000, unknownTtlMs: 60_000, maxEntries: 3 })
    for (let i = 1; i <= 10; i++) await cache.getChannel(`0x${i}1`)
    expect(cache.stats.entries).toBe(3)
  })
})

describe('parseAnyCid', () => {
  it('reads a CID in every multibase multiformats knows, and refuses text that is none', () => {
    const cid = CID.createV1(0x0129, identity.digest(new TextEncoder().encode('{}')))
    for (const base of [base16, base32upper, base36, base58btc, base64url]) {
      expect(parseAnyCid(cid.toString(base)).equals(cid)).toBe(true)
    }
    expect(() => parseAnyCid('not a cid')).toThrow()
    expect(() => parseAnyCid('Qm-not-base58')).toThrow()
  })
})

describe('seller health', () => {
  it('is ok with every part healthy and names each failed part, the store first for admission', () => {
    const state = healthyState()
    expect(evaluateHealth(state)).toEqual({ ok: true, reasons: [], failing: [] })
    expect(admissionOf(state)).toBeUndefined()
    state.chainFailedAt = 1
    expect(admissionOf(state)?.code).toBe('CHAIN_UNAVAILABLE')
    state.storeFailedAt = 2
    expect(evaluateHealth(state).ok).toBe(false)
    expect(evaluateHealth(state).reasons).toHaveLength(2)
    expect(evaluateHealth(state).failing).toEqual(['store', 'rpc'])
    expect(admissionOf(state)?.code).toBe('STORE_FAILED')
  })

  it('is not ok while the broker is disconnected or the server is starting, and names those parts', () => {
    const state = healthyState()
    const broker = evaluateHealth(state, { brokerConnected: false, serving: true })
    expect(broker).toMatchObject({ ok: false, failing: ['broker'] })
    expect(broker.reasons).toEqual([expect.stringMatching(/broker/)])
    // Sessions are still admitted: readings resume when the broker is back.
    expect(admissionOf(state)).toBeUndefined()
    expect(evaluateHealth(state, { brokerConnected: true, serving: false }).failing).toEqual(['starting'])
    state.chainFailedAt = 1
    expect(evaluateHealth(state, { brokerConnected: false, serving: true }).failing).toEqual([
      'rpc',
      'broker',
    ])
  })
})

describe('seller server against hostile transports', () => {
  /** chain, broker, replayer and a seller with the default limits */
  let market: LocalMarketplace
  /** the strict seller's RPC goes through this proxy, which counts (and can fail) its calls */
  let rpc: FlakyRpc
  /** the strict seller's MQTT connection goes through this link, which can be cut */
  let broker: BrokerLink
  /** a second seller with small caps and timeouts, and the frame rate lifted */
  let strict: SellerServer
  const strictEnds: SessionEnd[] = []

  beforeAll(async () => {
    market = await startLocalMarketplace({ rowsPerSecond: 20, logger: pino({ level: 'silent' }) })
    rpc = await startFlakyRpc(market.rpcUrl)
    broker = await startBrokerLink(market.brokerUrl)
    const unlimited = { perSecond: 1e9, burst: 1e9 }
    strict = await startSellerServer({
      rpcUrl: rpc.url,
      chainId: market.chainId,
      registry: market.deployment.registry as Hex,
      channels: market.deployment.channels as Hex,
      sellerKey: market.buyerKeys[7]!,
      brokerUrl: broker.url,
      dataDir: mkdtempSync(join(tmpdir(), 'trickle-strict-seller-')),
      products: airQualityProducts(PRICE),
      healthProbeMs: 250,
      // The ping flood below waits for its terms to be accepted meanwhile.
      policy: { termsTtlMs: 120_000 },
      limits: {
        maxConnectionsPerIp: 8,
        headersTimeoutMs: 1_000,
        requestTimeoutMs: 2_000,
        // The ping flood must meet the send-buffer bound, not a rate limit.
        framesPerConnection: unlimited,
        framesPerIp: unlimited,
        framesTotal: unlimited,
        bytesPerConnection: unlimited,
        bytesPerIp: unlimited,
        bytesTotal: unlimited,
        hellosPerIp: { perSecond: 2, burst: 10 },
        hellosTotal: { perSecond: 1_000, burst: 1_000 },
      },
      logger: pino({ level: 'silent' }),
    })
    strict.events.on('session', (end) => strictEnds.push(end))
  })
  afterAll(async () => {
    await strict?.close().catch(() => undefined)
    await broker?.close()
    await rpc?.close()
    await market?.stop()
  })

  /** A paid stream of `seller`'s first product that counts its chunks until stopped. */
  async function honestStream(seller: SellerServer, keyIndex: number) {
    const { buyer, provider } = await buyerFor(market, { gateway: seller.httpUrl, keyIndex })
    const product = await buyer.product(seller.products[0]!.productId)
    const { channelId } = await buyer.openChannel(seller.address, PRICE * 100_000n)
    const stream = await buyer.stream(product, { channelId, maxSpend: PRICE * 100_000n })
    const seqs: number[] = []
    let failure: Error | undefined
    // A session that ends with an error throws from the iterator: kept, for the test to look at.
    const consuming = (async () => {
      for await (const chunk of stream) seqs.push(chunk.seq)
    })().catch((err: Error) => {
      failure = err
    })
    return {
      seqs,
      channelId,
      stream,
      async waitFor(chunks: number, timeoutMs = 30_000) {
        const deadline = Date.now() + timeoutMs
        while (seqs.length < chunks) {
          if (Date.now() > deadline || failure) {
            throw new Error(`only ${seqs.length} of ${chunks} chunks (${failure?.message ?? 'no error'})`)
          }
          await new Promise((r) => setTimeout(r, 20))
        }
      },
      async stop() {
        await stream.close().catch(() => undefined)
        await consuming
        await buyer.close()
        provider.destroy()
      },
    }
  }

  async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  it('ends a session that pings and never reads with SEND_BUFFER_FULL, with memory bounded, while a paid stream goes on', async () => {
    const honest = await honestStream(strict, 0)
    try {
      await honest.waitFor(3)
      // A session past `hello` (a channel of its own; its terms wait for `accept`), so that only
      // what it does not read can end it.
      const { buyer, provider } = await buyerFor(market, { gateway: strict.httpUrl, keyIndex: 2 })
      const { channelId } = await buyer.openChannel(strict.address, PRICE * 100n)
      await buyer.close()
      provider.destroy()
      const ended = () => strictEnds.find((e) => e.channelId?.toLowerCase() === channelId.toLowerCase())
      const rssBefore = process.memoryUsage.rss()
      const attacker = await openSocket(strict.url, '127.0.0.2', false)
      attacker.ws.send(encodeFrame({ t: 'hello', v: 1, productId: strict.products[0]!.productId, channelId }))
      // ~33 MB of pings: unbounded, their pongs grew a seller by tens of MiB/s.
      const sent = await floodPings(attacker.ws, 3_000_000)
      await until('the flooding session to end', () => ended() !== undefined)
      const rssGrowth = process.memoryUsage.rss() - rssBefore
      attacker.ws.terminate()
      const atEnd = honest.seqs.length
      await honest.waitFor(atEnd + 5)
      console.log(
        `ping flood: ${sent} pings (${((sent * 11) / MiB).toFixed(1)} MiB) sent, RSS growth ${(rssGrowth / MiB).toFixed(1)} MiB`,
      )
      expect(ended()).toMatchObject({ reason: 'resource_limit', code: 'SEND_BUFFER_FULL' })
      expect(sent).toBeLessThan(3_000_000)
      expect(rssGrowth).toBeLessThan(200 * MiB)
      expect(strict.connections.rejected.send_buffer_full).toBeGreaterThanOrEqual(1)
      expect(honest.seqs).toEqual(Array.from({ length: honest.seqs.length }, (_, i) => i))
    } finally {
      await honest.stop()
    }
  }, 180_000)

  it('drops connections that send nothing after the header timeout', async () => {
    const port = Number(new URL(strict.httpUrl).port)
    const silent = await Promise.all(Array.from({ length: 6 }, () => silentConnection(port, '127.0.0.3')))
    // Without a header timeout Node held them for its 300 s request timeout.
    const heldMs = await Promise.all(silent.map((c) => c.closed))
    expect(heldMs.every((ms) => ms < 60_000)).toBe(true)
    expect(silent.every((c) => c.received().startsWith('HTTP/1.1 408'))).toBe(true)
    expect(strict.connections.rejected.request_timeout).toBeGreaterThanOrEqual(6)
  }, 90_000)

  it('refuses connections beyond the per-address cap with 429 while /health answers others', async () => {
    const port = Number(new URL(strict.httpUrl).port)
    const held = await Promise.all(Array.from({ length: 8 }, () => openSocket(strict.url, '127.0.0.4')))
    const refusals = await Promise.all(
      Array.from({ length: 3 }, () => refusedUpgrade(strict.url, '127.0.0.4')),
    )
    expect(refusals).toEqual(Array.from({ length: 3 }, () => 'Unexpected server response: 429'))
    const silent = await silentConnection(port, '127.0.0.4')
    await silent.closed
    expect(silent.received()).toMatch(/^HTTP\/1.1 429/)
    const health = await fetch(`${strict.httpUrl}/health`)
    expect(health.status).toBe(200)
    expect(strict.connections.rejected.connections_per_ip).toBeGreaterThanOrEqual(4)
    for (const socket of held) socket.ws.close()
    await Promise.all(held.map((s) => s.closed))
    // Freed slots admit the address again.
    await until('a new connection from the address to be admitted', async () => {
      const outcome = await refusedUpgrade(strict.url, '127.0.0.4')
      return outcome === 'accepted'
    })
  }, 90_000)

  it('closes a connection flooding pings with RATE_LIMITED within a bounded number of frames, /health answering', async () => {
    const probe = probeHealth(market.seller.httpUrl)
    const attacker = await openSocket(market.seller.url, '127.0.0.5')
    const started = performance.now()
    const sent = await floodPings(attacker.ws, 200_000, 200)
    const error = await attacker.next('error')
    const elapsedS = (performance.now() - started) / 1000
    const closed = await attacker.closed
    await probe.stop()
    const pongs = attacker.frames.filter((f) => f.t === 'pong').length
    console.log(`frame flood: ${sent} pings sent, ${pongs} answered in ${elapsedS.toFixed(2)} s`)
    expect(error.code).toBe('RATE_LIMITED')
    expect(attacker.frames.at(-1)).toMatchObject({ t: 'close', reason: 'resource_limit' })
    expect(closed).toEqual({ code: 1008, reason: 'resource_limit' })
    const { burst, perSecond } = DEFAULT_CONNECTION_LIMITS.framesPerConnection
    expect(pongs).toBeLessThanOrEqual(burst + perSecond * (elapsedS + 1))
    expect(sent).toBeLessThan(200_000)
    expect(probe.statuses.length).toBeGreaterThan(0)
    expect(probe.statuses.every((s) => s === 200)).toBe(true)
  }, 120_000)

  it('refuses a big ping full of ignored keys with FRAME_TOO_LARGE', async () => {
    const attacker = await openSocket(market.seller.url, '127.0.0.5')
    // ~229 KB, under the 256 KiB chunk-frame limit: a valid ping and 14,300 keys the codec ignores
    // (decoding one took 29 ms).
    const big = mp.map([
      [mp.str('t'), mp.str('ping')],
      [mp.str('n'), mp.uint(1)],
      ...Array.from({ length: 14_300 }, (_, i) => [mp.str(`ignored${i}`), mp.uint(i)] as const),
    ])
    expect(big.byteLength).toBeGreaterThan(200_000)
    expect(big.byteLength).toBeLessThan(DEFAULT_MAX_FRAME_BYTES)
    attacker.ws.send(big)
    expect((await attacker.next('error')).code).toBe('FRAME_TOO_LARGE')
    expect(attacker.frames.some((f) => f.t === 'pong')).toBe(false)
    await attacker.closed
  })

  it('bounds the chain reads of a hello flood with random channel ids and rate-limits it', async () => {
    const productId = strict.products[0]!.productId
    const calls = () => rpc.calls.filter((m) => m === 'eth_call').length
    const before = calls()
    const started = performance.now()
    const codes: string[] = []
    for (let i = 0; i < 40; i++) {
      const socket = await openSocket(strict.url, '127.0.0.6')
      socket.ws.send(encodeFrame({ t: 'hello', v: 1, productId, channelId: randomChannelId() }))
      codes.push((await socket.next('error')).code)
      // The seller closes the session: wait, so that this client keeps within its connection cap.
      await socket.closed
    }
    const elapsedS = (performance.now() - started) / 1000
    const reads = calls() - before
    console.log(
      `hello flood: 40 hellos in ${elapsedS.toFixed(1)} s, ${reads} eth_calls, codes ${codes.join(' ')}`,
    )
    expect(codes.filter((c) => c === 'UNKNOWN_CHANNEL').length).toBeGreaterThan(0)
    expect(codes.slice(-10)).toContain('RATE_LIMITED')
    // Burst 10, then 2/s (plus a few reads of the settlement worker).
    expect(reads).toBeLessThanOrEqual(10 + 2 * (elapsedS + 1) + 5)
    expect(reads).toBeLessThan(40)
    // The same unknown id again, from another address: answered from the cache.
    const id = randomChannelId()
    const firstRead = calls()
    for (const address of ['127.0.0.7', '127.0.0.8']) {
      const socket = await openSocket(strict.url, address)
      socket.ws.send(encodeFrame({ t: 'hello', v: 1, productId, channelId: id }))
      expect((await socket.next('error')).code).toBe('UNKNOWN_CHANNEL')
      await socket.closed
    }
    expect(calls() - firstRead).toBeLessThanOrEqual(1 + 2)
    expect(strict.channelReads.hits).toBeGreaterThanOrEqual(1)
  }, 120_000)

  describe('HTTP', () => {
    it('answers /history with what a range holds, 400 for a bad query, 404 for no product, and rate-limits a query flood like hellos', async () => {
      const id = strict.products[0]!.productId
      const get = async (path: string, from = '127.0.0.11') => {
        const res = await httpRequest(`${strict.httpUrl}${path}`, 'GET', {}, from)
        return { status: res.status, body: JSON.parse(res.body.toString()) as Record<string, unknown> }
      }
      await until(
        'readings recorded',
        async () => (await get(`/history/${id}?last=3`, '127.0.0.12')).status === 200,
      )
      expect(await get(`/history/${id}?last=3`)).toMatchObject({
        status: 200,
        body: { productId: id.toString(), count: 3, live: false },
      })
      for (const query of ['?last=0', '?from=5&to=1', '?last=3&from=1', '?from=1e3', '?live=1&to=5']) {
        expect(await get(`/history/${id}${query}`)).toMatchObject({
          status: 400,
          body: { code: 'INVALID_ARGUMENT' },
        })
      }
      expect(await get(`/history/${id}?from=1&to=2`)).toMatchObject({
        status: 404,
        body: { code: 'RANGE_UNAVAILABLE' },
      })
      for (const path of ['/history/999', '/history/abc', '/history/']) {
        expect(await get(path)).toMatchObject({ status: 404, body: { code: 'UNKNOWN_PRODUCT' } })
      }
      // A flood from one address: the hello buckets (burst 10, then 2/s) answer it with 429.
      const started = performance.now()
      const statuses: number[] = []
      for (let i = 0; i < 40; i++) statuses.push((await get(`/history/${id}?last=3`, '127.0.0.13')).status)
      const elapsedS = (performance.now() - started) / 1000
      const served = statuses.filter((s) => s === 200).length
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0)
      expect(served).toBeLessThanOrEqual(10 + 2 * (elapsedS + 1))
    })

    it('serves only published blocks: an identity CID gets 404', async () => {
      const bytes = new TextEncoder().encode('<script>alert(1)</script>')
      const cid = CID.createV1(0x55, identity.digest(bytes))
      const res = await fetch(`${market.seller.httpUrl}/ipfs/${cid}?format=raw`)
      expect(res.status).toBe(404)
      expect(Buffer.from(await res.arrayBuffer()).includes(Buffer.from(bytes))).toBe(false)
    })

    it('accepts a published CID in base32 upper and base16', async () => {
      const published = CID.parse(market.seller.products[0]!.cid)
      const expected = await fetch(`${market.seller.httpUrl}/ipfs/${published}?format=raw`)
      expect(expected.status).toBe(200)
      const body = Buffer.from(await expected.arrayBuffer())
      for (const text of [published.toString(base32upper), published.toString(base16)]) {
        const res = await fetch(`${market.seller.httpUrl}/ipfs/${text}?format=raw`)
        expect(res.status).toBe(200)
        expect(Buffer.from(await res.arrayBuffer())).toEqual(body)
      }
    })

    it('answers methods other than GET and HEAD with 405 and Allow', async () => {
      const cid = market.seller.products[0]!.cid
      for (const path of ['/health', '/metrics', `/ipfs/${cid}?format=raw`]) {
        for (const method of ['POST', 'DELETE', 'TRACE', 'PUT']) {
          const res = await httpRequest(`${market.seller.httpUrl}${path}`, method)
          expect({ path, method, status: res.status }).toEqual({ path, method, status: 405 })
          expect(res.headers.allow).toBe('GET, HEAD')
        }
      }
      for (const path of ['/health', '/metrics']) {
        const head = await httpRequest(`${market.seller.httpUrl}${path}`, 'HEAD')
        expect(head.status).toBe(200)
        expect(head.body.byteLength).toBe(0)
      }
    })

    it('serves /metrics in the Prometheus text format to a page of any origin, from a registry per server', async () => {
      const res = await fetch(`${market.seller.httpUrl}/metrics`, {
        headers: { origin: 'http://127.0.0.1:1' },
      })
      expect(res.headers.get('access-control-allow-origin')).toBe('*')
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
      const text = await res.text()
      expect(text).toContain('# TYPE trickle_seller_chunks_sent_total counter')
      // Each server counts its own: the strict seller refused an address above (429), the other did not.
      const [own, other] = await Promise.all([
        scrapeMetrics(market.seller.httpUrl),
        scrapeMetrics(strict.httpUrl),
      ])
      expect(own.value('trickle_seller_connections_open')).toBeGreaterThanOrEqual(1)
      expect(strict.connections.rejected.connections_per_ip).toBeGreaterThan(
        market.seller.connections.rejected.connections_per_ip,
      )
      expect(other.value('trickle_seller_connections_refused_total', { reason: 'connections_per_ip' })).toBe(
        strict.connections.rejected.connections_per_ip,
      )
      expect(own.value('trickle_seller_connections_refused_total', { reason: 'connections_per_ip' })).toBe(
        market.seller.connections.rejected.connections_per_ip,
      )
    })

    it('upgrades to a WebSocket on / only', async () => {
      expect(await refusedUpgrade(`${market.seller.url}/other`, '127.0.0.1')).toBe(
        'Unexpected server response: 404',
      )
      expect(await refusedUpgrade(`${market.seller.url}/ipfs/x`, '127.0.0.1')).toBe(
        'Unexpected server response: 404',
      )
      expect(await refusedUpgrade(`${market.seller.url}/`, '127.0.0.1')).toBe('accepted')
      expect(market.seller.connections.rejected.upgrade_path).toBeGreaterThanOrEqual(2)
    })
  })

  /** `GET /health` of the strict seller: its status and JSON body. */
  const healthOf = async () => {
    const res = await fetch(`${strict.httpUrl}/health`)
    return {
      status: res.status,
      body: (await res.json()) as {
        status: string
        failing: string[]
        reasons: string[]
        chain: string
        store: string
        mqtt: string
      },
    }
  }

  /** The code of the error a fresh `hello` from `address` gets from the strict seller. */
  const helloRefusal = async (address: string): Promise<string> => {
    const socket = await openSocket(strict.url, address)
    try {
      socket.ws.send(
        encodeFrame({
          t: 'hello',
          v: 1,
          productId: strict.products[0]!.productId,
          channelId: randomChannelId(),
        }),
      )
      return (await socket.next('error')).code
    } finally {
      socket.ws.terminate()
    }
  }

  it('answers /health 503 while the chain is unreachable and refuses hellos, then recovers', async () => {
    rpc.failing.add('*')
    try {
      await until('/health to report the chain', async () => (await healthOf()).status === 503)
      const { body } = await healthOf()
      expect(body.chain).toBe('unreachable')
      expect(body.failing).toEqual(['rpc'])
      expect(body.reasons.join(' ')).toMatch(/chain/)
      expect(strict.health().ok).toBe(false)
      expect((await scrapeMetrics(strict.httpUrl)).value('trickle_seller_rpc_healthy')).toBe(0)
      expect(await helloRefusal('127.0.0.9')).toBe('CHAIN_UNAVAILABLE')
    } finally {
      rpc.failing.clear()
    }
    await until('/health to recover', async () => (await healthOf()).status === 200)
    expect(strict.health()).toEqual({ ok: true, reasons: [], failing: [] })
    expect((await scrapeMetrics(strict.httpUrl)).value('trickle_seller_rpc_healthy')).toBe(1)
  }, 90_000)

  it('answers /health 503 naming the broker while the broker is unreachable, broker_connected 0, then recovers', async () => {
    broker.cut()
    try {
      await until('/health to report the broker', async () => (await healthOf()).status === 503)
      const { body } = await healthOf()
      expect(body).toMatchObject({ status: 'unavailable', failing: ['broker'], mqtt: 'reconnecting' })
      expect(body.reasons.join(' ')).toMatch(/broker/)
      expect(strict.health()).toMatchObject({ ok: false, failing: ['broker'] })
      const metrics = await scrapeMetrics(strict.httpUrl)
      expect(metrics.value('trickle_seller_broker_connected')).toBe(0)
      expect(metrics.value('trickle_seller_rpc_healthy')).toBe(1)
    } finally {
      broker.restore()
    }
    await until('/health to recover', async () => (await healthOf()).status === 200)
    expect((await scrapeMetrics(strict.httpUrl)).value('trickle_seller_broker_connected')).toBe(1)
    // Readings flow again: a paid stream gets chunks.
    const honest = await honestStream(strict, 3)
    try {
      await honest.waitFor(3)
    } finally {
      await honest.stop()
    }
  }, 90_000)

  it('answers /health 503 naming `starting` until its products are published, then 200', async () => {
    const port = await freePort()
    const starting = startSellerServer({
      rpcUrl: market.rpcUrl,
      chainId: market.chainId,
      registry: market.deployment.registry as Hex,
      channels: market.deployment.channels as Hex,
      sellerKey: market.buyerKeys[6]!,
      brokerUrl: market.brokerUrl,
      dataDir: mkdtempSync(join(tmpdir(), 'trickle-starting-seller-')),
      port,
      products: airQualityProducts(PRICE),
      logger: pino({ level: 'silent' }),
    })
    let started = false
    void starting.then(() => {
      started = true
    })
    /** the first answer of its `/health` */
    let first: { status: number; failing: string[] } | undefined
    try {
      // Until it listens the port refuses; then it answers while it publishes (a few transactions).
      await until('the starting seller to answer /health', async () => {
        const res = await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined)
        if (res)
          first = { status: res.status, failing: ((await res.json()) as { failing: string[] }).failing }
        return res !== undefined || started
      })
      const seller = await starting
      const after = await fetch(`${seller.httpUrl}/health`)
      expect(first).toEqual({ status: 503, failing: ['starting'] })
      expect(after.status).toBe(200)
    } finally {
      await starting.then((seller) => seller.close()).catch(() => undefined)
    }
  }, 90_000)

  // Last: it leaves the strict seller's store closed.
  it('answers /health 503 once receipt writes fail, and refuses new sessions with STORE_FAILED', async () => {
    const honest = await honestStream(strict, 1)
    try {
      await honest.waitFor(3)
      await strict.store.close()
      await until('/health to report the store', async () => (await healthOf()).status === 503)
      const { body } = await healthOf()
      expect(body).toMatchObject({ status: 'unavailable', store: 'failing', failing: ['store'] })
      expect(body.reasons.join(' ')).toMatch(/store/)
      expect((await honest.stream.finished).error?.code).toBe('STORE_FAILED')
      expect(await helloRefusal('127.0.0.10')).toBe('STORE_FAILED')
    } finally {
      await honest.stop()
    }
  }, 90_000)
})
