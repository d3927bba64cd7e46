/**
 * A seller server in its own process, for tests that kill it with SIGKILL. Reads
 * `SellerServerOptions` (minus products and logger; bigints as decimal strings) as JSON from argv[2],
 * sells the Air Quality products at `price` wei per chunk, and prints one JSON line once it listens.
 */

import { airQualityProducts } from '@trickle/devnet'
import pino from 'pino'
import { type SellerServerOptions, type SettlementPolicy, startSellerServer } from '../../src/index.ts'

type Options = Omit<SellerServerOptions, 'products' | 'logger' | 'settlement'> & {
  price: string
  settlement?: Record<string, unknown> & { claimThreshold?: string }
}

const options = JSON.parse(process.argv[2]!) as Options
const { price, settlement, ...rest } = options
const { claimThreshold, ...otherSettlement } = settlement ?? {}
const server = await startSellerServer({
  ...rest,
  products: airQualityProducts(BigInt(price)),
  logger: pino({ level: process.env.TRICKLE_TEST_LOG ?? 'silent' }, pino.destination(2)),
  settlement: {
    ...(otherSettlement as Partial<SettlementPolicy>),
    ...(claimThreshold ? { claimThreshold: BigInt(claimThreshold) } : {}),
  },
})
process.stdout.write(
  `${JSON.stringify({
    url: server.url,
    httpUrl: server.httpUrl,
    address: server.address,
    products: server.products.map((p) => p.productId.toString()),
  })}\n`,
)
process.once('SIGTERM', () => {
  void server.close().then(() => process.exit(0))
})
