/**
 * The seller's accelerated {@link CryptoBackend}: libsecp256k1 (Bitcoin Core's library, through the
 * `secp256k1` package's N-API binding, whose npm tarball carries the prebuilt binary; ~60 µs per
 * recovery against ~1.7 ms in ethers' noble-curves on the bench machine), hash-wasm's WebAssembly
 * Keccak (~1 µs per receipt struct against ~8 µs in pure JS) and OpenSSL's SHA-256 (`crypto.hash`).
 * Each part falls back to the portable one when it cannot load. `npm run bench -- protocol` measures
 * what each part pays for (receipt verification ÷ raw recovery, paid ÷ unpaid throughput).
 */
import { hash } from 'node:crypto'
import { createRequire } from 'node:module'
import { type CryptoBackend, portableCrypto } from '@trickle/protocol'
import { createKeccak } from 'hash-wasm'

/** The part of the `secp256k1` binding used here (its `lib/index.js` API). */
interface Libsecp256k1 {
  ecdsaRecover(signature: Uint8Array, recoveryId: number, digest: Uint8Array, compressed: boolean): Uint8Array
  ecdsaSign(digest: Uint8Array, privateKey: Uint8Array): { signature: Uint8Array; recid: number }
}

function loadLibsecp256k1(): Libsecp256k1 | undefined {
  try {
    // `bindings.js` loads the native build only; the package's main would fall back to `elliptic`.
    return createRequire(import.meta.url)('secp256k1/bindings.js') as Libsecp256k1
  } catch {
    return undefined
  }
}

let scratch = new Uint8Array(32 + 4096)

function sha256Concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const size = a.length + b.length
  if (scratch.length < size) scratch = new Uint8Array(Math.max(size, scratch.length * 2))
  scratch.set(a, 0)
  scratch.set(b, a.length)
  return hash('sha256', scratch.subarray(0, size), 'buffer')
}

let loaded: Promise<CryptoBackend> | undefined

/**
 * Loads the accelerated backend once per thread; pass it to `useCryptoBackend` of
 * `@trickle/protocol` (`startSellerServer` does, and so do its worker threads).
 *
 * @returns a backend named `libsecp256k1` when the native binding loads, else `ethers+wasm`; never
 *   rejects (a part that fails to load is replaced by the portable one)
 */
export function nativeCrypto(): Promise<CryptoBackend> {
  loaded ??= (async () => {
    const native = loadLibsecp256k1()
    const keccak = await createKeccak(256).catch(() => undefined)
    return {
      name: native ? 'libsecp256k1' : 'ethers+wasm',
      keccak256: keccak
        ? (data) => {
            keccak.init()
            keccak.update(data)
            return keccak.digest('binary')
          }
        : portableCrypto.keccak256,
      sha256Concat,
      recoverPublicKey: native
        ? (digest, rs, recoveryId) => native.ecdsaRecover(rs, recoveryId, digest, false)
        : portableCrypto.recoverPublicKey,
      signDigest: native
        ? (digest, privateKey) => {
            const { signature, recid } = native.ecdsaSign(digest, privateKey)
            return { rs: signature, recoveryId: recid }
          }
        : portableCrypto.signDigest,
    } satisfies CryptoBackend
  })()
  return loaded
}
