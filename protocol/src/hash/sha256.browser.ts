/**
 * SHA-256 of two byte strings concatenated, with `@noble/hashes` (audited, pure JS) for runtimes
 * without `node:crypto`. Chosen through the `#sha256` import condition `default`.
 */
import { sha256 } from '@noble/hashes/sha2.js'

/**
 * @param a - first bytes (the previous ack hash, 32 bytes)
 * @param b - second bytes (a chunk payload)
 * @returns SHA-256(a ‖ b), 32 bytes (FIPS 180-4)
 */
export function sha256Concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  return sha256.create().update(a).update(b).digest()
}
