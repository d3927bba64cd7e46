/**
 * Adversary benchmark (issue 10, findings 1–3): how many chunks a buyer that never pays obtains on
 * one channel of a live seller (real anvil, helia, MQTT broker, default session policy), with its own
 * channel key, by reconnecting at every `payment_required`, and by opening 16 sessions at once.
 * The promise: at most `window.initial` chunks per channel, ever. The baseline is that window, read
 * from the same run's terms.
 *
 * `ADVERSARY_BENCH_RIDES` (default 10) sets how many reconnects.
 */

import { startLocalMarketplace } from '@trickle/devnet'
import {
  decodeFrame,
  encodeFrame,
  type Hex,
  receiptDomainSeparator,
  signAccept,
  termsDigest,
} from '@trickle/protocol'
import { BuyerClient } from '@trickle/sdk'
import { DEFAULT_SESSION_POLICY, type SellerServer } from '@trickle/seller'
import { JsonRpcProvider, type SigningKey, Wallet } from 'ethers'
import pino from 'pino'
import WebSocket from 'ws'
import type { BenchMeasurement, Benchmark } from './results.ts'

const SECTION = 'Adversary: unpaid chunks per channel (seller server)'
const RIDES = Number(process.env.ADVERSARY_BENCH_RIDES ?? '10')
const PRICE = 1_000_000_000_000n

/**
 * One free ride with the channel's own key: `hello`, a signed `accept`, every chunk until the seller
 * asks for payment or closes (or 8 s pass), then the socket is dropped instead of paying.
 * @returns chunks received
 */
async function freeRide(url: string, productId: bigint, channelId: Hex, key: SigningKey): Promise<number> {
  const ws = new WebSocket(url)
  let chunks = 0
  const done = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 8_000)
    ws.on('close', () => {
      clearTimeout(timer)
      resolve()
    })
    ws.on('message', (data: Buffer) => {
      const frame = decodeFrame(data)
      if (frame.t === 'chunk') chunks++
      else if (frame.t === 'payment_required') resolve()
      else if (frame.t === 'terms') {
        const digest = termsDigest(frame)
        const separator = receiptDomainSeparator({ chainId: frame.chainId, channels: frame.channels })
        const nonce = frame.nonce
        const signature = signAccept(key, separator, { channelId, termsDigest: digest, nonce })
        ws.send(encodeFrame({ t: 'accept', termsDigest: digest, signature }))
      }
    })
  })
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
  ws.send(encodeFrame({ t: 'hello', v: 1, productId, channelId }))
  await done
  ws.terminate()
  return chunks
}

/** Resolves once the seller has ended one more session (its debt is then recorded). */
const sessionEnded = (seller: SellerServer) =>
  new Promise<void>((resolve) => seller.events.once('session', () => resolve()))

/** The adversary benchmark, for `bench/run.ts`. */
export const adversaryBenchmark: Benchmark = { name: 'adversary', run: measureAdversary }

/**
 * Runs the free-ride loops against a fresh local marketplace.
 * @returns chunks obtained without paying, per attack (`chunks`), with the goal `window.initial`
 */
export async function measureAdversary(): Promise<BenchMeasurement[]> {
  const market = await startLocalMarketplace({
    rowsPerSecond: 200,
    pricePerChunk: PRICE,
    logger: pino({ level: 'silent' }),
  })
  const provider = new JsonRpcProvider(market.rpcUrl, market.chainId, {
    staticNetwork: true,
    cacheTimeout: -1,
  })
  try {
    const payer = new Wallet(market.buyerKeys[1]!, provider)
    const buyer = await BuyerClient.create({ wallet: payer, sessionKey: payer.signingKey, ...market.config })
    const productId = market.seller.products[0]!.productId
    const window = DEFAULT_SESSION_POLICY.window.initial
    const open = async () => (await buyer.openChannel(market.seller.address, PRICE * 100_000n)).channelId

    // Reconnect instead of paying, RIDES times, on one channel.
    const channel = await open()
    let reconnecting = 0
    for (let i = 0; i < RIDES; i++) {
      const ended = sessionEnded(market.seller)
      reconnecting += await freeRide(market.seller.url, productId, channel, payer.signingKey)
      await ended
    }

    // 16 sessions at once on another channel (the per-channel session cap).
    const concurrentChannel: Hex = await open()
    const rides = await Promise.all(
      Array.from({ length: 16 }, () =>
        freeRide(market.seller.url, productId, concurrentChannel, payer.signingKey),
      ),
    )
    const concurrent = rides.reduce((n, chunks) => n + chunks, 0)
    await buyer.close()
    return [
      {
        name: 'adversary.unpaidChunks.reconnecting',
        section: SECTION,
        value: reconnecting,
        unit: 'chunks',
        goal: { atMost: window },
        note: `${RIDES} sessions on one channel, each dropped at payment_required; window.initial ${window}`,
      },
      {
        name: 'adversary.unpaidChunks.concurrent',
        section: SECTION,
        value: concurrent,
        unit: 'chunks',
        goal: { atMost: window },
        note: `16 sessions at once on one channel, none paying; window.initial ${window}`,
      },
    ]
  } finally {
    provider.destroy()
    await market.stop()
  }
}
