import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import type { AcceptedReceipt, Hex } from '@trickle/protocol'
import { describe, expect, it } from 'vitest'
import { openReceiptStore } from '../src/receiptStore.ts'

const CHANNEL = `0x${'ab'.repeat(32)}` as Hex
const OTHER = `0x${'cd'.repeat(32)}` as Hex
const SIGNER = `0x${'11'.repeat(20)}` as Hex

function receipt(channelId: Hex, seq: number): AcceptedReceipt {
  return {
    channelId,
    seq,
    amount: BigInt(seq) * 1_000n,
    ackHash: `0x${seq.toString(16).padStart(64, '0')}` as Hex,
    signature: `0x${'22'.repeat(65)}` as Hex,
    signer: SIGNER,
    productId: 1n,
  }
}

const claim = (channelId: Hex, seq: number, txByte: string) => ({
  channelId,
  cumulativeAmount: BigInt(seq) * 1_000n,
  seq,
  txHash: `0x${txByte.repeat(32)}` as Hex,
  nonce: 0,
  rawTx: '0x02' as Hex,
  status: 'pending' as const,
  paid: 0n,
  sentAt: Date.now(),
})

describe('receipt store', () => {
  it('retires a channel: its receipts and claims leave the live tables and stay readable', async () => {
    const store = openReceiptStore(join(mkdtempSync(join(tmpdir(), 'trickle-store-')), 'r.sqlite'))
    try {
      for (const seq of [4, 8]) await store.save(receipt(CHANNEL, seq))
      await store.save(receipt(OTHER, 2))
      await store.recordClaim(claim(CHANNEL, 8, 'ee'))
      expect(await store.unsettledChannels()).toEqual(expect.arrayContaining([CHANNEL, OTHER]))

      expect(await store.retireChannel(CHANNEL, 'test')).toBe(2)

      expect(await store.latest(CHANNEL)).toBeUndefined()
      expect(await store.claims(CHANNEL)).toEqual([])
      expect(await store.pendingClaims()).toEqual([])
      expect(await store.unsettledChannels()).toEqual([OTHER])
      const retired = await store.retiredReceipts(CHANNEL)
      expect(retired.map((r) => [r.seq, r.amount, r.reason])).toEqual([
        [4, 4_000n, 'test'],
        [8, 8_000n, 'test'],
      ])
      // The channel id is free again: the new channel's receipt 4 is not swallowed by the old one.
      await store.save({ ...receipt(CHANNEL, 4), amount: 5n })
      expect(await store.latest(CHANNEL)).toMatchObject({ seq: 4, amount: 5n })
      expect(await store.latest(OTHER)).toMatchObject({ seq: 2, amount: 2_000n })
    } finally {
      await store.close()
    }
  })

  it('migrates a version 2 database to version 3 without losing receipts or claims', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'trickle-store-')), 'r.sqlite')
    const v2 = openReceiptStore(path)
    await v2.save(receipt(CHANNEL, 3))
    await v2.recordClaim(claim(CHANNEL, 3, 'ef'))
    await v2.close()
    // What a version 2 file looks like: no retired tables.
    const raw = new DatabaseSync(path)
    raw.exec('DROP TABLE retired_receipts; DROP TABLE retired_claims; PRAGMA user_version = 2')
    raw.close()

    const store = openReceiptStore(path)
    try {
      expect(await store.latest(CHANNEL)).toMatchObject({ seq: 3, amount: 3_000n })
      expect((await store.pendingClaims()).map((c) => c.txHash)).toEqual([`0x${'ef'.repeat(32)}`])
      expect(await store.retireChannel(CHANNEL, 'after migration')).toBe(1)
      expect(await store.retiredReceipts(CHANNEL)).toHaveLength(1)
    } finally {
      await store.close()
    }
    const check = new DatabaseSync(path)
    expect(check.prepare('PRAGMA user_version').get()).toEqual({ user_version: 3 })
    check.close()
  })
})
