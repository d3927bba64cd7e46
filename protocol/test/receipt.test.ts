import { createHash } from 'node:crypto'
import { Signature, SigningKey, TypedDataEncoder, toBeHex, Wallet, zeroPadValue } from 'ethers'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  extendAckHash,
  type Hex,
  nextAckHash,
  RECEIPT_TYPES,
  type ReceiptValue,
  receiptDigest,
  receiptDomainSeparator,
  recoverDigestSigner,
  recoverReceiptSigner,
  recoverTermsSigner,
  signReceipt,
  signTerms,
  type Terms,
  TrickleError,
  termsDigest,
  toHex,
  ZERO_HASH,
} from '../src/index.ts'

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

const buyerKey = new SigningKey(`0x${'00'.repeat(31)}01`)
const buyer = new Wallet(buyerKey)
const sellerKey = new SigningKey(`0x${'00'.repeat(31)}03`)

const CHANNELS: Hex = '0x5FbDB2315678afecb367f032d93F642f64180aa3'
const domain = { chainId: 31337, channels: CHANNELS }
const separator = receiptDomainSeparator(domain)

const hexBytes = (length: number): fc.Arbitrary<Hex> =>
  fc.uint8Array({ minLength: length, maxLength: length }).map(toHex)

const receiptArb: fc.Arbitrary<ReceiptValue> = fc.record({
  channelId: hexBytes(32),
  amount: fc.bigInt({ min: 0n, max: 2n ** 256n - 1n }),
  seq: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  ackHash: hexBytes(32),
})

const receipt: ReceiptValue = {
  channelId: `0x${'ab'.repeat(32)}`,
  amount: 123_000_000_000_000n,
  seq: 42,
  ackHash: `0x${'cd'.repeat(32)}`,
}

/** What ethers' generic EIP-712 encoder (the reference) says the digest is. */
function referenceDigest(d: { chainId: number; channels: string }, r: ReceiptValue): string {
  return TypedDataEncoder.hash(
    { name: 'Trickle StreamChannels', version: '1', chainId: d.chainId, verifyingContract: d.channels },
    { Receipt: [...RECEIPT_TYPES.Receipt] },
    { channelId: r.channelId, cumulativeAmount: r.amount, seq: r.seq, ackHash: r.ackHash },
  )
}

function thrownCode(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(TrickleError)
    return (err as TrickleError).code
  }
  throw new Error('expected a throw')
}

describe('receiptDigest', () => {
  it('equals the generic EIP-712 digest of ethers for any receipt and domain', () => {
    const domainArb = fc.record({ chainId: fc.integer({ min: 1, max: 2 ** 48 }), channels: hexBytes(20) })
    fc.assert(
      fc.property(domainArb, receiptArb, (d, r) => {
        expect(receiptDigest(receiptDomainSeparator(d), r)).toBe(referenceDigest(d, r))
      }),
      { numRuns: 300 },
    )
  })

  it('differs on another chain, another contract or another channel', () => {
    const digest = receiptDigest(separator, receipt)
    const otherChain = receiptDigest(receiptDomainSeparator({ ...domain, chainId: 1 }), receipt)
    const otherContract = receiptDigest(
      receiptDomainSeparator({ ...domain, channels: `0x${'99'.repeat(20)}` }),
      receipt,
    )
    const otherChannel = receiptDigest(separator, { ...receipt, channelId: `0x${'ac'.repeat(32)}` })
    expect(new Set([digest, otherChain, otherContract, otherChannel]).size).toBe(4)
  })

  it('differs when amount, seq or ack hash change', () => {
    const digest = receiptDigest(separator, receipt)
    expect(receiptDigest(separator, { ...receipt, amount: receipt.amount + 1n })).not.toBe(digest)
    expect(receiptDigest(separator, { ...receipt, seq: receipt.seq + 1 })).not.toBe(digest)
    expect(receiptDigest(separator, { ...receipt, ackHash: ZERO_HASH })).not.toBe(digest)
  })
})

describe('signReceipt', () => {
  it('produces a signature that recovers to the signing key, for any receipt', () => {
    fc.assert(
      fc.property(receiptArb, (r) => {
        const signature = signReceipt(buyerKey, separator, r)
        expect(recoverReceiptSigner(separator, r, signature)).toBe(buyer.address.toLowerCase())
      }),
      { numRuns: 50 },
    )
  })

  it('matches the signature ethers Wallet.signTypedData gives for the same receipt', async () => {
    const signature = signReceipt(buyerKey, separator, receipt)
    const reference = await buyer.signTypedData(
      { name: 'Trickle StreamChannels', version: '1', chainId: domain.chainId, verifyingContract: CHANNELS },
      { Receipt: [...RECEIPT_TYPES.Receipt] },
      {
        channelId: receipt.channelId,
        cumulativeAmount: receipt.amount,
        seq: receipt.seq,
        ackHash: receipt.ackHash,
      },
    )
    expect(signature).toBe(reference)
  })

  it('gives low-s 65-byte signatures (EIP-2)', () => {
    const signature = signReceipt(buyerKey, separator, receipt)
    expect(signature).toMatch(/^0x[0-9a-f]{130}$/)
    expect(BigInt(Signature.from(signature).s)).toBeLessThanOrEqual(SECP256K1_N / 2n)
  })
})

