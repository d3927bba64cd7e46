import { describe, expect, it } from 'vitest'
import {
  type ChannelInfo,
  type Frame,
  type Hex,
  nextAckHash,
  recoverDigestSigner,
  type SellerEffect,
  type SellerPolicy,
  SellerSession,
  signReceipt,
  signTerms,
  TrickleError,
  ZERO_HASH,
} from '../src/index.ts'
import {
  acceptFrame,
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

const PRICE = 1_000n
const NOW = 1_750_000_000_000
const POLICY: SellerPolicy = {
  pricePerChunk: PRICE,
  maxChunkBytes: 64,
  window: { initial: 4, step: 4, max: 8 },
  receiptEvery: 2,
  paymentTimeoutMs: 5_000,
  termsTtlMs: 60_000,
  maxQueuedChunks: 100,
}
const INFO: ChannelInfo = {
  productId: PRODUCT_ID,
  channelId: CHANNEL_ID,
  chainId: CHAIN_ID,
  channels: CHANNELS,
  payee: PAYEE,
  deposit: 1_000n * PRICE,
  signers: [BUYER],
  base: { seq: 0, amount: 0n, ackHash: ZERO_HASH, signature: '0x' },
}
const payload = (i: number) => Uint8Array.of(i, 0xab)

/** A deferred-verification seller that has sent `sent` chunks to an accepted buyer. */
function streamingSeller(sent: number) {
  const seller = new SellerSession(
    (terms) => signTerms(sellerKey, terms),
    () => SEPARATOR,
    undefined,
    'deferred',
  )
  seller.receive({ t: 'hello', v: 1, productId: PRODUCT_ID, channelId: CHANNEL_ID }, NOW)
  const terms = seller.resolved(INFO, POLICY, NOW).find((e) => e.type === 'send')
  if (terms?.type !== 'send' || terms.frame.t !== 'terms') throw new Error('no terms')
  seller.receive(acceptFrame(terms.frame), NOW)
  const chunks: number[] = []
  for (let i = 0; i < sent; i++) {
    for (const e of seller.offer(payload(i), NOW))
      if (e.type === 'send' && e.frame.t === 'chunk') chunks.push(i)
  }
  return { seller, chunks }
}

/** The buyer's receipt after `seq` chunks, signed by `key`. */
function receiptFrame(seq: number, key = buyerKey): Frame {
  let ackHash: Hex = ZERO_HASH
  for (let i = 0; i < seq; i++) ackHash = nextAckHash(ackHash, payload(i))
  const amount = BigInt(seq) * PRICE
  const signature = signReceipt(key, SEPARATOR, { channelId: CHANNEL_ID, amount, seq, ackHash })
  return { t: 'receipt', seq, amount, ackHash, signature }
}

const kinds = (effects: SellerEffect[]) =>
  effects.map((e) => (e.type === 'send' ? `send ${e.frame.t}` : e.type))

describe('SellerSession with deferred verification', () => {
  it('asks for the recovery, extends no credit until the receipt is verified and stored, then persists it', () => {
    const { seller, chunks } = streamingSeller(10)
    expect(chunks).toEqual([0, 1, 2, 3]) // the initial window
    const effects = seller.receive(receiptFrame(2), NOW)
    expect(kinds(effects)).toEqual(['verify'])
    const verify = effects[0] as Extract<SellerEffect, { type: 'verify' }>
    expect(seller.verifyingReceipts).toBe(1)
    expect(seller.unpaidChunks).toBe(4)

    const persisted = seller.verified(verify.seq, recoverDigestSigner(verify.digest, verify.signature))
    expect(kinds(persisted)).toEqual(['persist'])
    const receipt = (persisted[0] as Extract<SellerEffect, { type: 'persist' }>).receipt
    expect(receipt).toMatchObject({ seq: 2, amount: 2n * PRICE, signer: BUYER })
    expect(seller.unpaidChunks).toBe(4) // still: credit waits for the store
    const more = seller.persisted(receipt, NOW)
    expect(more.filter((e) => e.type === 'send' && e.frame.t === 'chunk').length).toBeGreaterThan(0)
    expect(seller.stats.receiptsAccepted).toBe(1)
  })

  it('ends the session with RECEIPT_BAD_SIGNATURE when the recovery fails, and stores nothing', () => {
    const { seller } = streamingSeller(4)
    const [verify] = seller.receive(receiptFrame(2), NOW) as [Extract<SellerEffect, { type: 'verify' }>]
    const effects = seller.verified(verify.seq, new TrickleError('RECEIPT_BAD_SIGNATURE', 'does not recover'))
    expect(kinds(effects)).toEqual(['send error', 'send close', 'close'])
    expect(effects.at(-1)).toMatchObject({ code: 'RECEIPT_BAD_SIGNATURE' })
    expect(seller.stats.receiptsAccepted).toBe(0)
  })

  it('ends the session with RECEIPT_WRONG_SIGNER for a key the channel does not name', () => {
    const { seller } = streamingSeller(4)
    const [verify] = seller.receive(receiptFrame(2, sellerKey), NOW) as [
      Extract<SellerEffect, { type: 'verify' }>,
    ]
    const effects = seller.verified(verify.seq, recoverDigestSigner(verify.digest, verify.signature))
    expect(effects.at(-1)).toMatchObject({ type: 'close', code: 'RECEIPT_WRONG_SIGNER' })
  })

  it('refuses a malformed signature at once, without asking for a recovery', () => {
    const { seller } = streamingSeller(4)
    const frame = { ...(receiptFrame(2) as Extract<Frame, { t: 'receipt' }>), signature: '0x1234' as Hex }
    const effects = seller.receive(frame, NOW)
    expect(kinds(effects)).toEqual(['send error', 'send close', 'close'])
    expect(effects.at(-1)).toMatchObject({ code: 'RECEIPT_BAD_SIGNATURE' })
  })

  it('still persists a valid receipt whose recovery finishes after the buyer closed', () => {
    const { seller } = streamingSeller(4)
    const [verify] = seller.receive(receiptFrame(4), NOW) as [Extract<SellerEffect, { type: 'verify' }>]
    expect(kinds(seller.receive({ t: 'close', reason: 'done', message: '' }, NOW))).toEqual([
      'send close',
      'close',
    ])
    expect(seller.closed).toBe(true)
    const effects = seller.verified(verify.seq, recoverDigestSigner(verify.digest, verify.signature))
    expect(effects).toEqual([
      { type: 'persist', receipt: expect.objectContaining({ seq: 4, amount: 4n * PRICE }) },
    ])
  })

  it('checks a second receipt against the first before the first is verified', () => {
    const { seller } = streamingSeller(4)
    expect(kinds(seller.receive(receiptFrame(4), NOW))).toEqual(['verify'])
    // The same receipt again is stale even though the first has not been verified yet.
    const effects = seller.receive(receiptFrame(4), NOW)
    expect(effects.at(-1)).toMatchObject({ type: 'close', code: 'RECEIPT_STALE' })
  })
})
