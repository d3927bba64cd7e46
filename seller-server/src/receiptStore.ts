import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { type AcceptedReceipt, type Hex, TrickleError } from '@trickle/protocol'

/** A receipt as stored: what the buyer signed, plus when it was stored (ms since the epoch). */
export interface StoredReceipt extends AcceptedReceipt {
  storedAt: number
}

/** A claim the seller sent on-chain. */
export interface ClaimRecord {
  channelId: Hex
  /** the receipt's cumulative amount that was claimed, wei */
  cumulativeAmount: bigint
  /** wei paid out by this claim */
  paid: bigint
  txHash: Hex
  claimedAt: number
}

/**
 * Durable storage of accepted receipts and of claims. Kept behind this interface so that several
 * seller instances can later share PostgreSQL; every method may be async.
 */
export interface ReceiptStore {
  /**
   * Stores a receipt durably; resolves only once it would survive a crash.
   * @throws TrickleError `STORE_FAILED`
   */
  save(receipt: AcceptedReceipt): Promise<void>
  /** The highest receipt of a channel, if any. */
  latest(channelId: Hex): Promise<StoredReceipt | undefined>
  /** Records a claim transaction. */
  recordClaim(claim: ClaimRecord): Promise<void>
  /** The most recent claim of a channel, if any. */
  lastClaim(channelId: Hex): Promise<ClaimRecord | undefined>
  close(): Promise<void>
}

/**
 * Opens (creating if needed) a `node:sqlite` receipt store in WAL mode with `synchronous = FULL`, so
 * that a receipt is on disk when {@link ReceiptStore.save} resolves.
 *
 * @param path - database file, e.g. `<dataDir>/receipts.sqlite`
 */
export function openReceiptStore(path: string): ReceiptStore {
  mkdirSync(dirname(path), { recursive: true })
  const db = new DatabaseSync(path)
  db.exec(`
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = FULL;
    CREATE TABLE IF NOT EXISTS receipts (
      channel_id TEXT NOT NULL,
      seq INTEGER NOT NULL,
      amount TEXT NOT NULL,
      ack_hash TEXT NOT NULL,
      signature TEXT NOT NULL,
      signer TEXT NOT NULL,
      product_id TEXT NOT NULL,
      stored_at INTEGER NOT NULL,
      PRIMARY KEY (channel_id, seq)
    ) STRICT;
    CREATE TABLE IF NOT EXISTS claims (
      channel_id TEXT NOT NULL,
      cumulative_amount TEXT NOT NULL,
      paid TEXT NOT NULL,
      tx_hash TEXT NOT NULL PRIMARY KEY,
      claimed_at INTEGER NOT NULL
    ) STRICT;
  `)
  const insert = db.prepare(
    `INSERT OR IGNORE INTO receipts (channel_id, seq, amount, ack_hash, signature, signer, product_id, stored_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  )
  const selectLatest = db.prepare('SELECT * FROM receipts WHERE channel_id = ? ORDER BY seq DESC LIMIT 1')
  const insertClaim = db.prepare(
    'INSERT OR IGNORE INTO claims (channel_id, cumulative_amount, paid, tx_hash, claimed_at) VALUES (?, ?, ?, ?, ?)',
  )
  const selectClaim = db.prepare(
    'SELECT * FROM claims WHERE channel_id = ? ORDER BY claimed_at DESC, rowid DESC LIMIT 1',
  )
  return {
    async save(r) {
      try {
        insert.run(
          r.channelId.toLowerCase(),
          r.seq,
          r.amount.toString(),
          r.ackHash,
          r.signature,
          r.signer,
          r.productId.toString(),
          Date.now(),
        )
      } catch (cause) {
        throw new TrickleError('STORE_FAILED', 'could not store the receipt', { cause })
      }
    },
    async latest(channelId) {
      const row = selectLatest.get(channelId.toLowerCase()) as Record<string, string | number> | undefined
      if (!row) return undefined
      return {
        channelId: row.channel_id as Hex,
        seq: Number(row.seq),
        amount: BigInt(row.amount as string),
        ackHash: row.ack_hash as Hex,
        signature: row.signature as Hex,
        signer: row.signer as Hex,
        productId: BigInt(row.product_id as string),
        storedAt: Number(row.stored_at),
      }
    },
    async recordClaim(c) {
      insertClaim.run(
        c.channelId.toLowerCase(),
        c.cumulativeAmount.toString(),
        c.paid.toString(),
        c.txHash,
        c.claimedAt,
      )
    },
    async lastClaim(channelId) {
      const row = selectClaim.get(channelId.toLowerCase()) as Record<string, string | number> | undefined
      if (!row) return undefined
      return {
        channelId: row.channel_id as Hex,
        cumulativeAmount: BigInt(row.cumulative_amount as string),
        paid: BigInt(row.paid as string),
        txHash: row.tx_hash as Hex,
        claimedAt: Number(row.claimed_at),
      }
    },
    async close() {
      db.close()
    },
  }
}
