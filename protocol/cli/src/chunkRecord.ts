import type { Chunk } from '@trickle/sdk'

/** One line of the `trickle buy` output file. */
export type ChunkRecord = { seq: number; reading: unknown } | { seq: number; base64: string }

const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * The out-file record of a chunk: `{ seq, reading }` with the payload parsed as JSON when it is
 * UTF-8 JSON (the Air Quality products' readings are), else `{ seq, base64 }` with the raw bytes.
 */
export function toChunkRecord(chunk: Chunk): ChunkRecord {
  try {
    return { seq: chunk.seq, reading: JSON.parse(utf8.decode(chunk.data)) as unknown }
  } catch {
    return { seq: chunk.seq, base64: Buffer.from(chunk.data).toString('base64') }
  }
}
