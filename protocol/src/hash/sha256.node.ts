/**
 * SHA-256 of two byte strings concatenated, with Node's OpenSSL binding (`crypto.hash`, one call per
 * digest). Chosen through the `#sha256` import condition `node`; browsers get `sha256.browser.ts`.
 */
import { hash } from 'node:crypto'

let scratch = new Uint8Array(32 + 4096)

/**
 * @param a - first bytes (the previous ack hash, 32 bytes)
 * @param b - second bytes (a chunk payload)
 * @returns SHA-256(a ‖ b), 32 bytes (FIPS 180-4)
 */
export function sha256Concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const size = a.length + b.length
  if (scratch.length < size) scratch = new Uint8Array(Math.max(size, scratch.length * 2))
  scratch.set(a, 0)
  scratch.set(b, a.length)
  return hash('sha256', scratch.subarray(0, size), 'buffer')
}
