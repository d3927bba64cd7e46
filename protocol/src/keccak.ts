/**
 * keccak256 on bytes for the per-receipt path (receipt digests, signer addresses): hash-wasm's
 * WebAssembly Keccak (~1 µs for a receipt struct on the bench machine, against ~8 µs in pure JS).
 * Compiling the WebAssembly module is asynchronous, so the first calls after import, before it is
 * ready, hash the same bytes with `@noble/hashes` (audited, pure JS). Both are Keccak-256 with the
 * original padding (as Ethereum uses, not FIPS 202 SHA3-256).
 */
import { keccak_256 } from '@noble/hashes/sha3.js'
import { createKeccak, type IHasher } from 'hash-wasm'

let wasm: IHasher | undefined

/** Resolves once the WebAssembly Keccak is in use (never rejects: noble stays in use if it fails). */
export const keccakReady: Promise<void> = createKeccak(256).then(
  (hasher) => {
    wasm = hasher
  },
  () => {},
)

/**
 * @param data - bytes to hash
 * @returns Keccak-256 of `data`, 32 bytes
 */
export function keccak256Bytes(data: Uint8Array): Uint8Array {
  if (!wasm) return keccak_256(data)
  wasm.init()
  wasm.update(data)
  return wasm.digest('binary')
}