describe('recoverReceiptSigner', () => {
  it('recovers another address when the receipt is checked under another channel, chain or contract', () => {
    const signature = signReceipt(buyerKey, separator, receipt)
    const otherChannel = { ...receipt, channelId: `0x${'ac'.repeat(32)}` as Hex }
    const otherChain = receiptDomainSeparator({ ...domain, chainId: 10 })
    const otherContract = receiptDomainSeparator({ ...domain, channels: `0x${'99'.repeat(20)}` })
    expect(recoverReceiptSigner(separator, otherChannel, signature)).not.toBe(buyer.address.toLowerCase())
    expect(recoverReceiptSigner(otherChain, receipt, signature)).not.toBe(buyer.address.toLowerCase())
    expect(recoverReceiptSigner(otherContract, receipt, signature)).not.toBe(buyer.address.toLowerCase())
  })

  it('rejects v = 0 or 1, which ethers would recover but the contract never pays, with RECEIPT_BAD_SIGNATURE', () => {
    const good = signReceipt(buyerKey, separator, receipt)
    expect(recoverReceiptSigner(separator, receipt, good)).toBe(buyer.address.toLowerCase())
    const v = Number.parseInt(good.slice(130), 16) - 27
    const raw = `${good.slice(0, 130)}${v.toString(16).padStart(2, '0')}` as Hex
    expect(thrownCode(() => recoverReceiptSigner(separator, receipt, raw))).toBe('RECEIPT_BAD_SIGNATURE')
  })

  it('rejects the malleable high-s twin of a valid signature with RECEIPT_BAD_SIGNATURE', () => {
    const sig = Signature.from(signReceipt(buyerKey, separator, receipt))
    const highS = zeroPadValue(toBeHex(SECP256K1_N - BigInt(sig.s)), 32)
    const flippedV = sig.v === 27 ? '1c' : '1b'
    const twin = `${sig.r}${highS.slice(2)}${flippedV}` as Hex
    expect(twin).toHaveLength(132)
    expect(thrownCode(() => recoverReceiptSigner(separator, receipt, twin))).toBe('RECEIPT_BAD_SIGNATURE')
  })

  it('recoverDigestSigner (the deferred path) refuses non-hex, truncated and v = 29 signatures with RECEIPT_BAD_SIGNATURE', () => {
    const signature = signReceipt(buyerKey, separator, receipt)
    const digest = receiptDigest(separator, receipt)
    expect(recoverDigestSigner(digest, signature)).toBe(buyer.address.toLowerCase())
    const v29 = `${signature.slice(0, 130)}1d` as Hex
    for (const bad of [`0x${'zz'.repeat(65)}` as Hex, signature.slice(0, 130) as Hex, v29]) {
      expect(thrownCode(() => recoverDigestSigner(digest, bad))).toBe('RECEIPT_BAD_SIGNATURE')
    }
  })

  it('rejects an empty, truncated or all-zero signature with RECEIPT_BAD_SIGNATURE', () => {
    const signature = signReceipt(buyerKey, separator, receipt)
    for (const bad of ['0x' as Hex, signature.slice(0, 100) as Hex, `0x${'00'.repeat(65)}` as Hex]) {
      expect(thrownCode(() => recoverReceiptSigner(separator, receipt, bad))).toBe('RECEIPT_BAD_SIGNATURE')
    }
  })

  it('rejects a 64-byte compact (EIP-2098) signature with RECEIPT_BAD_SIGNATURE, as the contract does', () => {
    // StreamChannels verifies with OpenZeppelin 5 ECDSA, which accepts only 65-byte signatures: a
    // receipt the seller accepts in compact form could never be claimed.
    const compact = Signature.from(signReceipt(buyerKey, separator, receipt)).compactSerialized as Hex
    expect(compact).toHaveLength(130)
    expect(thrownCode(() => recoverReceiptSigner(separator, receipt, compact))).toBe('RECEIPT_BAD_SIGNATURE')
  })
})

