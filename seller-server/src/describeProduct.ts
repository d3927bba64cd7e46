import type { Address, ProductDescriptor } from '@trickle/protocol'
import { jobOfferOf } from './jobs/jobProvider.ts'
import type { StreamProductSpec } from './startSellerServer.ts'

/** The chunk encoding of job sessions: msgpack job records (SPEC.md §Jobs, "Records"). */
export const JOB_RECORD_ENCODING = 'application/vnd.trickle.job-record+msgpack'

/**
 * The descriptor of a stream or dataset product (SPEC.md §Descriptor), dated now.
 *
 * @param spec - the product
 * @param seller - the payee's address
 * @param endpoint - the WebSocket URL buyers connect to, e.g. `wss://sensors.example.com/`
 * @param defaultMaxChunkBytes - the largest payload when the product sets none, bytes
 */
export function describeProduct(
  spec: StreamProductSpec,
  seller: Address,
  endpoint: string,
  defaultMaxChunkBytes: number,
): ProductDescriptor {
  return {
    schema: 'trickle.descriptor/1',
    name: spec.name,
    description: spec.description,
    kind: spec.kind ?? 'stream',
    seller,
    endpoint,
    pricePerChunk: spec.pricePerChunk.toString(),
    ...(spec.chunksPerSecond === undefined ? {} : { chunksPerSecond: spec.chunksPerSecond }),
    ...(spec.devices === undefined ? {} : { devices: spec.devices }),
    ...(spec.location === undefined ? {} : { location: spec.location }),
    chunk: {
      encoding: spec.job ? JOB_RECORD_ENCODING : (spec.encoding ?? 'application/json'),
      maxBytes: spec.policy?.maxChunkBytes ?? defaultMaxChunkBytes,
      unit: spec.job ? 'one job record (a unit)' : (spec.chunkUnit ?? 'one sensor reading'),
    },
    topics: spec.topics,
    fields: spec.fields,
    tags: spec.tags,
    source: spec.source,
    ...(spec.job ? { job: jobOfferOf(spec.job) } : {}),
    createdAt: new Date().toISOString(),
  }
}
