import { RECEIPT_TYPES, receiptDomain } from '@trickle/contracts'
import {
  concat,
  keccak256,
  recoverAddress,
  Signature,
  type SigningKey,
  TypedDataEncoder,
  toBeHex,
  zeroPadValue,
} from 'ethers'
import { sha256Concat } from '#sha256'
import { TrickleError } from './errors.ts'
import { type Address, fromHex, type Hex, toHex } from './hex.ts'

/** The hash a rolling ack hash starts from (no chunk acknowledged yet). */
export const ZERO_HASH: Hex = `0x${'00'.repeat(32)}`

/**
 * EIP-712 struct of a receipt, as `StreamChannels` verifies it (defined by the contract package).
 * Source: EIP-712 §Definition of `hashStruct`.
 */
export { RECEIPT_TYPES }

/** keccak256 of the encoded `Receipt` type (EIP-712 `typeHash`). */
export const RECEIPT_TYPEHASH: Hex = keccak256(
  Buffer.from('Receipt(bytes32 channelId,uint256 cumulativeAmount,uint64 seq,bytes32 ackHash)'),
) as Hex

/** What a receipt says: the buyer owes `amount` wei in total for chunks `[0, seq)` of `channelId`. */
export interface ReceiptValue {
  channelId: Hex
  /** cumulative amount, wei */
  amount: bigint
  /** chunks acknowledged on the channel */
  seq: number
  /** rolling hash of those chunks, see {@link nextAckHash} */
  ackHash: Hex
}

/** The EIP-712 domain receipts are signed in: one chain, one `StreamChannels` deployment. */
export interface ReceiptDomain {
  chainId: number
  /** StreamChannels address */
  channels: Address
}

const SECP256K1_HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n

/**
 * The EIP-712 domain separator for receipts, computed once per (chain, contract) and reused.
 *
 * @returns keccak256 of the encoded domain `{ name: "Trickle StreamChannels", version: "1", chainId, verifyingContract }`
 */
export function receiptDomainSeparator(domain: ReceiptDomain): Hex {
  return TypedDataEncoder.hashDomain(receiptDomain(domain.chainId, domain.channels)) as Hex
}

/**
 * The EIP-712 digest of a receipt, without rebuilding the type encoding: one keccak of the struct and
 * one of `0x1901 ‖ domainSeparator ‖ structHash` (EIP-712 §Specification).
 *
 * @param domainSeparator - from {@link receiptDomainSeparator}
 * @param receipt - the receipt's fields
 * @returns the 32-byte digest that is signed
 */
export function receiptDigest(domainSeparator: Hex, receipt: ReceiptValue): Hex {
  const structHash = keccak256(
    concat([
      RECEIPT_TYPEHASH,
      receipt.channelId,
      zeroPadValue(toBeHex(receipt.amount), 32),
      zeroPadValue(toBeHex(receipt.seq), 32),
      receipt.ackHash,
    ]),
  )
  return keccak256(concat(['0x1901', domainSeparator, structHash])) as Hex
}

/**
 * Signs a receipt with the channel's signer key.
 *
 * @param key - the payer's key or its authorized session key
 * @param domainSeparator - from {@link receiptDomainSeparator}
 * @returns a 65-byte `r ‖ s ‖ v` signature with low `s` (EIP-2)
 */
export function signReceipt(key: SigningKey, domainSeparator: Hex, receipt: ReceiptValue): Hex {
  return key.sign(receiptDigest(domainSeparator, receipt)).serialized as Hex
}

/**
 * Checks the form of a receipt signature the way `StreamChannels` (OpenZeppelin's `ECDSA.recover`)
 * accepts it: 65 bytes `r ‖ s ‖ v`, `v` 27 or 28, low `s` (EIP-2). Costs no curve operation.
 *
 * @returns the parsed signature
 * @throws TrickleError `RECEIPT_BAD_SIGNATURE` when the signature has another form
 */
