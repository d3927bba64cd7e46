/**
 * A seller server in its own process, for tests that kill it with SIGKILL. Reads
 * `SellerServerOptions` (minus products and logger; bigints as decimal strings) as JSON from argv[2],
 * sells the Air Quality products at `price` wei per chunk (and, with `compute`, a job product), and prints one JSON line once it listens.
 */

import { airQualityProducts } from '@trickle/devnet'
import pino from 'pino'
import { type SellerServerOptions, type SettlementPolicy, startSellerServer } from '../../src/index.ts'
import type { JobSpec } from '../../src/jobs/jobProvider.ts'

type Options = Omit<SellerServerOptions, 'products' | 'logger' | 'settlement'> & {
  price: string
  /** also sell the recording of the first product as a dataset at this price (wei), listed last */
  datasetPrice?: string
  settlement?: Record<string, unknown> & { claimThreshold?: string }
  /** also sell a `compute` product (jobs, SPEC.md §Jobs) at `price` wei per unit, listed last */
  compute?: { price: string; job: JobSpec }
}

const options = JSON.parse(process.argv[2]!) as Options
const { price, settlement, datasetPrice, compute, ...rest } = options
const products = airQualityProducts(BigInt(price))
if (datasetPrice !== undefined) {
  products.push({
    ...products[0]!,
    key: `${products[0]!.key}-history`,
    name: `${products[0]!.name}, history`,
    kind: 'dataset',
    recordingOf: products[0]!.key,
    pricePerChunk: BigInt(datasetPrice),
  })
}
if (compute !== undefined) {
  products.push({
    key: 'compute',
    name: 'Compute',
    description: 'Your WASI module',
    kind: 'compute',
    topics: [],
    fields: [],
    tags: ['jobs'],
    pricePerChunk: BigInt(compute.price),
    source: { title: 'none', licence: 'CC0', attribution: 'none' },
    policy: { maxChunkBytes: 16 * 1024 },
    job: compute.job,
  })
}
const { claimThreshold, ...otherSettlement } = settlement ?? {}
const server = await startSellerServer({
  ...rest,
  products,
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
