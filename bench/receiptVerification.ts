/**
 * Receipt verification rate on one core: the seller's per-receipt check (`recoverReceiptSigner` with
 * the precomputed domain separator, then the signer comparison `SellerSession` makes) against raw
 * secp256k1 public-key recovery by the same implementation (`recoverPublicKey`: libsecp256k1 where
 * its binary loads, else noble-curves) on precomputed digest and signature bytes, both measured in
 * the same process, interleaved, several rounds; plus ethers' pure-JS recovery for reference.
 */
import { randomBytes } from 'node:crypto'
import {
  cryptoBackend,
  decodeFrame,
  encodeFrame,
  fromHex,
  type Hex,
  type ReceiptValue,
  receiptDigest,
  recoverReceiptSigner,
  signReceipt,
} from '@trickle/protocol'
import { Signature, SigningKey } from 'ethers'
import { BUYER_ADDRESS, BUYER_KEY, DOMAIN_SEPARATOR, median, PRICE } from './protocolFixture.ts'

/** Rates of one round, per second. */
export interface VerificationRound {
  /** `recoverReceiptSigner` + signer check */
  verify: number
  /** `decodeFrame` of the receipt frame, then the same check */
  decodeVerify: number
  /** `recoverPublicKey` on precomputed digest and signature bytes */
  raw: number
  /** ethers' `SigningKey.recoverPublicKey` (pure JS) on a precomputed digest and parsed signature */
  ethers: number
}

/** Distinct receipts signed up front, cycled through. */
const RECEIPTS = 256

/**
 * Measures `rounds` rounds of the three rates, `msPerRate` ms each.
 * @returns one {@link VerificationRound} per round and the medians of each rate and of the ratios
 */
export function measureReceiptVerification(rounds = 5, msPerRate = 1_000) {
  const channelId = `0x${randomBytes(32).toString('hex')}` as Hex
  const signed = Array.from({ length: RECEIPTS }, (_, i) => {
    const value: ReceiptValue = {
      channelId,
      amount: BigInt(i + 1) * PRICE,
      seq: i + 1,
      ackHash: `0x${randomBytes(32).toString('hex')}` as Hex,
    }
    const signature = signReceipt(BUYER_KEY, DOMAIN_SEPARATOR, value)
    const bytes = encodeFrame({
      t: 'receipt',
      seq: value.seq,
      amount: value.amount,
      ackHash: value.ackHash,
      signature,
    })
    const digest = receiptDigest(DOMAIN_SEPARATOR, value)
    const sig = fromHex(signature)
    return {
      value,
      signature,
      bytes,
      digest,
      parsed: Signature.from(signature),
      digestBytes: fromHex(digest),
      rs: sig.subarray(0, 64),
      recoveryId: sig[64]! - 27,
    }
  })
  const expected = BUYER_ADDRESS.toLowerCase()
  const check = (signer: string) => {
    if (signer.toLowerCase() !== expected) throw new Error('receipt did not recover to the buyer')
  }
  const verify = (i: number) => {
    const r = signed[i % RECEIPTS]!
    check(recoverReceiptSigner(DOMAIN_SEPARATOR, r.value, r.signature))
  }
  const decodeVerify = (i: number) => {
    const frame = decodeFrame(signed[i % RECEIPTS]!.bytes)
    if (frame.t !== 'receipt') throw new Error('not a receipt frame')
    const value = { channelId, amount: frame.amount, seq: frame.seq, ackHash: frame.ackHash }
    check(recoverReceiptSigner(DOMAIN_SEPARATOR, value, frame.signature))
  }
  const raw = (i: number) => {
    const r = signed[i % RECEIPTS]!
    cryptoBackend().recoverPublicKey(r.digestBytes, r.rs, r.recoveryId)
  }
  const ethers = (i: number) => {
    const r = signed[i % RECEIPTS]!
    SigningKey.recoverPublicKey(r.digest, r.parsed)
  }
  const rate = (operation: (i: number) => void): number => {
    const started = performance.now()
    let done = 0
    while (performance.now() - started < msPerRate) {
      for (let k = 0; k < 32; k++) operation(done++)
    }
    return (done / (performance.now() - started)) * 1000
  }
  // Warm up the JIT on every path before measuring.
  for (let i = 0; i < 200; i++) {
    verify(i)
    decodeVerify(i)
    raw(i)
    ethers(i)
  }
  const measured: VerificationRound[] = []
  for (let round = 0; round < rounds; round++) {
    // Alternate the order so drift on a noisy machine does not favour one side.
    if (round % 2 === 0) {
      const r = rate(raw)
      measured.push({ raw: r, verify: rate(verify), decodeVerify: rate(decodeVerify), ethers: rate(ethers) })
    } else {
      const e = rate(ethers)
      const d = rate(decodeVerify)
      const v = rate(verify)
      measured.push({ verify: v, decodeVerify: d, raw: rate(raw), ethers: e })
    }
  }
  return {
    rounds: measured,
    verify: median(measured.map((m) => m.verify)),
    decodeVerify: median(measured.map((m) => m.decodeVerify)),
    raw: median(measured.map((m) => m.raw)),
    ethers: median(measured.map((m) => m.ethers)),
    verifyRatio: median(measured.map((m) => m.verify / m.raw)),
    decodeVerifyRatio: median(measured.map((m) => m.decodeVerify / m.raw)),
  }
}
