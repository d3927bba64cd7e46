import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { fileURLToPath } from 'node:url'
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

  it('migrates a version 2 database to version 4 without losing receipts or claims', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'trickle-store-')), 'r.sqlite')
    const v2 = openReceiptStore(path)
    await v2.save(receipt(CHANNEL, 3))
    await v2.recordClaim(claim(CHANNEL, 3, 'ef'))
    await v2.close()
    // What a version 2 file looks like: no retired tables, no products.
    const raw = new DatabaseSync(path)
    raw.exec(
      'DROP TABLE retired_receipts; DROP TABLE retired_claims; DROP TABLE products; PRAGMA user_version = 2',
    )
    raw.close()

    const store = openReceiptStore(path)
    try {
      expect(await store.latest(CHANNEL)).toMatchObject({ seq: 3, amount: 3_000n })
      expect((await store.pendingClaims()).map((c) => c.txHash)).toEqual([`0x${'ef'.repeat(32)}`])
      expect(await store.retireChannel(CHANNEL, 'after migration')).toBe(1)
      expect(await store.retiredReceipts(CHANNEL)).toHaveLength(1)
      const product = { registry: SIGNER, key: 'co', productId: 7n, cid: 'bafyco', createdAt: 'then' }
      await store.recordProduct(product)
      expect(await store.products(SIGNER.toUpperCase())).toEqual([product])
    } finally {
      await store.close()
    }
    const check = new DatabaseSync(path)
    expect(check.prepare('PRAGMA user_version').get()).toEqual({ user_version: 4 })
    check.close()
  })
  it('rejects every read and write with STORE_FAILED, SQLite’s error as the cause, when its tables are gone', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'trickle-store-')), 'r.sqlite')
    const store = openReceiptStore(path)
    try {
      await store.save(receipt(CHANNEL, 3))
      await store.recordClaim(claim(CHANNEL, 3, 'ef'))
      // What an operator's mistake or a damaged file leaves: the store's tables are gone under it.
      const raw = new DatabaseSync(path)
      raw.exec(`DROP TABLE receipts; DROP TABLE claims; DROP TABLE meta; DROP TABLE products;
                DROP TABLE retired_receipts; DROP TABLE retired_claims`)
      raw.close()
      const calls: Record<string, () => Promise<unknown>> = {
        latest: () => store.latest(CHANNEL),
        highestSeq: () => store.highestSeq(CHANNEL),
        unsettledChannels: () => store.unsettledChannels(),
        unclaimedSince: () => store.unclaimedSince(CHANNEL, 0n),
        recordClaim: () => store.recordClaim(claim(CHANNEL, 4, 'aa')),
        settleClaim: () => store.settleClaim(`0x${'ef'.repeat(32)}`, { status: 'dropped' }),
        pendingClaims: () => store.pendingClaims(),
        lastClaim: () => store.lastClaim(CHANNEL),
        claims: () => store.claims(CHANNEL),
        retireChannel: () => store.retireChannel(CHANNEL, 'test'),
        retiredReceipts: () => store.retiredReceipts(CHANNEL),
        channelDebt: () => store.channelDebt(CHANNEL),
        setChannelDebt: () => store.setChannelDebt(CHANNEL, { owed: 1n }),
        getMeta: () => store.getMeta('k'),
        setMeta: () => store.setMeta('k', 'v'),
        products: () => store.products(SIGNER),
        recordProduct: () => store.recordProduct({ registry: SIGNER, key: 'co', cid: 'bafy' }),
      }
      for (const [method, call] of Object.entries(calls)) {
        const err = await call().then(
          () => undefined,
          (e: unknown) => e,
        )
        expect({ method, err }).toMatchObject({
          method,
          err: {
            code: 'STORE_FAILED',
            cause: expect.objectContaining({ message: expect.stringMatching(/no such table/) }),
          },
        })
      }
    } finally {
      await store.close()
    }
  })

  it('refuses to open a file that is not a database with STORE_FAILED, SQLite’s error as the cause', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'trickle-store-')), 'r.sqlite')
    writeFileSync(path, 'not a database, but long enough to be read as one '.repeat(100))
    expect(() => openReceiptStore(path)).toThrow(
      expect.objectContaining({
        code: 'STORE_FAILED',
        cause: expect.objectContaining({ message: expect.stringMatching(/not a database/) }),
      }),
    )
  })
})

