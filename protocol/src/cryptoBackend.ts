/**
 * The hash and curve primitives the protocol runs on, behind one small interface so that the core
 * stays portable: the default, {@link portableCrypto}, is ethers' (noble-hashes Keccak-256 and
 * noble-curves secp256k1, ethers' SHA-256), the same implementations the SDK's chain calls already
 * load, so a browser bundle carries one Keccak and one secp256k1. A seller passes a faster backend
 * (`nativeCrypto()` of `@trickle/seller`: libsecp256k1 through N-API, WebAssembly Keccak, OpenSSL
 * SHA-256) to {@link useCryptoBackend} at start; nothing a buyer or browser installs depends on it.
 */
import { getBytes, hexlify, keccak256, Signature, SigningKey, sha256 } from 'ethers'

/** Hashes and secp256k1 operations, all on bytes. Implementations must give identical outputs. */
export interface CryptoBackend {
  /** Names the implementation, for logs and benchmarks (e.g. `ethers`, `libsecp256k1`). */
  readonly name: string
  /**
   * @param data - bytes to hash
   * @returns Keccak-256 (Ethereum's, original padding — not FIPS 202 SHA3-256), 32 bytes
   */
  keccak256(data: Uint8Array): Uint8Array
  /**
   * @param a - first bytes (a rolling ack hash, 32 bytes)
   * @param b - second bytes (a chunk payload)
   * @returns SHA-256(a ‖ b), 32 bytes (FIPS 180-4)
   */
  sha256Concat(a: Uint8Array, b: Uint8Array): Uint8Array
  /**
   * Recovers the public key that signed `digest` (SEC 1 v2 §4.1.6).
   *
   * @param digest - 32 bytes
   * @param rs - `r ‖ s`, 64 bytes
   * @param recoveryId - 0 or 1 (`v − 27`)
   * @returns the uncompressed public key, 65 bytes (`0x04 ‖ x ‖ y`)
   * @throws Error when `r` or `s` is out of range or no point recovers
   */
  recoverPublicKey(digest: Uint8Array, rs: Uint8Array, recoveryId: number): Uint8Array
  /**
   * ECDSA over secp256k1 with an RFC 6979 nonce and low `s` (EIP-2): every backend gives the same bytes.
   *
   * @param digest - 32 bytes
   * @param privateKey - 32 bytes
   * @returns `r ‖ s` (64 bytes) and the recovery id (0 or 1; `v = 27 + recoveryId`)
   */
  signDigest(digest: Uint8Array, privateKey: Uint8Array): { rs: Uint8Array; recoveryId: number }
}

/** ethers' primitives: pure JS in browsers, ethers' `node:crypto` SHA-256 in Node. The default. */
export const portableCrypto: CryptoBackend = {
  name: 'ethers',
  keccak256: (data) => getBytes(keccak256(data)),
  sha256Concat: (a, b) => {
    const joined = new Uint8Array(a.length + b.length)
    joined.set(a, 0)
    joined.set(b, a.length)
    return getBytes(sha256(joined))
  },
  recoverPublicKey: (digest, rs, recoveryId) =>
    getBytes(
      SigningKey.recoverPublicKey(
        digest,
        Signature.from({
          r: hexlify(rs.subarray(0, 32)),
          s: hexlify(rs.subarray(32, 64)),
          v: 27 + recoveryId,
        }),
      ),
    ),
  signDigest: (digest, privateKey) => {
    const sig = new SigningKey(privateKey).sign(digest)
    const rs = new Uint8Array(64)
    rs.set(getBytes(sig.r), 0)
    rs.set(getBytes(sig.s), 32)
    return { rs, recoveryId: sig.yParity }
  },
}

let active: CryptoBackend = portableCrypto

/**
 * Makes `backend` the process-wide (or page-wide) implementation of every digest, signature and
 * recovery in this package. Call it once at start, before any session runs; outputs must not change,
 * only speed.
 *
 * @param backend - the implementation to use; {@link portableCrypto} restores the default
 */
export function useCryptoBackend(backend: CryptoBackend): void {
  active = backend
}

/** @returns the backend in use (see {@link useCryptoBackend}) */
export function cryptoBackend(): CryptoBackend {
  return active
}
