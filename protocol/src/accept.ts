import type { SigningKey } from 'ethers'
import { TrickleError } from './errors.ts'
import { fromHex, type Hex, toHex } from './hex.ts'
import { keccak256Bytes } from './keccak.ts'
import {
  bytes32,
  checkReceiptSignature,
  recoverDigestSigner,
  signDigestBytes,
  typedDataDigest,
} from './receipt.ts'

/**
 * The EIP-712 type a buyer signs to accept terms and prove it holds the channel's signer key
 * (SPEC.md §Authentication). It is signed in the receipt domain (`"Trickle StreamChannels"`, the
 * channel's chain and contract), so only a key the channel names as signer (or its payer) can produce
 * it, and its type hash differs from `Receipt`'s, so it can never be claimed as a receipt.
 */
export const ACCEPT_TYPE = 'Accept(bytes32 channelId,bytes32 termsDigest,bytes32 nonce)'

/** keccak256 of {@link ACCEPT_TYPE} (EIP-712 `typeHash`). */
export const ACCEPT_TYPEHASH: Hex = toHex(keccak256Bytes(new TextEncoder().encode(ACCEPT_TYPE)))

/** What an `accept` signature binds: the channel, the exact terms, and the seller's fresh nonce. */
export interface AcceptValue {
  channelId: Hex
  /** EIP-712 digest of the terms being accepted (`termsDigest`) */
  termsDigest: Hex
  /** the 32 random bytes the seller put in this session's `terms` frame */
  nonce: Hex
}

const ACCEPT_TYPEHASH_BYTES = fromHex(ACCEPT_TYPEHASH)

/**
 * The EIP-712 digest of an accept: `keccak256(0x1901 ‖ domainSeparator ‖ keccak256(ACCEPT_TYPEHASH ‖
 * channelId ‖ termsDigest ‖ nonce))` (EIP-712 §Specification; every member is a `bytes32`, encoded as is).
 *
 * @param domainSeparator - the receipt domain separator (`receiptDomainSeparator`)
 * @returns the 32-byte digest the channel's signer signs
 * @throws TypeError when a field is not 32 bytes of `0x` hex
 */
export function acceptDigest(domainSeparator: Hex, value: AcceptValue): Hex {
  return toHex(acceptDigestBytes(domainSeparator, value))
}

function acceptDigestBytes(domainSeparator: Hex, value: AcceptValue): Uint8Array {
  const struct = new Uint8Array(4 * 32)
  struct.set(ACCEPT_TYPEHASH_BYTES, 0)
  struct.set(bytes32(value.channelId, 'channelId'), 32)
  struct.set(bytes32(value.termsDigest, 'termsDigest'), 64)
  struct.set(bytes32(value.nonce, 'nonce'), 96)
  return typedDataDigest(domainSeparator, struct)
}

/**
 * Signs an accept with the channel's signer key (the buyer's session key or the payer's key).
 *
 * @param domainSeparator - the receipt domain separator of the channel's chain and contract
 * @returns a 65-byte `r ‖ s ‖ v` signature, low `s` (EIP-2), `v` 27/28, RFC 6979 nonce
 */
export function signAccept(key: SigningKey, domainSeparator: Hex, value: AcceptValue): Hex {
  return signDigestBytes(key, acceptDigestBytes(domainSeparator, value))
}

/**
 * Recovers who signed an accept. The same form rules as receipts apply (65 bytes, `v` 27/28, low `s`).
 *
 * @returns the signer's address in lowercase hex
 * @throws TrickleError `AUTH_FAILED` when the signature has another form or does not recover
 */
export function recoverAcceptSigner(domainSeparator: Hex, value: AcceptValue, signature: Hex): Hex {
  try {
    checkReceiptSignature(signature)
    return recoverDigestSigner(acceptDigest(domainSeparator, value), signature)
  } catch (cause) {
    const message = cause instanceof TrickleError ? cause.shortMessage : String(cause)
    throw new TrickleError('AUTH_FAILED', `accept signature: ${message}`, { cause })
  }
}
