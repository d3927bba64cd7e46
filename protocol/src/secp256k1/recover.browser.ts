/**
 * secp256k1 public-key recovery and signing with ethers' pure-JS noble-curves, for runtimes without native
 * modules. Chosen through the `#secp256k1` import condition `default`.
 */
import { getBytes, hexlify, Signature, SigningKey } from 'ethers'

/** Which implementation {@link recoverPublicKey} runs. */
export const SECP256K1_BACKEND: 'libsecp256k1' | 'noble-curves' = 'noble-curves'

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
  const signature = Signature.from({
    r: hexlify(rs.subarray(0, 32)),
    s: hexlify(rs.subarray(32, 64)),
    v: 27 + recoveryId,
  })
  return getBytes(SigningKey.recoverPublicKey(digest, signature))
}

/**
 * Signs a digest with ECDSA over secp256k1, nonce by RFC 6979 (deterministic), `s` normalized low
 * (EIP-2).
 *
 * @param digest - 32 bytes
 * @param key - the signing key
 * @returns `r ‖ s` (64 bytes) and the recovery id (0 or 1; `v = 27 + recoveryId`)
 */
export function signDigest(digest: Uint8Array, key: SigningKey): { rs: Uint8Array; recoveryId: number } {
  const sig = key.sign(digest)
  return { rs: getBytes(`${sig.r}${sig.s.slice(2)}`), recoveryId: sig.yParity }
}
