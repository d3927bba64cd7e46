import { RECEIPT_TYPES, receiptDomain } from '@trickle/contracts'
import { getBytes, id, Signature, type SigningKey, TypedDataEncoder } from 'ethers'
import type { CryptoBackend } from './cryptoBackend.ts'
import { cryptoBackend } from './cryptoBackend.ts'
import { TrickleError } from './errors.ts'
import { type Address, fromHex, type Hex, toHex } from './hex.ts'
import { keccak256Bytes } from './keccak.ts'

/** The hash a rolling ack hash starts from (no chunk acknowledged yet). */
export const ZERO_HASH: Hex = `0x${'00'.repeat(32)}`

/**
 * EIP-712 struct of a receipt, as `StreamChannels` verifies it (defined by the contract package).
 * Source: EIP-712 §Definition of `hashStruct`.
 */
export { RECEIPT_TYPES }

/** keccak256 of the encoded `Receipt` type (EIP-712 `typeHash`). */
export const RECEIPT_TYPEHASH: Hex = id(
  'Receipt(bytes32 channelId,uint256 cumulativeAmount,uint64 seq,bytes32 ackHash)',
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
  return toHex(receiptDigestBytes(domainSeparator, receipt))
}

const TYPEHASH_BYTES = fromHex(RECEIPT_TYPEHASH)
const UINT256_MAX = (1n << 256n) - 1n

/**
 * {@link receiptDigest} as bytes, encoded in place (no hex round trips): the seller's per-receipt path.
 * @throws TypeError when a field does not fit its EIP-712 type
 */
function receiptDigestBytes(domainSeparator: Hex, receipt: ReceiptValue): Uint8Array {
  if (receipt.amount < 0n || receipt.amount > UINT256_MAX) throw new TypeError('amount is not a uint256')
  if (!Number.isSafeInteger(receipt.seq) || receipt.seq < 0) throw new TypeError('seq is not a uint64')
  const struct = new Uint8Array(5 * 32)
  const view = new DataView(struct.buffer)
  struct.set(TYPEHASH_BYTES, 0)
  struct.set(bytes32(receipt.channelId, 'channelId'), 32)
  for (let word = 0; word < 4; word++) {
    view.setBigUint64(64 + 8 * word, BigInt.asUintN(64, receipt.amount >> BigInt(192 - 64 * word)))
  }
  view.setBigUint64(3 * 32 + 24, BigInt(receipt.seq))
  struct.set(bytes32(receipt.ackHash, 'ackHash'), 4 * 32)
  return typedDataDigest(domainSeparator, struct)
}

/**
 * The EIP-712 digest of an encoded struct: `keccak256(0x19 0x01 ‖ domainSeparator ‖
 * keccak256(encodedStruct))` (EIP-712 §Specification).
 *
 * @param encodedStruct - `typeHash ‖ encodeData(struct)`, 32-byte words
 * @throws TypeError when `domainSeparator` is not 32 bytes of `0x` hex
 */
export function typedDataDigest(domainSeparator: Hex, encodedStruct: Uint8Array): Uint8Array {
  const message = new Uint8Array(2 + 32 + 32)
  message[0] = 0x19
  message[1] = 0x01
  message.set(bytes32(domainSeparator, 'domainSeparator'), 2)
  message.set(keccak256Bytes(encodedStruct), 34)
  return keccak256Bytes(message)
}

/**
 * Signs a 32-byte digest: 65 bytes `r ‖ s ‖ v`, `v` 27/28, low `s` (EIP-2), RFC 6979 nonce
 * (every {@link CryptoBackend} gives the same bytes).
 */
export function signDigestBytes(key: SigningKey, digest: Uint8Array): Hex {
  const { rs, recoveryId } = cryptoBackend().signDigest(digest, getBytes(key.privateKey))
  const signature = new Uint8Array(65)
  signature.set(rs, 0)
  signature[64] = 27 + recoveryId
  return toHex(signature)
}

/** @throws TypeError when `hex` is not 32 bytes of `0x` hex */
export function bytes32(hex: Hex, field: string): Uint8Array {
  const bytes = fromHex(hex)
  if (bytes.length !== 32) throw new TypeError(`${field} is not 32 bytes`)
  return bytes
}

/**
 * Signs a receipt with the channel's signer key.
 *
 * @param key - the payer's key or its authorized session key
 * @param domainSeparator - from {@link receiptDomainSeparator}
 * @returns a 65-byte `r ‖ s ‖ v` signature with low `s` (EIP-2), nonce by RFC 6979 (every
 *   {@link CryptoBackend} gives the same bytes)
 */
export function signReceipt(key: SigningKey, domainSeparator: Hex, receipt: ReceiptValue): Hex {
  return signDigestBytes(key, receiptDigestBytes(domainSeparator, receipt))
}

