import { mkdtempSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { channelsAt } from '@trickle/contracts'
import { type LocalMarketplace, startLocalMarketplace } from '@trickle/devnet'
import {
  DEFAULT_MAX_FRAME_BYTES,
  type Hex,
  receiptDomainSeparator,
  signTerms,
  type Terms,
} from '@trickle/protocol'
import { JsonRpcProvider, Wallet } from 'ethers'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocketServer } from 'ws'
import {
  ChannelLedgers,
  DEFAULT_SESSION_POLICY,
  driveSession,
  openReceiptStore,
  resolveChannel,
  type SessionEnd,
} from '../src/index.ts'
import { buyerFor } from './helpers/buyer.ts'

const PRICE = 1_000_000_000_000n // wei per chunk
const silent = pino({ level: 'silent' })

/**
 * A server on another port that pretends to be the registered seller: it serves the real seller's
 * channels with the real session code, but cannot sign terms with the key `DataRegistry` records.
 */
async function startImpostor(market: LocalMarketplace, signWith: (terms: Terms) => Hex) {
  const provider = new JsonRpcProvider(market.rpcUrl, market.chainId, {
    staticNetwork: true,
    cacheTimeout: -1,
  })
  const store = openReceiptStore(join(mkdtempSync(join(tmpdir(), 'trickle-impostor-')), 'receipts.sqlite'))
  const channels = market.deployment.channels as Hex
  const ends: SessionEnd[] = []
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  wss.on('connection', (ws) => {
    driveSession(ws, {
      policyFor: () => ({ key: 'nox', policy: { ...DEFAULT_SESSION_POLICY, pricePerChunk: PRICE } }),
      resolve: (productId, channelId, now) =>
        resolveChannel(
          channelsAt(channels, provider),
          store,
          { productId, channelId, chainId: market.chainId, channels, payee: market.seller.address },
          now,
        ),
      signTerms: signWith,
      domainSeparator: () => receiptDomainSeparator({ chainId: market.chainId, channels }),
      listen: (_key, onChunk) => {
        let position = 0
        const timer = setInterval(() => onChunk(new TextEncoder().encode('{"fake":true}'), position++), 5)
        return () => clearInterval(timer)
      },
      store,
      onReceiptStored: () => undefined,
      onSessionEnd: (end) => ends.push(end),
      ledgers: new ChannelLedgers(),
      maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
      log: silent,
    })
  })
  await new Promise((resolve) => wss.once('listening', resolve))
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`,
    ends,
    store,
    async close() {
      for (const client of wss.clients) client.terminate()
      await new Promise((resolve) => wss.close(resolve))
      await store.close()
      provider.destroy()
    },
  }
}

describe('seller authentication against an impostor server on another port', () => {
  let market: LocalMarketplace

  beforeAll(async () => {
    market = await startLocalMarketplace({ rowsPerSecond: 100, pricePerChunk: PRICE, logger: silent })
  })
  afterAll(async () => {
    await market?.stop()
  })

  for (const [label, signer] of [
    [
      'terms signed by a key the registry does not record',
      (t: Terms) => signTerms(Wallet.createRandom().signingKey, t),
    ],
    ['unsigned terms (an empty signature)', () => '0x' as Hex],
  ] as const) {
    it(`refuses ${label}: no receipt is signed and nothing is paid`, async () => {
      const impostor = await startImpostor(market, signer)
      const { buyer, provider } = await buyerFor(market)
      try {
        const product = await buyer.product(market.seller.products[1]!.productId)
        const { channelId } = await buyer.openChannel(market.seller.address, PRICE * 100n)
        // The buyer reaches the impostor (a hijacked endpoint): the descriptor still names the real seller.
        const hijacked = { ...product, descriptor: { ...product.descriptor!, endpoint: impostor.url } }
        const stream = await buyer.stream(hijacked, { channelId, maxSpend: PRICE * 100n })
        const chunks: number[] = []
        const ended = await (async () => {
          for await (const chunk of stream) chunks.push(chunk.seq)
        })().then(
          () => undefined,
          (err: { code?: string }) => err.code,
        )
        expect(ended).toMatch(/^(TERMS_SIGNER_MISMATCH|FRAME_MALFORMED)$/)
        expect(chunks).toEqual([])
        // A bad signature is `terms_rejected`; an empty one does not even decode (`protocol_error`).
        const summary = await stream.finished
        expect(summary).toMatchObject({ chunks: 0, paid: 0n })
        expect(summary.reason).toBe(ended === 'FRAME_MALFORMED' ? 'protocol_error' : 'terms_rejected')
        expect(await impostor.store.latest(channelId)).toBeUndefined()
        expect((await channelsAt(market.deployment.channels, provider).getChannel(channelId)).claimed).toBe(
          0n,
        )

        // The real seller, reached at its registered endpoint, is accepted on the same channel.
        const real = await buyer.stream(product, { channelId, maxSpend: PRICE * 100n, maxChunks: 5 })
        for await (const _ of real);
        expect(await real.finished).toMatchObject({ chunks: 5, paid: 5n * PRICE, reason: 'done' })
      } finally {
        await buyer.close()
        provider.destroy()
        await impostor.close()
      }
    })
  }
})
