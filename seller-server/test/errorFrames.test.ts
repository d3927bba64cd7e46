// What a buyer is told when the seller's own parts fail (issue 11): a stable code and a fixed
// message, never the text of the underlying error, which goes to the seller's log.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { airQualityProducts, type LocalMarketplace, startLocalMarketplace } from '@trickle/devnet'
import {
  type Frame,
  type Hex,
  nextAckHash,
  receiptDomainSeparator,
  signReceipt,
  TrickleError,
  ZERO_HASH,
} from '@trickle/protocol'
import type { BuyerClient } from '@trickle/sdk'
import type { JsonRpcProvider, SigningKey } from 'ethers'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { openReceiptStore, type SellerServer, startSellerServer } from '../src/index.ts'
import { buyerFor } from './helpers/buyer.ts'
import { type FaultyStore, faultyStore, sqliteError } from './helpers/faultyStore.ts'
import { type FlakyRpc, startFlakyRpc } from './helpers/flakyRpc.ts'
import { acceptFor, connectRaw } from './helpers/rawClient.ts'

const PRICE = 1_000_000_000_000n
/** a path only the seller's host should know */
const SECRET = '/srv/trickle-secret-7f3a'

describe('error frames of a seller whose store or chain fails', () => {
  let market: LocalMarketplace
  let rpc: FlakyRpc
  let faulty: FaultyStore
  let seller: SellerServer
  let buyer: BuyerClient
  let provider: JsonRpcProvider
  const logs: string[] = []

  beforeAll(async () => {
    market = await startLocalMarketplace({ rowsPerSecond: 200, logger: pino({ level: 'silent' }) })
    rpc = await startFlakyRpc(market.rpcUrl)
    faulty = faultyStore(openReceiptStore(':memory:'), () => sqliteError(SECRET))
    seller = await startSellerServer({
      rpcUrl: rpc.url,
      chainId: market.chainId,
      registry: market.deployment.registry as Hex,
      channels: market.deployment.channels as Hex,
      sellerKey: market.chain!.privateKeys[9]!, // a seller of its own, with its own nonces
      brokerUrl: market.brokerUrl,
      dataDir: mkdtempSync(join(tmpdir(), 'trickle-error-frames-')),
      products: airQualityProducts(PRICE),
      store: faulty.store,
      healthProbeMs: 2_000,
      logger: pino({ level: 'debug' }, { write: (line: string) => void logs.push(line) }),
    })
    ;({ buyer, provider } = await buyerFor(market))
  })
  afterAll(async () => {
    await buyer?.close()
    provider?.destroy()
    await seller?.close()
    await rpc?.close()
    await market?.stop()
  })

  /** A fresh channel to `seller`, whose receipts the buyer's session key signs. */
  const openChannel = async () => (await buyer.openChannel(seller.address, PRICE * 100n)).channelId

  /**
   * A bare session that says hello, accepts, and pays the first chunk with a receipt signed by `key`;
   * every frame the seller sent until it closed.
   */
  async function payFirstChunk(channelId: Hex, key: SigningKey): Promise<Frame[]> {
    const raw = await connectRaw(seller.url)
    raw.sendFrame({ t: 'hello', v: 1, productId: seller.products[0]!.productId, channelId })
    const terms = await raw.next('terms')
    raw.sendFrame(acceptFor(terms, key))
    const chunk = await raw.next('chunk')
    const value = {
      channelId,
      amount: terms.pricePerChunk,
      seq: chunk.seq + 1,
      ackHash: nextAckHash(ZERO_HASH, chunk.data),
    }
    const separator = receiptDomainSeparator({ chainId: terms.chainId, channels: terms.channels })
    raw.sendFrame({ t: 'receipt', ...value, signature: signReceipt(key, separator, value) })
    await raw.closed
    return raw.frames
  }

  /** Every frame the seller sent to a bare `hello` on `channelId`, until it closed. */
  async function hello(channelId: Hex): Promise<Frame[]> {
    const raw = await connectRaw(seller.url)
    raw.sendFrame({ t: 'hello', v: 1, productId: seller.products[0]!.productId, channelId })
    await raw.closed
    return raw.frames
  }

  const wireText = (frames: Frame[]) =>
    JSON.stringify(frames, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))

  /** Lets the seller's probe see the store (or chain) back, so the next test starts healthy. */
  async function recovered() {
    faulty.failing.clear()
    rpc.failing.clear()
    await vi.waitFor(() => expect(seller.health().ok).toBe(true), { timeout: 30_000 })
  }

  it.each([
    ['an SQLite error', () => sqliteError(SECRET)],
    [
      'a STORE_FAILED error whose details name the file',
      () =>
        new TrickleError('STORE_FAILED', 'could not store the receipt', {
          details: `${SECRET}/receipts.sqlite is read-only`,
          cause: sqliteError(SECRET),
        }),
    ],
  ])(
    'answers a receipt the store cannot save (%s) with STORE_FAILED and a fixed message, and logs the error in full',
    async (_, fault) => {
      const channelId = await openChannel()
      faulty.fault = fault
      faulty.failing.add('save')
      try {
        const frames = await payFirstChunk(channelId, buyer.sessionKey)
        const message = 'the seller could not record the receipt'
        expect(frames.filter((f) => f.t === 'error' || f.t === 'close')).toEqual([
          { t: 'error', code: 'STORE_FAILED', message },
          { t: 'close', reason: 'server_shutdown', message },
        ])
        expect(wireText(frames)).not.toContain(SECRET)
        expect(logs.some((line) => line.includes(SECRET))).toBe(true)
      } finally {
        faulty.fault = () => sqliteError(SECRET)
        await recovered()
      }
    },
  )

  it('answers a hello with STORE_FAILED, not SQLite’s text, when the store cannot read the channel’s receipts', async () => {
    const channelId = await openChannel()
    faulty.failing.add('latest')
    try {
      const frames = await hello(channelId)
      const error = frames.find((f) => f.t === 'error')
      expect(error).toMatchObject({ t: 'error', code: 'STORE_FAILED' })
      expect(frames.at(-1)).toMatchObject({ t: 'close', reason: 'channel_unusable' })
      expect(wireText(frames)).not.toContain(SECRET)
      expect(wireText(frames)).not.toMatch(/disk I\/O/)
    } finally {
      await recovered()
    }
  })

  it('answers a hello with the retryable CHAIN_UNAVAILABLE and a fixed message while the channel cannot be read', async () => {
    const channelId = await openChannel()
    rpc.failing.add('eth_call')
    try {
      const frames = await hello(channelId)
      expect(frames.filter((f) => f.t === 'error')).toEqual([
        {
          t: 'error',
          code: 'CHAIN_UNAVAILABLE',
          message: 'the seller cannot reach its chain now: try again later',
        },
      ])
      expect(wireText(frames)).not.toMatch(/503|upstream|SERVER_ERROR|eth_call/)
    } finally {
      await recovered()
    }
  })
})
