import { type SigningKey, TypedDataEncoder, verifyTypedData } from 'ethers'
import type { Terms } from './frames.ts'
import type { Address, Hex } from './hex.ts'

/** EIP-712 struct of the session terms (SPEC.md §Terms). */
export const TERMS_TYPES = {
  Terms: [
    { name: 'version', type: 'uint16' },
    { name: 'productId', type: 'uint256' },
    { name: 'channelId', type: 'bytes32' },
    { name: 'payee', type: 'address' },
    { name: 'pricePerChunk', type: 'uint256' },
    { name: 'maxChunkBytes', type: 'uint32' },
    { name: 'windowInitial', type: 'uint32' },
    { name: 'windowStep', type: 'uint32' },
    { name: 'windowMax', type: 'uint32' },
    { name: 'receiptEvery', type: 'uint32' },
    { name: 'paymentTimeoutMs', type: 'uint64' },
    { name: 'heartbeatMs', type: 'uint32' },
    { name: 'idleTimeoutMs', type: 'uint32' },
    { name: 'maxQueuedChunks', type: 'uint32' },
    { name: 'overflow', type: 'string' },
    { name: 'expiresAt', type: 'uint64' },
    { name: 'baseSeq', type: 'uint64' },
    { name: 'baseAmount', type: 'uint256' },
    { name: 'baseAckHash', type: 'bytes32' },
  ],
}

function termsDomain(terms: Terms) {
  return { name: 'Trickle Terms', version: '1', chainId: terms.chainId, verifyingContract: terms.channels }
}

function termsValue(terms: Terms) {
  return {
    version: terms.v,
    productId: terms.productId,
    channelId: terms.channelId,
    payee: terms.payee,
    pricePerChunk: terms.pricePerChunk,
    maxChunkBytes: terms.maxChunkBytes,
    windowInitial: terms.window.initial,
    windowStep: terms.window.step,
    windowMax: terms.window.max,
    receiptEvery: terms.receiptEvery,
    paymentTimeoutMs: terms.paymentTimeoutMs,
    heartbeatMs: terms.heartbeatMs,
    idleTimeoutMs: terms.idleTimeoutMs,
    maxQueuedChunks: terms.maxQueuedChunks,
    overflow: terms.overflow,
    expiresAt: terms.expiresAt,
    baseSeq: terms.base.seq,
    baseAmount: terms.base.amount,
    baseAckHash: terms.base.ackHash,
  }
}

/**
 * The EIP-712 digest of the terms; the buyer echoes it in `accept`.
 * @returns 32-byte digest
 */
export function termsDigest(terms: Terms): Hex {
  return TypedDataEncoder.hash(termsDomain(terms), TERMS_TYPES, termsValue(terms)) as Hex
}

/**
 * Signs terms with the seller key recorded in `DataRegistry` (EIP-712).
 * @returns 65-byte signature
 */
export function signTerms(key: SigningKey, terms: Terms): Hex {
  return key.sign(termsDigest(terms)).serialized as Hex
}

/**
 * Recovers the key that signed the terms.
 * @returns checksummed address; compare it with `DataRegistry.sellerKey(seller)`
 * @throws Error from ethers when the signature does not recover
 */
export function recoverTermsSigner(terms: Terms, signature: Hex): Address {
  return verifyTypedData(termsDomain(terms), TERMS_TYPES, termsValue(terms), signature) as Address
}
