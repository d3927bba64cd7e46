import { gcm } from '@noble/ciphers/aes.js'
import { decrypt, encrypt } from 'eciesjs'
import { Config } from 'eciesjs/config'
import { TrickleError } from './errors.ts'
import { fromHex, type Hex } from './hex.ts'
import { decodeJobRecord, encodeJobRecord, type JobRecord } from './jobs.ts'

/**
 * The ECIES parameters of sealed jobs (SPEC.md §Jobs, "Sealed jobs"), fixed here rather than read
 * from eciesjs's process-wide `ECIES_CONFIG`: secp256k1, an uncompressed 65-byte ephemeral key, HKDF-
 * SHA256 over the uncompressed shared point, AES-256-GCM with a 16-byte nonce (the defaults of eciesjs
 * and eciespy, so either reads the other's).
 */
const SEALING = Object.assign(new Config(), {
  ellipticCurve: 'secp256k1',
  isEphemeralKeyCompressed: false,
  isHkdfKeyCompressed: false,
  symmetricAlgorithm: 'aes-256-gcm',
  symmetricNonceLength: 16,
} satisfies Partial<Config>)

/** Bytes sealing adds: ephemeral public key 65, nonce 16, GCM tag 16. */
export const SEAL_OVERHEAD_BYTES = 65 + 16 + 16

/**
 * Seals bytes to a secp256k1 public key (ECIES, SEC 1 §5.1 as eciesjs implements it): only the
 * holder of the private key opens them. Randomized: the same bytes seal differently each time.
 * @param publicKey - 33-byte compressed or 65-byte uncompressed key, hex (`0x02…`/`0x04…`)
 * @returns `ephemeralPublicKey(65) ‖ nonce(16) ‖ tag(16) ‖ ciphertext`, {@link SEAL_OVERHEAD_BYTES}
 *   longer than `plaintext`
 * @throws TrickleError `INVALID_ARGUMENT` when `publicKey` is not a point of the curve
 */
export function sealTo(publicKey: Hex, plaintext: Uint8Array): Uint8Array {
  try {
    return encrypt(fromHex(publicKey), plaintext, SEALING)
  } catch (cause) {
    throw new TrickleError('INVALID_ARGUMENT', 'not a secp256k1 public key to seal to', { cause })
  }
}

/**
 * Opens bytes sealed by {@link sealTo}.
 * @param privateKey - the 32-byte secp256k1 private key, hex
 * @throws TrickleError `INVALID_ARGUMENT` when they were not sealed to this key, or were altered
 */
export function unseal(privateKey: Hex, sealed: Uint8Array): Uint8Array {
  if (sealed.byteLength < SEAL_OVERHEAD_BYTES) {
    throw new TrickleError('INVALID_ARGUMENT', `sealed bytes are at least ${SEAL_OVERHEAD_BYTES} long`)
  }
  try {
    return decrypt(fromHex(privateKey), sealed, SEALING)
  } catch (cause) {
    throw new TrickleError('INVALID_ARGUMENT', 'the sealed bytes do not open with this key', { cause })
  }
}

/** A job's results sealed to the buyer: the `sealed` record (SPEC.md §Jobs, "Sealed jobs"). */
export type SealedJobRecord = Extract<JobRecord, { k: 'sealed' }>

/** Result records a job seals at most: the 96-bit GCM nonce's counter stays far from wrapping. */
const MAX_SEALED_RECORDS = Number.MAX_SAFE_INTEGER

/** The AES-256-GCM nonce of a job's `n`th sealed record (0-based): 12 bytes, `n` big-endian. */
function nonceOf(n: number): Uint8Array {
  const nonce = new Uint8Array(12)
  new DataView(nonce.buffer).setBigUint64(4, BigInt(n))
  return nonce
}

/**
 * The provider's side of a job whose results are sealed to the buyer (SPEC.md §Jobs, "Sealed jobs"):
 * one random 32-byte result key per job, sealed once (ECIES, {@link sealTo}) to the public key that
 * signed the session's `accept`, and each `out`, `err` and `file` record encrypted under it with
 * AES-256-GCM (nonce: the record's index among the job's sealed records). One ECIES per job, not per
 * record: ECIES costs an ECDH on each side (milliseconds), AES-GCM a fraction of one.
 */
export class JobResultSealer {
  private readonly key = globalThis.crypto.getRandomValues(new Uint8Array(32))
  private readonly sealedKey: Uint8Array
  private n = 0

  /**
   * @param buyerKey - the public key that signed the session's `accept`, hex (33 or 65 bytes)
   * @throws TrickleError `INVALID_ARGUMENT` when it is not a secp256k1 public key
   */
  constructor(buyerKey: Hex) {
    this.sealedKey = sealTo(buyerKey, this.key)
  }

  /** Seals one record; the first sealed record carries the sealed result key. */
  seal(record: JobRecord): SealedJobRecord {
    if (this.n >= MAX_SEALED_RECORDS) throw new TrickleError('INTERNAL', 'too many sealed records')
    const data = gcm(this.key, nonceOf(this.n)).encrypt(encodeJobRecord(record))
    return this.n++ === 0 ? { k: 'sealed', key: this.sealedKey, data } : { k: 'sealed', data }
  }
}

/**
 * The buyer's side of a sealed job: opens its `sealed` records in the order they arrive, with the
 * private key that signed the session's `accept`.
 */
export class JobResultOpener {
  private readonly privateKey: Hex
  private key: Uint8Array | undefined
  private n = 0

  /** @param privateKey - the session key that signed the `accept`, hex (32 bytes) */
  constructor(privateKey: Hex) {
    this.privateKey = privateKey
  }

  /**
   * Opens the next sealed record.
   * @returns the record it seals: `out`, `err` or `file`
   * @throws TrickleError `JOB_RECORD_INVALID` when the first carries no key or another carries one,
   *   the key is not sealed to this session key, a record was altered, dropped or reordered, or it
   *   seals anything but output
   */
  open(record: SealedJobRecord): JobRecord {
    const invalid = (why: string, cause?: unknown): never => {
      throw new TrickleError('JOB_RECORD_INVALID', `sealed record ${this.n}: ${why}`, { cause })
    }
    if ((this.n === 0) !== (record.key !== undefined)) {
      invalid(this.n === 0 ? 'the first carries the result key' : 'only the first carries a key')
    }
    if (record.key !== undefined) {
      try {
        this.key = unseal(this.privateKey, record.key)
      } catch (cause) {
        invalid('the result key is not sealed to this session key', cause)
      }
      if (this.key?.byteLength !== 32) invalid('the result key is not 32 bytes')
    }
    let plaintext: Uint8Array
    try {
      plaintext = gcm(this.key!, nonceOf(this.n)).decrypt(record.data)
    } catch (cause) {
      return invalid('does not open under the result key (altered, dropped or reordered)', cause)
    }
    this.n++
    const inner = decodeJobRecord(plaintext)
    if (inner.k !== 'out' && inner.k !== 'err' && inner.k !== 'file') invalid(`seals a ${inner.k} record`)
    return inner
  }
}
