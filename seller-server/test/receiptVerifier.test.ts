import { type Hex, receiptDigest, receiptDomainSeparator, signReceipt } from '@trickle/protocol'
import { SigningKey, Wallet } from 'ethers'
import { describe, expect, it } from 'vitest'
import { startReceiptVerifier } from '../src/receiptVerifier.ts'

const key = new SigningKey(`0x${'00'.repeat(31)}05`)
const separator = receiptDomainSeparator({ chainId: 31337, channels: `0x${'5f'.repeat(20)}` })

function signed(seq: number) {
  const value = {
    channelId: `0x${'ab'.repeat(32)}` as Hex,
    amount: BigInt(seq) * 7n,
    seq,
    ackHash: `0x${'cd'.repeat(32)}` as Hex,
  }
  return { digest: receiptDigest(separator, value), signature: signReceipt(key, separator, value) }
}

describe('receipt verifier (worker threads)', () => {
  it('recovers the signer of many receipts in parallel, each to its own answer', async () => {
    const verifier = startReceiptVerifier({ threads: 2 })
    try {
      const receipts = Array.from({ length: 40 }, (_, i) => signed(i + 1))
      const signers = await Promise.all(receipts.map((r) => verifier.recover(r.digest, r.signature)))
      expect(new Set(signers)).toEqual(new Set([new Wallet(key).address]))
      // A signature over another digest recovers to some other address, never the signer's.
      const swapped = await verifier.recover(receipts[0]!.digest, receipts[1]!.signature)
      expect(swapped).not.toBe(new Wallet(key).address)
    } finally {
      await verifier.close()
    }
  })

  it('answers RECEIPT_BAD_SIGNATURE for a signature with no curve point', async () => {
    const verifier = startReceiptVerifier({ threads: 1 })
    try {
      const { digest } = signed(1)
      // r = 0 is not an x coordinate of the curve: nothing recovers.
      const signature = `0x${'00'.repeat(32)}${'11'.repeat(32)}1b` as Hex
      // The buyer reads the short message; what ethers said is kept in the details for the log.
      await expect(verifier.recover(digest, signature)).rejects.toMatchObject({
        code: 'RECEIPT_BAD_SIGNATURE',
        shortMessage: 'receipt signature does not recover',
        details: expect.any(String),
      })
    } finally {
      await verifier.close()
    }
  })

  it('still recovers, on the calling thread, after its pool has closed', async () => {
    const verifier = startReceiptVerifier({ threads: 1 })
    await verifier.close()
    const { digest, signature } = signed(3)
    expect(await verifier.recover(digest, signature)).toBe(new Wallet(key).address)
  })

  it('refuses a thread count that is not a positive integer', () => {
    expect(() => startReceiptVerifier({ threads: 0 })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    )
  })
})
