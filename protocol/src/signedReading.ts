import { computeAddress, getAddress, getBytes, hashMessage, type SigningKey } from 'ethers'
import type { Address, Hex } from './hex.ts'
import { recoverDigestSigner, signDigestBytes } from './receipt.ts'

/** The `v` of a signed reading envelope (SPEC.md §Device signatures). */
export const SIGNED_READING_VERSION = 'trickle.signed/1'

/**
 * A reading signed by the device that measured it: the exact text the device signed, its address,
 * and an EIP-191 (`personal_sign`) signature over the text's UTF-8 bytes. Carried as the chunk's
 * payload, a JSON object; the seller passes it through untouched.
 */
export interface SignedReading {
  v: typeof SIGNED_READING_VERSION
  /** the device's address (the key's Ethereum address), as the device states it */
  device: Address
  /** the reading as the device wrote it (e.g. a JSON text), signed byte for byte */
  payload: string
  /** 65-byte `r ‖ s ‖ v` signature, 0x hex, low `s` (EIP-2) */
  sig: Hex
}

/** What a buyer knows about who produced a chunk (SPEC.md §Device signatures). */
export type ReadingProvenance =
  /** signed by `device`, a device the product's descriptor lists */
  | { status: 'verified'; device: Address; payload: Uint8Array }
  /** not a signed envelope: nothing says who produced it */
  | { status: 'unsigned' }
  /** an envelope that fails: malformed, the signature is not the stated device's, or the device is not listed */
  | { status: 'invalid'; reason: string; device?: Address; payload?: Uint8Array }

const utf8 = new TextEncoder()
const text = new TextDecoder('utf-8', { fatal: true })

/**
 * Signs a reading as its device: the envelope's bytes, ready to publish.
 * @param key - the device's secp256k1 key
 * @param payload - the reading's text (e.g. `encodeReading(…)` decoded as UTF-8)
 * @returns the UTF-8 JSON envelope `{ v, device, payload, sig }`
 */
export function signReading(key: SigningKey, payload: string): Uint8Array {
  const sig = signDigestBytes(key, getBytes(hashMessage(utf8.encode(payload))))
  const device = computeAddress(key.publicKey) as Address
  const envelope: SignedReading = { v: SIGNED_READING_VERSION, device, payload, sig }
  return utf8.encode(JSON.stringify(envelope))
}

/**
 * Reads a chunk as a signed envelope, without checking the signature.
 * @returns the envelope; `undefined` when the bytes are not one (not JSON, or no `v` of
 *   {@link SIGNED_READING_VERSION}); an `Error` naming the field when they claim to be one but are malformed
 */
export function openSignedReading(bytes: Uint8Array): SignedReading | Error | undefined {
  let value: unknown
  try {
    value = JSON.parse(text.decode(bytes))
  } catch {
    return undefined
  }
  if (
    typeof value !== 'object' ||
    value === null ||
    (value as { v?: unknown }).v !== SIGNED_READING_VERSION
  ) {
    return undefined
  }
  const { device, payload, sig } = value as Record<string, unknown>
  if (typeof device !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(device))
    return new Error('device is not an address')
  if (typeof payload !== 'string') return new Error('payload is not a string')
  if (typeof sig !== 'string' || !/^0x[0-9a-fA-F]{130}$/.test(sig))
    return new Error('sig is not 65 bytes of hex')
  return { v: SIGNED_READING_VERSION, device: device as Address, payload, sig: sig as Hex }
}

/**
 * Verifies a chunk against the devices a descriptor lists. Pure; never throws.
 *
 * @param bytes - the chunk's payload
 * @param devices - the descriptor's device addresses (any case)
 * @returns `verified` (with the signed payload's bytes) when the signature recovers to the stated
 *   device and the descriptor lists it; `unsigned` for a chunk that is no envelope; `invalid`, with a
 *   reason, otherwise
 */
export function verifyReading(bytes: Uint8Array, devices: readonly string[]): ReadingProvenance {
  const opened = openSignedReading(bytes)
  if (opened === undefined) return { status: 'unsigned' }
  if (opened instanceof Error) return { status: 'invalid', reason: opened.message }
  const payload = utf8.encode(opened.payload)
  const device = opened.device
  let signer: Address
  try {
    signer = recoverDigestSigner(hashMessage(payload) as Hex, opened.sig)
  } catch (err) {
    return { status: 'invalid', reason: `bad signature: ${(err as Error).message}`, device, payload }
  }
  if (signer.toLowerCase() !== device.toLowerCase()) {
    return {
      status: 'invalid',
      reason: 'the signature is not the stated device’s (altered?)',
      device,
      payload,
    }
  }
  if (!devices.some((d) => d.toLowerCase() === device.toLowerCase())) {
    return { status: 'invalid', reason: 'the device is not listed in the descriptor', device, payload }
  }
  return { status: 'verified', device: getAddress(device) as Address, payload }
}