export function parseReceiptSignature(signature: Hex): Signature {
  // 65 bytes only, as OpenZeppelin's ECDSA.recover: a 64-byte EIP-2098 signature would verify here
  // but could never be claimed on-chain.
  if (!/^0x[0-9a-fA-F]{130}$/.test(signature)) {
    throw new TrickleError('RECEIPT_BAD_SIGNATURE', 'receipt signature must be 65 bytes (r ‖ s ‖ v)')
  }
  const v = signature.slice(130, 132).toLowerCase()
  if (v !== '1b' && v !== '1c') {
    throw new TrickleError(
      'RECEIPT_BAD_SIGNATURE',
      'receipt signature v must be 27 or 28, as the contract requires',
    )
  }
  if (BigInt(`0x${signature.slice(66, 130)}`) > SECP256K1_HALF_N) {
    throw new TrickleError('RECEIPT_BAD_SIGNATURE', 'receipt signature has a high s value (EIP-2)')
  }
  try {
    return Signature.from(signature)
  } catch (cause) {
    throw new TrickleError('RECEIPT_BAD_SIGNATURE', 'receipt signature is malformed', { cause })
  }
}

/**
 * Recovers the address that signed a digest: one secp256k1 public-key recovery (~1.5–2 ms in pure
 * JS on the bench machine), the step a seller may run off its event loop.
 *
 * @param digest - 32-byte receipt digest ({@link receiptDigest})
 * @param signature - a signature {@link parseReceiptSignature} accepts
 * @returns the signer's checksummed address
 * @throws TrickleError `RECEIPT_BAD_SIGNATURE` when it does not recover
 */
export function recoverDigestSigner(digest: Hex, signature: Hex | Signature): Address {
  try {
    return recoverAddress(digest, signature) as Address
  } catch (cause) {
    throw new TrickleError('RECEIPT_BAD_SIGNATURE', 'receipt signature does not recover', { cause })
  }
}

/**
 * Recovers the signer of a receipt: {@link parseReceiptSignature}, {@link receiptDigest}, then one
 * secp256k1 recovery.
 *
 * @returns the signer's checksummed address
 * @throws TrickleError `RECEIPT_BAD_SIGNATURE` when the signature is not 65 bytes, has a high `s`
 *   (malleable, EIP-2) or does not recover
 */
export function recoverReceiptSigner(domainSeparator: Hex, receipt: ReceiptValue, signature: Hex): Address {
  const sig = parseReceiptSignature(signature)
  return recoverDigestSigner(receiptDigest(domainSeparator, receipt), sig)
}

/**
 * Extends the rolling ack hash by one chunk: `SHA-256(prev ‖ data)` (SPEC §Rolling ack hash). The hash
 * after chunk k commits the buyer to having received exactly chunks 0..k in order. SHA-256 rather
 * than keccak256 because it runs once per chunk on both sides: Node's OpenSSL SHA-256 of a 1 KiB chunk
 * takes ~1.5 µs, ethers' pure-JS keccak256 ~90 µs (bench/RESULTS.md).
 *
 * @param prev - the hash before this chunk, 32 bytes (all zero for the first)
 * @param data - the chunk's payload bytes
 * @returns the hash after this chunk, 32 bytes
 */
export function extendAckHash(prev: Uint8Array, data: Uint8Array): Uint8Array {
  return sha256Concat(prev, data)
}

/**
 * {@link extendAckHash} on hex: `SHA-256(prev ‖ data)`.
 *
 * @param prev - the hash before this chunk ({@link ZERO_HASH} for the first)
 * @param data - the chunk's payload bytes
 * @throws TypeError when `prev` is not 32 bytes of `0x` hex
 */
export function nextAckHash(prev: Hex, data: Uint8Array): Hex {
  const bytes = fromHex(prev)
  if (bytes.length !== 32) throw new TypeError('an ack hash is 32 bytes')
  return toHex(extendAckHash(bytes, data))
}
