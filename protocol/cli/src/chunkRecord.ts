import type { Chunk } from '@trickle/sdk'

/**
 * Who signed a chunk, in an out-file record, when the product's descriptor lists signing devices
 * (SPEC.md §Device signatures): `verified` by `device`, `unsigned`, or `invalid` with a `problem`.
 */
export type RecordSignature =
  | { signature: 'verified'; device: string }
  | { signature: 'unsigned' }
  | { signature: 'invalid'; device?: string; problem: string }

/** One line of the `trickle buy` output file. */
export type ChunkRecord = ({ seq: number; reading: unknown } | { seq: number; base64: string }) &
  (RecordSignature | Record<never, never>)

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** `{ reading }` for UTF-8 JSON, else `{ base64 }` of the bytes. */
function content(bytes: Uint8Array): { reading: unknown } | { base64: string } {
  try {
    return { reading: JSON.parse(utf8.decode(bytes)) as unknown }
  } catch {
    return { base64: Buffer.from(bytes).toString('base64') }
  }
}

/**
 * The out-file record of a chunk: `{ seq, reading }` with the payload parsed as JSON when it is
 * UTF-8 JSON (the Air Quality products' readings are), else `{ seq, base64 }` with the raw bytes. For a
 * product whose descriptor lists signing devices, the record is of the signed reading inside the
 * envelope, with `signature` (`verified`, `unsigned`, `invalid`), the `device` and, for an invalid
 * one, the `problem`.
 */
export function toChunkRecord(chunk: Chunk): ChunkRecord {
  const p = chunk.provenance
  if (p === undefined) return { seq: chunk.seq, ...content(chunk.data) }
  switch (p.status) {
    case 'verified':
      return { seq: chunk.seq, ...content(p.payload), signature: 'verified', device: p.device }
    case 'unsigned':
      return { seq: chunk.seq, ...content(chunk.data), signature: 'unsigned' }
    default:
      return {
        seq: chunk.seq,
        ...content(p.payload ?? chunk.data),
        signature: 'invalid',
        ...(p.device ? { device: p.device } : {}),
        problem: p.reason,
      }
  }
}
