import { Wallet } from 'ethers'
import { describe, expect, it } from 'vitest'
import {
  type BuyerEffect,
  BuyerSession,
  type ChannelInfo,
  type Hex,
  nextAckHash,
  type ResumeBase,
  type SellerPolicy,
  SellerSession,
  signReceipt,
  signTerms,
  type TermsFrame,
  ZERO_HASH,
} from '../src/index.ts'
import {
  acceptSigner,
  BUYER,
  buyerKey,
  CHAIN_ID,
  CHANNEL_ID,
  CHANNELS,
  PAYEE,
  PRODUCT_ID,
  SEPARATOR,
  sellerKey,
} from './helpers/sessionFixtures.ts'

const PRICE = 1_000_000_000_000n // wei per chunk
const NOW = 1_750_000_000_000 // ms since the epoch
const POLICY: SellerPolicy = {
  pricePerChunk: PRICE,
  maxChunkBytes: 1024,
  window: { initial: 4, step: 2, max: 12 },
  receiptEvery: 2,
  paymentTimeoutMs: 5_000,
  termsTtlMs: 60_000,
  maxQueuedChunks: 1_000,
}

const payload = (i: number) => Uint8Array.from([i & 255, 0xee])

/** The receipt the buyer signed after `seq` chunks of `payload`, as a resume base. */
function baseAt(seq: number, amount = BigInt(seq) * PRICE): ResumeBase {
  let ackHash: Hex = ZERO_HASH
  for (let i = 0; i < seq; i++) ackHash = nextAckHash(ackHash, payload(i))
  const signature = signReceipt(buyerKey, SEPARATOR, { channelId: CHANNEL_ID, amount, seq, ackHash })
  return { seq, amount, ackHash, signature }
}

/** Terms a real seller session offers when its store's last receipt is `base`. */
function termsFrom(base: ResumeBase): TermsFrame {
  const seller = new SellerSession(
    (terms) => signTerms(sellerKey, terms),
    () => SEPARATOR,
  )
  seller.receive({ t: 'hello', v: 1, productId: PRODUCT_ID, channelId: CHANNEL_ID }, NOW)
  const info: ChannelInfo = {
    productId: PRODUCT_ID,
    channelId: CHANNEL_ID,
    chainId: CHAIN_ID,
    channels: CHANNELS,
    payee: PAYEE,
    deposit: 1_000n * PRICE,
    signers: [BUYER],
    base,
  }
  const sent = seller.resolved(info, POLICY, NOW).find((e) => e.type === 'send')
  if (sent?.type !== 'send' || sent.frame.t !== 'terms') throw new Error('the seller offered no terms')
  return sent.frame
}

function buyerKnowing(knownBase: ResumeBase | undefined, maxSpend = 1_000n * PRICE) {
  return new BuyerSession({
    productId: PRODUCT_ID,
    channelId: CHANNEL_ID,
    chainId: CHAIN_ID,
    channels: CHANNELS,
    payee: PAYEE,
    sellerKey: new Wallet(sellerKey).address as Hex,
    signer: BUYER,
    maxSpend,
    domainSeparator: SEPARATOR,
    signReceipt: (r) => signReceipt(buyerKey, SEPARATOR, r),
    signAccept: acceptSigner(),
    ...(knownBase ? { knownBase } : {}),
  })
}

const errorOf = (effects: BuyerEffect[]) =>
  effects.find((e): e is Extract<BuyerEffect, { type: 'close' }> => e.type === 'close')?.error?.code

describe('resume from a seller base behind the buyer (after a seller crash)', () => {
  it('accepts a base older than its last receipt and pays nothing new for the chunks sent again', () => {
    const buyer = buyerKnowing(baseAt(16))
    buyer.start()
    const accepted = buyer.receive(termsFrom(baseAt(8)), NOW)
    expect(accepted.map((e) => (e.type === 'send' ? e.frame.t : e.type))).toEqual(['accept'])
    const receipts: bigint[] = []
    for (let seq = 8; seq < 20; seq++) {
      for (const e of buyer.receive({ t: 'chunk', seq, data: payload(seq) }, NOW)) {
        if (e.type === 'send' && e.frame.t === 'receipt') receipts.push(e.frame.amount)
      }
    }
    // The re-sent chunks 8–15 are signed at the amounts already signed; only 16–19 are new money.
    expect(receipts).toEqual([10n, 12n, 14n, 16n, 18n, 20n].map((n) => n * PRICE))
    expect(buyer.cumulativeAmount).toBe(20n * PRICE)
    expect(buyer.spent).toBe(4n * PRICE)
  })

  it('applies maxSpend to new money only, not to chunks it had already paid for', () => {
    const buyer = buyerKnowing(baseAt(16), 2n * PRICE)
    buyer.start()
    buyer.receive(termsFrom(baseAt(8)), NOW)
    let delivered = 0
    for (let seq = 8; seq < 30 && !buyer.closed; seq++) {
      delivered += buyer
        .receive({ t: 'chunk', seq, data: payload(seq) }, NOW)
        .filter((e) => e.type === 'deliver').length
    }
    expect(delivered).toBe(10) // 8 already paid, then 2 within the cap
    expect(buyer.spent).toBe(2n * PRICE)
    expect(buyer.closeReason).toBe('spending_cap')
  })

  it('refuses a base beyond the last receipt it signed, or one that disagrees at the same seq', () => {
    const ahead = buyerKnowing(baseAt(8))
    ahead.start()
    expect(errorOf(ahead.receive(termsFrom(baseAt(16)), NOW))).toBe('RESUME_MISMATCH')

    const differs = buyerKnowing(baseAt(8))
    differs.start()
    expect(errorOf(differs.receive(termsFrom(baseAt(8, 7n * PRICE)), NOW))).toBe('RESUME_MISMATCH')
  })
})
