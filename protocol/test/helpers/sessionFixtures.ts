import { SigningKey, Wallet } from 'ethers'
import {
  type AcceptValue,
  type Frame,
  type Hex,
  receiptDomainSeparator,
  signAccept,
  type TermsFrame,
  termsDigest,
} from '../../src/index.ts'

/** Fixed keys and ids shared by the in-memory session tests (never funded, never on a chain). */
export const sellerKey = new SigningKey(`0x${'00'.repeat(31)}03`)
export const buyerKey = new SigningKey(`0x${'00'.repeat(31)}01`)
/** the seller's registered terms key */
export const SELLER = new Wallet(sellerKey).address as Hex
/** the buyer's receipt signer */
export const BUYER = new Wallet(buyerKey).address as Hex
export const CHAIN_ID = 31337
/** StreamChannels address */
export const CHANNELS: Hex = '0x5FbDB2315678afecb367f032d93F642f64180aa3'
export const PAYEE: Hex = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8'
export const CHANNEL_ID: Hex = `0x${'ab'.repeat(32)}`
export const PRODUCT_ID = 7n
/** receipt domain separator of CHAIN_ID and CHANNELS */
export const SEPARATOR = receiptDomainSeparator({ chainId: CHAIN_ID, channels: CHANNELS })

/**
 * The `accept` a buyer holding `key` sends for a `terms` frame: its digest and the key's EIP-712
 * `Accept` signature over it and the terms' nonce (SPEC.md §Authentication).
 */
export function acceptFrame(
  terms: TermsFrame,
  key: SigningKey = buyerKey,
  separator: Hex = SEPARATOR,
): Extract<Frame, { t: 'accept' }> {
  const digest = termsDigest(terms)
  const signature = signAccept(key, separator, {
    channelId: terms.channelId,
    termsDigest: digest,
    nonce: terms.nonce,
  })
  return { t: 'accept', termsDigest: digest, signature }
}

/** Signs accepts with `key` in {@link SEPARATOR}'s domain: the `signAccept` of a BuyerSessionConfig. */
export const acceptSigner =
  (key: SigningKey = buyerKey) =>
  (accept: AcceptValue) =>
    signAccept(key, SEPARATOR, accept)
