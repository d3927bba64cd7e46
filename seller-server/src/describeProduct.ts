import type { Address, ProductDescriptor } from '@trickle/protocol'
import type { StreamProductSpec } from './startSellerServer.ts'

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
      encoding: spec.encoding ?? 'application/json',
      maxBytes: spec.policy?.maxChunkBytes ?? defaultMaxChunkBytes,
      unit: spec.chunkUnit ?? 'one sensor reading',
    },
    topics: spec.topics,
    fields: spec.fields,
    tags: spec.tags,
    source: spec.source,
    createdAt: new Date().toISOString(),
  }
}
