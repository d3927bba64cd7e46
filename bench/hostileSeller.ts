/**
 * The sellers of the hostile-client benchmark, run as their own process (`fork`): a local marketplace
 * (anvil, broker, replayer) with its seller at the default connection limits, and a second seller on
 * the same chain and broker whose frame and byte rates are lifted, so that a ping flood meets only the
 * send-buffer bound. Answers `rss` (and, after a full collection, `gc`) requests with this process's
 * memory; forked with `--expose-gc`.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { airQualityProducts, startLocalMarketplace } from '@trickle/devnet'
import type { Address } from '@trickle/protocol'
import { startSellerServer } from '@trickle/seller'
import pino from 'pino'
import type { FromSellers, ToSellers } from './hostileFixture.ts'

const PRICE = 1_000_000_000_000n
const silent = pino({ level: 'silent' })
const unlimited = { perSecond: 1e9, burst: 1e9 }

const market = await startLocalMarketplace({ rowsPerSecond: 40, pricePerChunk: PRICE, logger: silent })
const unthrottled = await startSellerServer({
  rpcUrl: market.rpcUrl,
  chainId: market.chainId,
  registry: market.deployment.registry as Address,
  channels: market.deployment.channels as Address,
  sellerKey: market.buyerKeys[7]!,
  brokerUrl: market.brokerUrl,
  dataDir: mkdtempSync(join(tmpdir(), 'trickle-bench-unthrottled-')),
  products: airQualityProducts(PRICE),
  limits: {
    framesPerConnection: unlimited,
    framesPerIp: unlimited,
    framesTotal: unlimited,
    bytesPerConnection: unlimited,
    bytesPerIp: unlimited,
    bytesTotal: unlimited,
  },
  logger: silent,
})

const reply = (message: FromSellers) => process.send!(message)
const replyMemory = () => {
  const { rss, heapUsed, external } = process.memoryUsage()
  reply({ type: 'rss', rss, heapUsed, external })
}

process.on('message', (message: ToSellers) => {
  switch (message.type) {
    case 'gc':
      // Forked with --expose-gc: two passes, so that what weak references held goes too.
      globalThis.gc?.()
      globalThis.gc?.()
      replyMemory()
      break
    case 'rss':
      replyMemory()
      break
    case 'exit':
      void (async () => {
        await unthrottled.close().catch(() => undefined)
        await market.stop()
        process.exit(0)
      })()
      break
  }
})

reply({
  type: 'ready',
  guarded: {
    url: market.seller.url,
    httpUrl: market.seller.httpUrl,
    address: market.seller.address,
    productId: market.seller.products[0]!.productId,
  },
  unthrottled: { url: unthrottled.url, httpUrl: unthrottled.httpUrl },
  config: market.config,
  rpcUrl: market.rpcUrl,
  buyerKey: market.buyerKeys[0]!,
})
