import * as dagJson from '@ipld/dag-json'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { z } from 'zod'
import { TrickleError } from './errors.ts'
import type { Address } from './hex.ts'
import { jobOfferSchema } from './jobs.ts'

/** A 20-byte `0x` address, typed as {@link Address} so it passes to the channel functions as it is. */
const address = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 20-byte 0x address')
  .transform((value) => value as Address)
const weiString = z.string().regex(/^(0|[1-9][0-9]{0,77})$/, 'must be a decimal integer string (wei)')

/** zod schema of a product descriptor, version `trickle.descriptor/1` (SPEC.md §Descriptor). */
export const productDescriptorSchema = z.strictObject({
  schema: z.literal('trickle.descriptor/1'),
  name: z.string().min(1).max(200),
  description: z.string().max(4000),
  kind: z.enum(['stream', 'dataset', 'compute', 'app']),
  /** the payee of channels for this product */
  seller: address,
  /** WebSocket URL of the seller server */
  endpoint: z.string().regex(/^wss?:\/\/[^\s]+$/, 'must be a ws:// or wss:// URL'),
  /** wei per chunk, decimal string */
  pricePerChunk: weiString,
  /**
   * the nominal number of chunks per second the product produces, for a stream the sum over its
   * topics (3 sensors publishing 50 readings/s each: 150); absent when the seller does not know it.
   * Advisory, like the price: it lets a buyer price a duration (an hour: `3600 × chunksPerSecond`
   * chunks), and nothing holds the seller to it
   */
  chunksPerSecond: z.number().positive().max(1_000_000).optional(),
  /**
   * the devices whose keys sign the product's readings (SPEC.md §Device signatures): a buyer checks
   * each chunk's signature against these addresses; absent when the readings are not signed
   */
  devices: z
    .array(z.strictObject({ id: z.string().min(1).max(200), address }))
    .min(1)
    .max(256)
    .optional(),
  /** where the product's sensors are, WGS 84 degrees; absent when the seller does not say */
  location: z
    .strictObject({ lat: z.number().min(-90).max(90), lon: z.number().min(-180).max(180) })
    .optional(),
  chunk: z.strictObject({
    /** MIME type of each chunk's payload */
    encoding: z.string().min(1).max(100),
    /** bytes */
    maxBytes: z.number().int().positive(),
    /** what one chunk is, e.g. "one sensor reading" */
    unit: z.string().max(200),
  }),
  /** MQTT topics the product's chunks come from (stream products) */
  topics: z.array(z.string().min(1).max(512)).max(64),
  fields: z.array(z.strictObject({ name: z.string().min(1), unit: z.string() })).max(256),
  tags: z.array(z.string().min(1).max(64)).max(32),
  source: z.strictObject({
    title: z.string().max(500),
    licence: z.string().max(200),
    attribution: z.string().max(2000),
  }),
  /**
   * `compute` and `app` products: what a job may use and what it costs, in units of `pricePerChunk`
   * (SPEC.md §Jobs); absent for streams and datasets
   */
  job: jobOfferSchema.optional(),
  /** ISO 8601 */
  createdAt: z.iso.datetime(),
})

/** A product descriptor: what a buyer reads before it buys. Stored as dag-json on IPFS. */
export type ProductDescriptor = z.infer<typeof productDescriptorSchema>

/**
 * Validates an untrusted value as a descriptor.
 * @throws TrickleError `DESCRIPTOR_INVALID`, naming the first offending field
 */
export function parseDescriptor(value: unknown): ProductDescriptor {
  const result = productDescriptorSchema.safeParse(value)
  if (!result.success) {
    const issue = result.error.issues[0]
    const where = issue?.path.join('.') || '(root)'
    throw new TrickleError('DESCRIPTOR_INVALID', `descriptor field ${where}: ${issue?.message ?? 'invalid'}`)
  }
  return result.data
}

/**
 * Encodes a descriptor as dag-json and computes its CIDv1 (codec dag-json 0x0129, sha2-256).
 * @returns the block bytes and its CID
 */
export async function encodeDescriptor(
  descriptor: ProductDescriptor,
): Promise<{ cid: CID; bytes: Uint8Array }> {
  const bytes = dagJson.encode(parseDescriptor(descriptor))
  const cid = CID.createV1(dagJson.code, await sha256.digest(bytes))
  return { cid, bytes }
}

/**
 * Decodes and validates a descriptor block.
 * @throws TrickleError `DESCRIPTOR_INVALID` for bytes that are not dag-json or not a valid descriptor
 */
export function decodeDescriptor(bytes: Uint8Array): ProductDescriptor {
  let value: unknown
  try {
    value = dagJson.decode(bytes)
  } catch (cause) {
    throw new TrickleError('DESCRIPTOR_INVALID', 'descriptor is not dag-json', { cause })
  }
  return parseDescriptor(value)
}
