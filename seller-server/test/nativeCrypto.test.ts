import { createHash } from 'node:crypto'
import { type CryptoBackend, portableCrypto, toHex } from '@trickle/protocol'
import { concat, getBytes, keccak256, SigningKey, toBeHex, zeroPadValue } from 'ethers'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { nativeCrypto } from '../src/index.ts'

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

/** The seller's accelerated backend must give the portable backend's bytes, only faster. */
let native: CryptoBackend
beforeAll(async () => {
  native = await nativeCrypto()
})

describe('secp256k1 recovery and signing', () => {
  it('runs libsecp256k1 in Node here, so a seller verifies receipts inline', () => {
    // The binary ships in the secp256k1 npm tarball; were it to fail to load, verification would
    // silently fall back to pure JS (~30× slower) and sellers to worker threads.
    expect(native.name).toBe('libsecp256k1')
  })

  it('recovers the same public key as noble-curves and ethers, for any key and digest', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }).filter((k) => k.some((b) => b !== 0)),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (secret, digest) => {
          let key: SigningKey
          try {
            key = new SigningKey(toHex(secret))
          } catch {
            return // a secret ≥ n is not a key
          }
          const sig = key.sign(digest)
          const rs = getBytes(`${sig.r}${sig.s.slice(2)}`)
          const expected = key.publicKey
          expect(toHex(native.recoverPublicKey(digest, rs, sig.yParity))).toBe(expected)
          expect(toHex(portableCrypto.recoverPublicKey(digest, rs, sig.yParity))).toBe(expected)
          // The other recovery id gives another key in both, never the signer's.
          const other = toHex(native.recoverPublicKey(digest, rs, 1 - sig.yParity))
          expect(other).not.toBe(expected)
          expect(toHex(portableCrypto.recoverPublicKey(digest, rs, 1 - sig.yParity))).toBe(other)
        },
      ),
      { numRuns: 40 },
    )
  })

  it('signs with the same RFC 6979 signature as noble-curves, for any key and digest', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: SECP256K1_N - 1n }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (secret, digest) => {
          const key = new SigningKey(zeroPadValue(toBeHex(secret), 32))
          const fast = native.signDigest(digest, getBytes(key.privateKey))
          const noble = portableCrypto.signDigest(digest, getBytes(key.privateKey))
          expect(toHex(fast.rs)).toBe(toHex(noble.rs))
          expect(fast.recoveryId).toBe(noble.recoveryId)
          expect(toHex(native.recoverPublicKey(digest, fast.rs, fast.recoveryId))).toBe(key.publicKey)
        },
      ),
      { numRuns: 60 },
    )
  })

  it('refuses r or s of zero or at least the curve order in both backends', () => {
    const digest = new Uint8Array(32).fill(7)
    const n = getBytes(toBeHex(SECP256K1_N))
    const one = getBytes(`0x${'00'.repeat(31)}01`)
    const zero = new Uint8Array(32)
    for (const [r, s] of [
      [zero, one],
      [one, zero],
      [n, one],
      [one, n],
    ]) {
      const rs = getBytes(concat([r!, s!]))
      expect(() => native.recoverPublicKey(digest, rs, 0)).toThrow()
      expect(() => portableCrypto.recoverPublicKey(digest, rs, 0)).toThrow()
    }
  })
})

describe('keccak256', () => {
  it('equals ethers keccak256 for any bytes in the WebAssembly Keccak and the portable one', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (data) => {
        expect(toHex(native.keccak256(data))).toBe(keccak256(data))
        expect(toHex(portableCrypto.keccak256(data))).toBe(keccak256(data))
      }),
      { numRuns: 300 },
    )
  })
})

describe('sha256Concat', () => {
  it('is SHA-256(prev ‖ data) in OpenSSL and in the portable backend, for any chunk size', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ minLength: 4000, maxLength: 20_000 })),
        (prev, data) => {
          const expected = `0x${createHash('sha256').update(prev).update(data).digest('hex')}`
          expect(toHex(native.sha256Concat(prev, data))).toBe(expected)
          expect(toHex(portableCrypto.sha256Concat(prev, data))).toBe(expected)
        },
      ),
      { numRuns: 60 },
    )
  })
})