const tempStorePath = () => join(mkdtempSync(join(tmpdir(), 'trickle-store-')), 'r.sqlite')
const channel = (i: number) => `0x${String(i).padStart(2, '0').repeat(32)}` as Hex

/** The (channel, seq) pairs on disk, read through a connection of the test's own. */
function storedPairs(path: string): Set<string> {
  const db = new DatabaseSync(path)
  try {
    const rows = db.prepare('SELECT channel_id, seq FROM receipts').all() as {
      channel_id: string
      seq: number
    }[]
    return new Set(rows.map((row) => `${row.channel_id} ${row.seq}`))
  } finally {
    db.close()
  }
}

describe('receipt store writer thread', () => {
  it('stores receipts saved concurrently on several channels in fewer transactions than receipts', async () => {
    const store = openReceiptStore(tempStorePath())
    try {
      const channels = Array.from({ length: 8 }, (_, i) => channel(i + 1))
      // Eight sessions, each saving its next receipt once the previous one resolved, as a seller does;
      // each reads its receipt back on the main connection right after the save resolved.
      await Promise.all(
        channels.map(async (channelId) => {
          for (let seq = 1; seq <= 25; seq++) {
            await store.save(receipt(channelId, seq))
            expect(await store.highestSeq(channelId)).toBe(seq)
          }
        }),
      )
      // A burst issued without awaiting one another.
      await Promise.all(Array.from({ length: 200 }, (_, i) => store.save(receipt(CHANNEL, i + 1))))

      for (const channelId of channels) {
        expect(await store.latest(channelId)).toMatchObject({ seq: 25, amount: 25_000n })
      }
      expect(await store.highestSeq(CHANNEL)).toBe(200)
      expect(await store.latest(CHANNEL)).toMatchObject({ seq: 200, amount: 200_000n, signer: SIGNER })
      expect(store.receiptCommits).toBeGreaterThan(0)
      expect(store.receiptCommits).toBeLessThan(400)
    } finally {
      await store.close()
    }
  })

  it('splits a burst larger than one batch into several transactions', async () => {
    const store = openReceiptStore(tempStorePath())
    try {
      await Promise.all(Array.from({ length: 1_200 }, (_, i) => store.save(receipt(CHANNEL, i + 1))))
      expect(await store.highestSeq(CHANNEL)).toBe(1_200)
      // at most 512 receipts per transaction
      expect(store.receiptCommits).toBeGreaterThanOrEqual(3)
    } finally {
      await store.close()
    }
  })

  it('keeps every receipt whose save resolved when its process is killed with SIGKILL mid-stream', async () => {
    const path = tempStorePath()
    const script = fileURLToPath(new URL('./helpers/receiptSaver.ts', import.meta.url))
    const child = spawn(process.execPath, [script, path], { stdio: ['ignore', 'pipe', 'inherit'] })
    const exited = once(child, 'exit')
    let output = ''
    let lines = 0
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (part: Buffer) => {
        output += part.toString('utf8')
        lines = output.split('\n').length - 1
        if (lines >= 2_000) resolve()
      })
      child.once('exit', (code) => reject(new Error(`the saver exited with ${code} before it was killed`)))
    })
    child.kill('SIGKILL')
    await exited
    const acknowledged = output.split('\n').filter((line) => line.length > 0)
    expect(acknowledged.length).toBeGreaterThanOrEqual(2_000)

    const onDisk = storedPairs(path)
    expect(acknowledged.filter((pair) => !onDisk.has(pair))).toEqual([])
    const store = openReceiptStore(path)
    try {
      const [channelId, seq] = acknowledged.at(-1)!.split(' ') as [Hex, string]
      expect((await store.highestSeq(channelId)) >= Number(seq)).toBe(true)
    } finally {
      await store.close()
    }
    const check = new DatabaseSync(path)
    expect(check.prepare('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' })
    check.close()
  })

  it('rejects every save of a failed transaction with STORE_FAILED, and later saves still commit', async () => {
    const path = tempStorePath()
    const store = openReceiptStore(path)
    try {
      // The database refuses seq 666 (as a full disk or an I/O error would refuse a commit).
      const raw = new DatabaseSync(path)
      raw.exec(`CREATE TRIGGER refuse_666 BEFORE INSERT ON receipts WHEN NEW.seq = 666
                BEGIN SELECT RAISE(ABORT, 'seq 666 refused'); END`)
      raw.close()

      // Saved in one tick, so they share a transaction with the refused receipt.
      const seqs = [...Array.from({ length: 10 }, (_, i) => i + 1), 666, 11, 12]
      const outcomes = await Promise.allSettled(seqs.map((seq) => store.save(receipt(CHANNEL, seq))))
      for (const outcome of outcomes) {
        expect(outcome.status).toBe('rejected')
        const err = (outcome as PromiseRejectedResult).reason
        expect(err).toMatchObject({ code: 'STORE_FAILED' })
        expect(String(err.cause?.message)).toContain('seq 666 refused')
      }
      // None of them is on disk: a rejected save was not acknowledged, a resolved one would be.
      expect(await store.latest(CHANNEL)).toBeUndefined()

      for (let seq = 20; seq <= 24; seq++) await store.save(receipt(CHANNEL, seq))
      expect(await store.latest(CHANNEL)).toMatchObject({ seq: 24, amount: 24_000n })
      expect(storedPairs(path).size).toBe(5)
    } finally {
      await store.close()
    }
  })

  it('close() waits for queued saves to commit, and a save after close rejects with STORE_FAILED', async () => {
    const path = tempStorePath()
    const store = openReceiptStore(path)
    const saves = Array.from({ length: 300 }, (_, i) => store.save(receipt(OTHER, i + 1)))
    await store.close()
    const outcomes = await Promise.allSettled(saves)
    expect(outcomes.filter((o) => o.status !== 'fulfilled')).toEqual([])
    await expect(store.save(receipt(OTHER, 301))).rejects.toMatchObject({ code: 'STORE_FAILED' })
    await store.close() // a second close is harmless

    expect(storedPairs(path).size).toBe(300)
  })

  it('records claims and meta on the main connection during a storm of saves without SQLITE_BUSY', async () => {
    const store = openReceiptStore(tempStorePath())
    let storming = true
    // Eight sessions saving eight receipts at a time until the main connection's writes are done.
    const storm = Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        for (let seq = 1; storming || seq <= 20; seq++) {
          await Promise.all(
            Array.from({ length: 8 }, (_, j) => store.save(receipt(channel(i + 1), seq * 8 + j))),
          )
        }
      }),
    )
    try {
      for (let n = 0; n < 100; n++) {
        await store.recordClaim(claim(CHANNEL, n + 1, (n + 16).toString(16)))
        await store.setMeta('cursor', String(n))
        await new Promise((resolve) => setImmediate(resolve))
      }
    } finally {
      storming = false
      await storm
    }
    try {
      expect(await store.claims(CHANNEL)).toHaveLength(100)
      expect(await store.getMeta('cursor')).toBe('99')
      expect(await store.highestSeq(channel(1))).toBeGreaterThanOrEqual(20 * 8)
    } finally {
      await store.close()
    }
  })

  it('rejects the saves a dying writer thread held with STORE_FAILED, then saves inline', async () => {
    const path = tempStorePath()
    const store = openReceiptStore(path, {
      writerModule: new URL('./helpers/dyingReceiptWriter.ts', import.meta.url),
    })
    try {
      await expect(store.save(receipt(CHANNEL, 1))).rejects.toMatchObject({ code: 'STORE_FAILED' })
      await store.save(receipt(CHANNEL, 2))
      expect(await store.latest(CHANNEL)).toMatchObject({ seq: 2 })
      expect([...storedPairs(path)]).toEqual([`${CHANNEL} 2`])
    } finally {
      await store.close()
    }
  })

  it('saves inline in an in-memory store', async () => {
    const store = openReceiptStore(':memory:')
    try {
      await Promise.all([1, 2, 3].map((seq) => store.save(receipt(CHANNEL, seq))))
      expect(await store.latest(CHANNEL)).toMatchObject({ seq: 3 })
      expect(store.receiptCommits).toBe(3)
    } finally {
      await store.close()
    }
    await expect(store.save(receipt(CHANNEL, 4))).rejects.toMatchObject({ code: 'STORE_FAILED' })
  })
})
