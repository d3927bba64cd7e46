/**
 * secp256k1 public-key recovery and signing for Node: libsecp256k1 (Bitcoin Core's library, through the
 * `secp256k1` package's N-API binding, whose npm tarball carries the prebuilt binary; ~60 µs per
 * recovery on the bench machine) when its binary loads on this platform, else ethers' pure-JS
 * noble-curves (~1.7 ms). Chosen through the `#secp256k1` import condition `node`; browsers get
 * `recover.browser.ts`.
 */
import { createRequire } from 'node:module'
import { getBytes, type SigningKey } from 'ethers'
import { recoverPublicKey as recoverWithEthers, signDigest as signWithEthers } from './recover.browser.ts'

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

const native = loadLibsecp256k1()

/** Which implementation {@link recoverPublicKey} runs. */
export const SECP256K1_BACKEND: 'libsecp256k1' | 'noble-curves' = native ? 'libsecp256k1' : 'noble-curves'

/**
 * Recovers the public key that signed `digest` (SEC 1 v2 §4.1.6).
 *
 * @param digest - 32 bytes
 * @param rs - `r ‖ s`, 64 bytes
 * @param recoveryId - 0 or 1 (`v − 27`)
 * @returns the uncompressed public key, 65 bytes (`0x04 ‖ x ‖ y`)
 * @throws Error when `r` or `s` is out of range or no point recovers
 */
export function recoverPublicKey(digest: Uint8Array, rs: Uint8Array, recoveryId: number): Uint8Array {
  return native
    ? native.ecdsaRecover(rs, recoveryId, digest, false)
    : recoverWithEthers(digest, rs, recoveryId)
}

/**
 * Signs a digest with ECDSA over secp256k1, nonce by RFC 6979 (deterministic), `s` normalized low
 * (EIP-2): libsecp256k1 and noble-curves give the same signature for the same key and digest.
 *
 * @param digest - 32 bytes
 * @param key - the signing key
 * @returns `r ‖ s` (64 bytes) and the recovery id (0 or 1; `v = 27 + recoveryId`)
 */
export function signDigest(digest: Uint8Array, key: SigningKey): { rs: Uint8Array; recoveryId: number } {
  if (!native) return signWithEthers(digest, key)
  const { signature, recid } = native.ecdsaSign(digest, getBytes(key.privateKey))
  return { rs: signature, recoveryId: recid }
}