describe('nextAckHash', () => {
  const a = Uint8Array.of(1, 2, 3)
  const b = Uint8Array.of(4, 5, 6)

  it('depends on the order of the chunks', () => {
    const ab = nextAckHash(nextAckHash(ZERO_HASH, a), b)
    const ba = nextAckHash(nextAckHash(ZERO_HASH, b), a)
    expect(ab).not.toBe(ba)
  })

  it('differs for different chunk contents and for a missing chunk', () => {
    const ab = nextAckHash(nextAckHash(ZERO_HASH, a), b)
    expect(nextAckHash(nextAckHash(ZERO_HASH, a), Uint8Array.of(4, 5, 7))).not.toBe(ab)
    expect(nextAckHash(ZERO_HASH, b)).not.toBe(ab)
    expect(nextAckHash(ZERO_HASH, a)).toMatch(/^0x[0-9a-f]{64}$/)
  })

  it('is SHA-256(prev ‖ data) for any chunk size', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ minLength: 4000, maxLength: 20_000 })),
        (prev, data) => {
          const expected = `0x${createHash('sha256').update(prev).update(data).digest('hex')}`
          expect(toHex(extendAckHash(prev, data))).toBe(expected)
          expect(nextAckHash(toHex(prev), data)).toBe(expected)
        },
      ),
      { numRuns: 60 },
    )
  })

  it('refuses a previous hash that is not 32 bytes', () => {
    expect(() => nextAckHash('0x00', a)).toThrow(TypeError)
  })

  it('is deterministic over a sequence of chunks', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), (chunks) => {
        const fold = () => chunks.reduce<Hex>((h, c) => nextAckHash(h, c), ZERO_HASH)
        expect(fold()).toBe(fold())
      }),
      { numRuns: 50 },
    )
  })
})

const terms: Terms = {
  v: 1,
  productId: 7n,
  channelId: `0x${'ab'.repeat(32)}`,
  payee: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  pricePerChunk: 1_000_000_000_000n,
  maxChunkBytes: 4096,
  window: { initial: 4, step: 2, max: 16 },
  receiptEvery: 2,
  paymentTimeoutMs: 5000,
  heartbeatMs: 10_000,
  idleTimeoutMs: 30_000,
  maxQueuedChunks: 1024,
  overflow: 'drop_oldest',
  chainId: 31337,
  channels: CHANNELS,
  expiresAt: 1_700_000_000_000,
  base: { seq: 3, amount: 3_000_000_000_000n, ackHash: `0x${'cd'.repeat(32)}`, signature: '0x' },
}

describe('signTerms', () => {
  it('produces a signature that recovers to the seller key', () => {
    const signature = signTerms(sellerKey, terms)
    expect(recoverTermsSigner(terms, signature)).toBe(new Wallet(sellerKey).address)
  })

  it('recovers another address once any signed field changed', () => {
    const signature = signTerms(sellerKey, terms)
    const changed: Terms = { ...terms, pricePerChunk: terms.pricePerChunk - 1n }
    expect(recoverTermsSigner(changed, signature)).not.toBe(new Wallet(sellerKey).address)
  })
})

describe('termsDigest', () => {
  // base.signature is deliberately not in the digest: it is the buyer's own receipt signature,
  // which the buyer checks itself (see BuyerSession), so it authenticates itself.
  const variants: [string, Terms][] = [
    ['v', { ...terms, v: 2 }],
    ['productId', { ...terms, productId: 8n }],
    ['channelId', { ...terms, channelId: `0x${'ac'.repeat(32)}` }],
    ['payee', { ...terms, payee: '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC' }],
    ['pricePerChunk', { ...terms, pricePerChunk: terms.pricePerChunk + 1n }],
    ['maxChunkBytes', { ...terms, maxChunkBytes: 4097 }],
    ['window.initial', { ...terms, window: { ...terms.window, initial: 5 } }],
    ['window.step', { ...terms, window: { ...terms.window, step: 3 } }],
    ['window.max', { ...terms, window: { ...terms.window, max: 17 } }],
    ['receiptEvery', { ...terms, receiptEvery: 3 }],
    ['paymentTimeoutMs', { ...terms, paymentTimeoutMs: 5001 }],
    ['chainId', { ...terms, chainId: 1 }],
    ['channels', { ...terms, channels: `0x${'99'.repeat(20)}` }],
    ['expiresAt', { ...terms, expiresAt: terms.expiresAt + 1 }],
    ['base.seq', { ...terms, base: { ...terms.base, seq: 4 } }],
    ['base.amount', { ...terms, base: { ...terms.base, amount: terms.base.amount + 1n } }],
    ['base.ackHash', { ...terms, base: { ...terms.base, ackHash: ZERO_HASH } }],
  ]

  it.each(variants)('changes when %s changes', (_field, changed) => {
    expect(termsDigest(changed)).not.toBe(termsDigest(terms))
  })

  it('is the same for equal terms', () => {
    expect(termsDigest(structuredClone(terms))).toBe(termsDigest(terms))
  })
})