/**
 * Checks the form of a receipt signature the way `StreamChannels` (OpenZeppelin's `ECDSA.recover`)
 * accepts it: 65 bytes `r ‖ s ‖ v`, `v` 27 or 28, low `s` (EIP-2). Costs no curve operation.
 *
 * @returns the parsed signature
 * @throws TrickleError `RECEIPT_BAD_SIGNATURE` when the signature has another form
 */
export function parseReceiptSignature(signature: Hex): Signature {
  checkReceiptSignature(signature)
  try {
    return Signature.from(signature)
  } catch (cause) {
    throw new TrickleError('RECEIPT_BAD_SIGNATURE', 'receipt signature is malformed', { cause })
  }
}

/**
 * {@link parseReceiptSignature} without building the parsed signature: the form checks alone.
 * @throws TrickleError `RECEIPT_BAD_SIGNATURE` when the signature has another form
 */
export function checkReceiptSignature(signature: Hex): void {
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
}

/**
 * Recovers the address that signed a digest: one secp256k1 public-key recovery, then the address as
 * Ethereum derives it (the last 20 bytes of keccak256 of the public key's `x ‖ y`, Yellow Paper
 * eq. 284), with the {@link CryptoBackend} in use: ethers' pure-JS noble-curves by default (~1.7 ms on
 * the bench machine, a step a seller may run off its event loop), libsecp256k1 (~60 µs) when the
 * seller installs `nativeCrypto()` of `@trickle/seller`.
 *
 * @param digest - 32-byte receipt digest ({@link receiptDigest})
 * @param signature - a signature {@link parseReceiptSignature} accepts (`v` 27/28; 0/1 is read as
 *   27/28)
 * @returns the signer's address in lowercase hex (compare addresses case-insensitively; an EIP-55
 *   checksum would cost another keccak per receipt)
 * @throws TrickleError `RECEIPT_BAD_SIGNATURE` when it is not 65 bytes of hex or does not recover
 * @throws TypeError when `digest` is not 32 bytes of `0x` hex
 */
export function recoverDigestSigner(digest: Hex, signature: Hex | Signature): Address {
  return recoverSigner(bytes32(digest, 'digest'), signature)
}

function recoverSigner(digest: Uint8Array, signature: Hex | Signature): Address {
  let sig: Uint8Array
  try {
    sig = fromHex(typeof signature === 'string' ? signature : signature.serialized)
  } catch (cause) {
    throw new TrickleError('RECEIPT_BAD_SIGNATURE', 'receipt signature is not hex', { cause })
  }
  const v = sig[64]!
  const recoveryId = v >= 27 ? v - 27 : v
  if (sig.length !== 65 || recoveryId > 1) {
    throw new TrickleError('RECEIPT_BAD_SIGNATURE', 'receipt signature must be 65 bytes with v 27 or 28')
  }
  let publicKey: Uint8Array
  try {
    publicKey = cryptoBackend().recoverPublicKey(digest, sig.subarray(0, 64), recoveryId)
  } catch (cause) {
    throw new TrickleError('RECEIPT_BAD_SIGNATURE', 'receipt signature does not recover', { cause })
  }
  return toHex(keccak256Bytes(publicKey.subarray(1)).subarray(12))
}

/**
 * Recovers the signer of a receipt: {@link parseReceiptSignature}, {@link receiptDigest}, then one
 * secp256k1 recovery.
 *
 * @returns the signer's address in lowercase hex
 * @throws TrickleError `RECEIPT_BAD_SIGNATURE` when the signature is not 65 bytes, has a high `s`
 *   (malleable, EIP-2) or does not recover
 */
export function recoverReceiptSigner(domainSeparator: Hex, receipt: ReceiptValue, signature: Hex): Address {
  checkReceiptSignature(signature)
  return recoverSigner(receiptDigestBytes(domainSeparator, receipt), signature)
}

/**
 * Extends the rolling ack hash by one chunk: `SHA-256(prev ‖ data)` (SPEC §Rolling ack hash). The hash
 * after chunk k commits the buyer to having received exactly chunks 0..k in order. SHA-256 rather
 * than keccak256 because it runs once per chunk on both sides: OpenSSL's SHA-256 of a 1 KiB chunk
 * takes ~1.5 µs, pure-JS keccak256 ~90 µs (bench/RESULTS.md); browsers get noble's SHA-256.
 *
 * @param prev - the hash before this chunk, 32 bytes (all zero for the first)
 * @param data - the chunk's payload bytes
 * @returns the hash after this chunk, 32 bytes
 */
export function extendAckHash(prev: Uint8Array, data: Uint8Array): Uint8Array {
  return cryptoBackend().sha256Concat(prev, data)
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
