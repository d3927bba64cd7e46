import { existsSync } from 'node:fs'
import { DatabaseSync } from 'node:sqlite'
import type { Hex } from '@trickle/protocol'

/** A stored receipt as the reports need it. */
export interface LedgerReceipt {
  channelId: Hex
  productId: bigint
  /** cumulative wei of the channel this receipt pays */
  amount: bigint
  /** chunks */
  seq: number
}

/** What a seller's receipt store holds, read for reports. */
export interface Ledger {
  /** every receipt, per channel (lowercase id), in the order of their amounts */
  receipts: ReadonlyMap<string, readonly LedgerReceipt[]>
  /** claim transactions still `pending`, per channel (lowercase id) */
  pendingClaims: ReadonlyMap<string, number>
}

/**
 * Reads a seller's SQLite receipt store read-only (`node:sqlite`, WAL: a running seller keeps
 * writing meanwhile). Reports only; the seller itself goes through its `ReceiptStore`.
 *
 * @param path - the `receipts.sqlite` of one chain (see `receiptStorePath`)
 * @returns an empty ledger when the file does not exist (nothing sold on this chain yet)
 */
export function readLedger(path: string): Ledger {
  const receipts = new Map<string, LedgerReceipt[]>()
  const pendingClaims = new Map<string, number>()
  if (!existsSync(path)) return { receipts, pendingClaims }
  const db = new DatabaseSync(path, { readOnly: true })
  try {
    db.exec('PRAGMA busy_timeout = 5000')
    const rows = db
      .prepare(
        'SELECT channel_id, product_id, amount, seq FROM receipts ORDER BY channel_id, length(amount), amount, seq',
      )
      .all() as { channel_id: string; product_id: string; amount: string; seq: number }[]
    for (const row of rows) {
      const id = row.channel_id.toLowerCase()
      const list = receipts.get(id) ?? []
      list.push({
        channelId: row.channel_id as Hex,
        productId: BigInt(row.product_id),
        amount: BigInt(row.amount),
        seq: Number(row.seq),
      })
      receipts.set(id, list)
    }
    const pending = db
      .prepare("SELECT channel_id, count(*) AS n FROM claims WHERE status = 'pending' GROUP BY channel_id")
      .all() as { channel_id: string; n: number }[]
    for (const row of pending) pendingClaims.set(row.channel_id.toLowerCase(), Number(row.n))
  } finally {
    db.close()
  }
  return { receipts, pendingClaims }
}

/** One product's share of a channel's payments, wei. */
export interface ProductShare {
  productId: bigint
  /** wei of this product's chunks covered by the channel's on-chain `claimed` */
  claimed: bigint
  /** wei of this product's chunks receipted but not claimed yet */
  unclaimed: bigint
}

/**
 * Splits a channel's receipted amount between its products. Receipts are cumulative over the whole
 * channel (one channel pays for any product of its seller), so each receipt's increase over the one
 * before it (by amount) is that receipt's product's; the first `claimed` wei count as claimed, the
 * rest as unclaimed. Pure.
 *
 * @param receipts - one channel's receipts (any order)
 * @param claimed - the channel's `claimed` on-chain, wei
 * @returns a share per product, in the order products first appear
 */
export function splitByProduct(receipts: readonly LedgerReceipt[], claimed: bigint): ProductShare[] {
  const sorted = [...receipts].sort((a, b) =>
    a.amount < b.amount ? -1 : a.amount > b.amount ? 1 : a.seq - b.seq,
  )
  const shares = new Map<bigint, ProductShare>()
  let before = 0n
  for (const r of sorted) {
    const share = shares.get(r.productId) ?? { productId: r.productId, claimed: 0n, unclaimed: 0n }
    shares.set(r.productId, share)
    if (r.amount <= before) continue
    const claimedPart = claimed > before ? (claimed < r.amount ? claimed : r.amount) - before : 0n
    share.claimed += claimedPart
    share.unclaimed += r.amount - before - claimedPart
    before = r.amount
  }
  return [...shares.values()]
}
