import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { Worker } from 'node:worker_threads'
import { type AcceptedReceipt, type ChannelDebt, type Hex, hasCode, TrickleError } from '@trickle/protocol'
import type { ReceiptRow, WriterInit, WriterReply, WriterRequest } from './receiptWriterWorker.ts'

/** A receipt as stored: what the buyer signed, plus when it was stored (ms since the epoch). */
export interface StoredReceipt extends AcceptedReceipt {
  storedAt: number
}

/**
 * Where a claim transaction stands. `pending`: signed and recorded, maybe broadcast, not yet mined;
 * `mined`: included and succeeded; `reverted`: included and failed; `dropped`: its nonce was used by
 * another transaction, so it can never be mined.
 */
export type ClaimStatus = 'pending' | 'mined' | 'reverted' | 'dropped'

/** A claim transaction of the seller, recorded before it is broadcast. */
export interface ClaimRecord {
  channelId: Hex
  /** the receipt's cumulative amount that is claimed, wei */
  cumulativeAmount: bigint
  /** the receipt's seq, chunks */
  seq: number
  txHash: Hex
  /** the sender's account nonce the transaction uses */
  nonce: number
  /** the signed transaction (RLP, 0x hex), rebroadcast unchanged until it is mined or dropped */
  rawTx: Hex
  status: ClaimStatus
  /** wei the claim paid out (from its `Claimed` event); 0 until mined */
  paid: bigint
  /** ms since the epoch */
  sentAt: number
  /** ms since the epoch when the status left `pending` */
  settledAt?: number
  /** block the transaction was mined in */
  blockNumber?: number
}

/**
 * A product this seller published on a DataRegistry, or is registering: what lets a restart find it
 * instead of registering it again.
 */
export interface ProductRecord {
  /** the DataRegistry address, lowercase */
  registry: string
  /** the product's key on this server, e.g. `co` */
  key: string
  /** the on-chain id; absent while its registration is not known to be mined */
  productId?: bigint
  /** the descriptor CID as last registered or updated (CIDv1 text) */
  cid: string
  /** `createdAt` of the descriptor as last published */
  createdAt?: string
  /** hash of the registration transaction (absent for products imported from `products.json`) */
  txHash?: Hex
  /**
   * the registration transaction, signed and recorded before it is broadcast, until it is known to be
   * mined: a restart follows (and rebroadcasts) this transaction instead of signing another
   */
  rawTx?: Hex
}

/**
 * Durable storage of accepted receipts and of the claim ledger. Kept behind this interface so that
 * several seller instances can later share PostgreSQL; every method may be async. A store wraps its
 * database's errors: a method that fails rejects with TrickleError `STORE_FAILED`, the database's
 * error as its `cause`.
 */
export interface ReceiptStore {
  /**
   * Stores a receipt durably; resolves only once it would survive a crash.
   * @throws TrickleError `STORE_FAILED`
   */
  save(receipt: AcceptedReceipt): Promise<void>
  /**
   * The receipt of a channel with the highest cumulative amount (the one a claim uses and a session
   * resumes from), if any. With concurrent sessions it need not have the highest `seq`.
   * @throws TrickleError `STORE_FAILED`
   */
  latest(channelId: Hex): Promise<StoredReceipt | undefined>
  /**
   * The highest `seq` stored for a channel (0 when none): new chunk labels start above it.
   * @throws TrickleError `STORE_FAILED`
   */
  highestSeq(channelId: Hex): Promise<number>
  /**
   * Channels whose latest receipt is worth more than the highest mined claim recorded here: the ones
   * settlement still has to look at. Lowercase ids.
   * @throws TrickleError `STORE_FAILED`
   */
  unsettledChannels(): Promise<Hex[]>
  /**
   * When the oldest receipt of a channel worth more than `claimed` wei was stored (ms since the
   * epoch), or undefined when none is: how long the channel has held unclaimed value.
   * @throws TrickleError `STORE_FAILED`
   */
  unclaimedSince(channelId: Hex, claimed: bigint): Promise<number | undefined>
  /**
   * Records a signed claim transaction (status `pending`) before it is broadcast; a crash after this
   * call rebroadcasts the same transaction instead of signing a second claim.
   * @throws TrickleError `STORE_FAILED`
   */
  recordClaim(claim: ClaimRecord): Promise<void>
  /**
   * Moves a claim out of `pending`.
   * @throws TrickleError `STORE_FAILED`
   */
  settleClaim(
    txHash: Hex,
    outcome: { status: Exclude<ClaimStatus, 'pending'>; paid?: bigint; blockNumber?: number },
  ): Promise<void>
  /**
   * Claims still `pending`, oldest nonce first; of one channel when `channelId` is given.
   * @throws TrickleError `STORE_FAILED`
   */
  pendingClaims(channelId?: Hex): Promise<ClaimRecord[]>
  /**
   * The most recent mined claim of a channel, if any.
   * @throws TrickleError `STORE_FAILED`
   */
  lastClaim(channelId: Hex): Promise<ClaimRecord | undefined>
  /**
   * Every claim of a channel, in the order they were recorded.
   * @throws TrickleError `STORE_FAILED`
   */
  claims(channelId: Hex): Promise<ClaimRecord[]>
  /**
   * Moves every receipt and claim of a channel into the `retired_*` tables, so that a channel id that
   * now names another channel (a fresh chain that reuses the chain id, genesis and contract address)
   * starts clean while the old rows stay on disk for an operator.
   * @param reason - why, kept with the rows
   * @returns how many receipts were moved
   * @throws TrickleError `STORE_FAILED`
   */
  retireChannel(channelId: Hex, reason: string): Promise<number>
  /**
   * Receipts {@link ReceiptStore.retireChannel} moved out of a channel, in seq order.
   * @throws TrickleError `STORE_FAILED`
   */
  retiredReceipts(channelId: Hex): Promise<(StoredReceipt & { retiredAt: number; reason: string })[]>
  /**
   * The debt recorded for a channel when its last session ended (SPEC.md §Channel debt): what every
   * chunk delivered on it comes to.
   * @throws TrickleError `STORE_FAILED`
   */
  channelDebt(channelId: Hex): Promise<ChannelDebt | undefined>
  /**
   * Records (or, with `undefined`, clears) a channel's debt.
   * @throws TrickleError `STORE_FAILED`
   */
  setChannelDebt(channelId: Hex, debt: ChannelDebt | undefined): Promise<void>
  /**
   * A small persistent value, e.g. the block the settlement worker has read events up to.
   * @throws TrickleError `STORE_FAILED`
   */
  getMeta(key: string): Promise<string | undefined>
  /**
   * Records a small persistent value.
   * @throws TrickleError `STORE_FAILED`
   */
  setMeta(key: string, value: string): Promise<void>
  /**
   * The products this seller published (or is registering) on a DataRegistry, by key order.
   * @param registry - the DataRegistry address (any case)
   * @throws TrickleError `STORE_FAILED`
   */
  products(registry: string): Promise<ProductRecord[]>
  /**
   * Records a product (replacing what was recorded for its registry and key); resolves once it is on
   * disk, so a registration is recorded before its transaction is broadcast.
   * @throws TrickleError `STORE_FAILED`
   */
  recordProduct(product: ProductRecord): Promise<void>
  /** Waits for pending writes, then releases the store. */
  close(): Promise<void>
}

/** Schema version kept in `PRAGMA user_version`. */
const SCHEMA_VERSION = 4

const CLAIMS_TABLE = `
  CREATE TABLE claims (
    tx_hash TEXT NOT NULL PRIMARY KEY,
    channel_id TEXT NOT NULL,
    cumulative_amount TEXT NOT NULL,
    seq INTEGER NOT NULL,
    nonce INTEGER NOT NULL,
    raw_tx TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'mined', 'reverted', 'dropped')),
    paid TEXT NOT NULL,
    sent_at INTEGER NOT NULL,
    settled_at INTEGER,
    block_number INTEGER
  ) STRICT;
  CREATE INDEX claims_by_channel ON claims (channel_id, status);
`

/**
 * Brings a database to {@link SCHEMA_VERSION}. Version 1 (issue 2) had a claims table of mined claims
 * only; its rows are kept as `mined` claims without a raw transaction. Version 3 adds the `retired_*`
 * tables (empty on migration), version 4 the `products` table (filled from an old `products.json` by
 * `importProductsFile`).
 */
function migrate(db: DatabaseSync): void {
  const version = Number((db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version)
  if (version >= SCHEMA_VERSION) return
  db.exec('BEGIN IMMEDIATE')
  try {
    db.exec(`
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
      CREATE TABLE IF NOT EXISTS meta (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL) STRICT;
      CREATE TABLE IF NOT EXISTS retired_receipts (
        channel_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        amount TEXT NOT NULL,
        ack_hash TEXT NOT NULL,
        signature TEXT NOT NULL,
        signer TEXT NOT NULL,
        product_id TEXT NOT NULL,
        stored_at INTEGER NOT NULL,
        retired_at INTEGER NOT NULL,
        reason TEXT NOT NULL
      ) STRICT;
      CREATE TABLE IF NOT EXISTS products (
        registry TEXT NOT NULL,
        key TEXT NOT NULL,
        product_id TEXT,
        cid TEXT NOT NULL,
        created_at TEXT,
        tx_hash TEXT,
        raw_tx TEXT,
        recorded_at INTEGER NOT NULL,
        PRIMARY KEY (registry, key)
      ) STRICT;
      CREATE TABLE IF NOT EXISTS retired_claims (
        tx_hash TEXT NOT NULL,
        channel_id TEXT NOT NULL,
        cumulative_amount TEXT NOT NULL,
        seq INTEGER NOT NULL,
        nonce INTEGER NOT NULL,
        raw_tx TEXT NOT NULL,
        status TEXT NOT NULL,
        paid TEXT NOT NULL,
        sent_at INTEGER NOT NULL,
        settled_at INTEGER,
        block_number INTEGER,
        retired_at INTEGER NOT NULL,
        reason TEXT NOT NULL
      ) STRICT;
    `)
    const hasV1Claims = db
      .prepare("SELECT 1 FROM pragma_table_info('claims') WHERE name = 'claimed_at'")
      .get()
    if (hasV1Claims) {
      db.exec(`ALTER TABLE claims RENAME TO claims_v1; ${CLAIMS_TABLE}`)
      db.exec(`
        INSERT INTO claims (tx_hash, channel_id, cumulative_amount, seq, nonce, raw_tx, status, paid, sent_at, settled_at)
        SELECT tx_hash, channel_id, cumulative_amount, 0, -1, '0x', 'mined', paid, claimed_at, claimed_at FROM claims_v1;
        DROP TABLE claims_v1;
      `)
    } else if (!db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'claims'").get()) {
      db.exec(CLAIMS_TABLE)
    }
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}; COMMIT`)
  } catch (err) {
    db.exec('ROLLBACK')
    throw err
  }
}

type Row = Record<string, string | number | null>

function toReceipt(row: Row): StoredReceipt {
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
}

function toClaim(row: Row): ClaimRecord {
  const claim: ClaimRecord = {
    channelId: row.channel_id as Hex,
    cumulativeAmount: BigInt(row.cumulative_amount as string),
    seq: Number(row.seq),
    txHash: row.tx_hash as Hex,
    nonce: Number(row.nonce),
    rawTx: row.raw_tx as Hex,
    status: row.status as ClaimStatus,
    paid: BigInt(row.paid as string),
    sentAt: Number(row.sent_at),
  }
  if (row.settled_at !== null) claim.settledAt = Number(row.settled_at)
  if (row.block_number !== null) claim.blockNumber = Number(row.block_number)
  return claim
}

function toProduct(row: Row): ProductRecord {
  const product: ProductRecord = {
    registry: row.registry as string,
    key: row.key as string,
    cid: row.cid as string,
  }
  if (row.product_id !== null) product.productId = BigInt(row.product_id as string)
  if (row.created_at !== null) product.createdAt = row.created_at as string
  if (row.tx_hash !== null) product.txHash = row.tx_hash as Hex
  if (row.raw_tx !== null) product.rawTx = row.raw_tx as Hex
  return product
}

/** Options of {@link openReceiptStore}. */
export interface ReceiptStoreOptions {
  /**
   * Commit receipts on a writer thread (default `true`; `':memory:'` stores always save inline).
   * `false`: each `save()` is its own transaction and fsync on the calling thread, blocking it ~0.15 ms
   * median and more during WAL checkpoints.
   */
  writerThread?: boolean
  /**
   * Module the writer thread runs (default `receiptWriterWorker.ts` beside this file); it must speak
   * that module's messages. Tests replace it to make the thread die mid-batch.
   */
  writerModule?: URL
}

/** A {@link ReceiptStore} on a local SQLite file, with a counter of its receipt transactions. */
export interface LocalReceiptStore extends ReceiptStore {
  /**
   * Transactions that committed receipts so far (each one fsync of the WAL): fewer than the receipts
   * saved when group commit merged them.
   */
  readonly receiptCommits: number
}

/** Most receipts one writer transaction holds, so a burst cannot build one huge transaction. */
const MAX_BATCH = 512
/** How long a connection waits for the other's write lock before SQLITE_BUSY, milliseconds. */
const BUSY_TIMEOUT_MS = 5_000
/** Settings of both connections: WAL, an fsync per commit, and the lock wait above. */
const CONNECTION_PRAGMAS = `PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS};`
/**
 * One receipt row, its columns in {@link ReceiptRow} order. A receipt already stored at that `seq` is
 * left as it is, unless the new one pays more for the same chunks (a buyer paying the channel's debt
 * re-signs its current point at a higher amount, SPEC.md §Channel debt). Amounts are decimal text
 * without leading zeros: longer is larger, equal lengths compare as text.
 */
const INSERT_RECEIPT = `INSERT INTO receipts (channel_id, seq, amount, ack_hash, signature, signer, product_id, stored_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (channel_id, seq) DO UPDATE SET
       amount = excluded.amount, ack_hash = excluded.ack_hash, signature = excluded.signature,
       signer = excluded.signer, product_id = excluded.product_id, stored_at = excluded.stored_at
     WHERE length(excluded.amount) > length(receipts.amount)
        OR (length(excluded.amount) = length(receipts.amount) AND excluded.amount > receipts.amount)`

/** A save handed to the writer thread, waiting for its transaction. */
interface QueuedSave {
  row: ReceiptRow
  resolve(): void
  reject(err: Error): void
}

const storeFailed = (cause: unknown, details?: string) =>
  new TrickleError('STORE_FAILED', 'could not store the receipt', {
    cause,
    ...(details === undefined ? {} : { details }),
  })

/**
 * Runs SQLite statements: what `node:sqlite` throws becomes TrickleError `STORE_FAILED` ("could not
 * `what`"), with SQLite's error as its `cause`.
 */
export function sqlite<T>(what: string, run: () => T): T {
  try {
    return run()
  } catch (cause) {
    if (hasCode(cause, 'STORE_FAILED')) throw cause
    throw new TrickleError('STORE_FAILED', `could not ${what}`, { cause })
  }
}

/**
 * Opens (creating or migrating if needed) a `node:sqlite` receipt store in WAL mode with
 * `synchronous = FULL`, so that a receipt or a claim is on disk (the WAL fsynced, power loss
 * included) when the call that wrote it resolves.
 *
 * Receipts of a file-backed store are written by a writer thread (`worker_threads`) with a
 * connection of its own, so the seller's event loop does not wait for SQLite's fsync or WAL
 * checkpoints. The writer commits by group commit: while one transaction commits, arriving receipts
 * queue, and the next transaction (`BEGIN IMMEDIATE`, an upsert × n, `COMMIT`) writes all of
 * them (at most 512) with one fsync. Receipts saved in one tick while the writer is idle share a
 * transaction too. `save()` resolves once the transaction holding its receipt committed; SQLite's
 * WAL makes it visible to every later read on the main connection. Reads, claims, meta and
 * retirement stay on the main connection. Both connections wait up to 5,000 ms for the other's write
 * lock (`busy_timeout`), so neither fails with SQLITE_BUSY while the other commits.
 *
 * Should the writer thread die, the saves it was committing reject (they were not acknowledged, so
 * no credit is extended for them), and the store saves inline on the main connection from then on,
 * as `writerThread: false` does; it does not start another thread.
 *
 * `close()` waits until every queued receipt committed (or rejected), then stops the writer thread and
 * closes both connections.
 *
 * @param path - database file, e.g. `<dataDir>/receipts.sqlite`, or `':memory:'` (not shared with a
 *   thread: saves inline)
 * @param options - see {@link ReceiptStoreOptions}
 * @returns the store. Its `save()` rejects with TrickleError `STORE_FAILED` (`cause`: SQLite's error)
 *   when the transaction holding the receipt fails (every receipt of that transaction rejects; later
 *   transactions are unaffected), when the writer thread dies before it committed, and after `close()`.
 * @throws TrickleError `STORE_FAILED`, synchronously, when the file cannot be opened or migrated
 *   (`cause`: SQLite's error)
 */
export function openReceiptStore(path: string, options: ReceiptStoreOptions = {}): LocalReceiptStore {
  // An in-memory or temporary database is private to its connection: no thread can share it.
  const inMemory = path === ':memory:' || path === ''
  const db = sqlite('open the receipt store', () => {
    if (!inMemory) mkdirSync(dirname(path), { recursive: true })
    const opened = new DatabaseSync(path)
    try {
      opened.exec(CONNECTION_PRAGMAS)
      migrate(opened)
    } catch (err) {
      opened.close()
      throw err
    }
    return opened
  })
  const insert = db.prepare(INSERT_RECEIPT)
  // Amounts are decimal strings without leading zeros: longer is larger, equal lengths compare as text.
  const selectLatest = db.prepare(
    'SELECT * FROM receipts WHERE channel_id = ? ORDER BY length(amount) DESC, amount DESC, seq DESC LIMIT 1',
  )
  const selectHighestSeq = db.prepare('SELECT MAX(seq) AS seq FROM receipts WHERE channel_id = ?')
  const selectLatestPerChannel = db.prepare(
    `SELECT channel_id, amount FROM (
       SELECT channel_id, amount,
              ROW_NUMBER() OVER (PARTITION BY channel_id ORDER BY length(amount) DESC, amount DESC) AS n
       FROM receipts)
     WHERE n = 1`,
  )
  const selectUnclaimedSince = db.prepare(
    `SELECT MIN(stored_at) AS stored_at FROM receipts
     WHERE channel_id = ?1 AND (length(amount) > length(?2) OR (length(amount) = length(?2) AND amount > ?2))`,
  )
  const selectMinedAmounts = db.prepare(
    "SELECT channel_id, cumulative_amount FROM claims WHERE status = 'mined'",
  )
  const insertClaim = db.prepare(
    `INSERT INTO claims (tx_hash, channel_id, cumulative_amount, seq, nonce, raw_tx, status, paid, sent_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  )
  const updateClaim = db.prepare(
    `UPDATE claims SET status = ?, paid = ?, settled_at = ?, block_number = ?
     WHERE tx_hash = ? AND status = 'pending'`,
  )
  const selectPending = db.prepare("SELECT * FROM claims WHERE status = 'pending' ORDER BY nonce, sent_at")
  const selectPendingOf = db.prepare(
    "SELECT * FROM claims WHERE status = 'pending' AND channel_id = ? ORDER BY nonce, sent_at",
  )
  const selectLastMined = db.prepare(
    "SELECT * FROM claims WHERE channel_id = ? AND status = 'mined' ORDER BY settled_at DESC, rowid DESC LIMIT 1",
  )
  const selectClaims = db.prepare('SELECT * FROM claims WHERE channel_id = ? ORDER BY rowid')
  const retireReceipts = db.prepare(
    `INSERT INTO retired_receipts
     SELECT channel_id, seq, amount, ack_hash, signature, signer, product_id, stored_at, ?, ? FROM receipts WHERE channel_id = ?`,
  )
  const retireClaims = db.prepare(
    `INSERT INTO retired_claims
     SELECT tx_hash, channel_id, cumulative_amount, seq, nonce, raw_tx, status, paid, sent_at, settled_at, block_number, ?, ?
     FROM claims WHERE channel_id = ?`,
  )
  const selectRetired = db.prepare(
    'SELECT * FROM retired_receipts WHERE channel_id = ? ORDER BY seq, retired_at',
  )
  const deleteReceipts = db.prepare('DELETE FROM receipts WHERE channel_id = ?')
  const deleteClaims = db.prepare('DELETE FROM claims WHERE channel_id = ?')
  const selectMeta = db.prepare('SELECT value FROM meta WHERE key = ?')
  const upsertMeta = db.prepare(
    'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
  )
  const deleteMeta = db.prepare('DELETE FROM meta WHERE key = ?')
  const selectProducts = db.prepare('SELECT * FROM products WHERE registry = ? ORDER BY key')
  const upsertProduct = db.prepare(
    `INSERT INTO products (registry, key, product_id, cid, created_at, tx_hash, raw_tx, recorded_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (registry, key) DO UPDATE SET
       product_id = excluded.product_id, cid = excluded.cid, created_at = excluded.created_at,
       tx_hash = excluded.tx_hash, raw_tx = excluded.raw_tx, recorded_at = excluded.recorded_at`,
  )
  /** channel debts live in `meta` as `debt:<channel id>` → `<owed wei>` */
  const debtKey = (channelId: Hex) => `debt:${channelId.toLowerCase()}`

  let receiptCommits = 0
  let closed = false
  let closing: Promise<void> | undefined

  /** Saves a receipt in its own transaction on the main connection (in-memory stores, no writer). */
  const saveInline = (row: ReceiptRow): void => {
    try {
      insert.run(...row)
      receiptCommits++
    } catch (cause) {
      throw storeFailed(cause)
    }
  }

  // The writer thread and its queue; `writer` is undefined when saving inline.
  let writer: Worker | undefined
  let stopping = false
  let queue: QueuedSave[] = []
  let inFlight: QueuedSave[] | undefined
  let sendScheduled = false
  let drained: (() => void)[] = []

  const settleDrained = () => {
    if (inFlight || queue.length > 0) return
    for (const resolve of drained) resolve()
    drained = []
  }

  /** Posts the next batch (at most MAX_BATCH queued saves) when no transaction is committing. */
  const sendBatch = () => {
    sendScheduled = false
    if (!writer || inFlight || queue.length === 0) return
    inFlight = queue.splice(0, MAX_BATCH)
    // Keep the process alive while a transaction is out, not while the writer is idle.
    writer.ref()
    writer.postMessage({ rows: inFlight.map((save) => save.row) } satisfies WriterRequest)
  }

  /** After the writer dies: the saves it was committing reject, the queued ones are saved inline. */
  const writerDied = (cause: Error) => {
    writer = undefined
    const lost = inFlight ?? []
    inFlight = undefined
    for (const save of lost) {
      save.reject(storeFailed(cause, 'the receipt writer thread stopped before it committed the receipt'))
    }
    const waiting = queue
    queue = []
    for (const save of waiting) {
      try {
        saveInline(save.row)
        save.resolve()
      } catch (err) {
        save.reject(err as Error)
      }
    }
    settleDrained()
  }

  if (!inMemory && options.writerThread !== false) {
    const thread = new Worker(options.writerModule ?? new URL('./receiptWriterWorker.ts', import.meta.url), {
      workerData: { path, pragmas: CONNECTION_PRAGMAS, insertSql: INSERT_RECEIPT } satisfies WriterInit,
    })
    thread.unref()
    let failure: Error | undefined
    thread.on('message', (reply: WriterReply) => {
      const batch = inFlight ?? []
      inFlight = undefined
      if ('error' in reply) {
        const cause = Object.assign(new Error(reply.error.message), reply.error)
        for (const save of batch) save.reject(storeFailed(cause))
      } else {
        receiptCommits++
        for (const save of batch) save.resolve()
      }
      if (queue.length > 0) sendBatch()
      else {
        thread.unref()
        settleDrained()
      }
    })
    thread.on('error', (err) => {
      failure = err
    })
    thread.on('exit', (code) => {
      if (stopping && code === 0) return
      writerDied(failure ?? new Error(`the receipt writer thread exited with code ${code}`))
    })
    writer = thread
  }

  return {
    get receiptCommits() {
      return receiptCommits
    },
    save(r) {
      if (closed) return Promise.reject(storeFailed(undefined, 'the receipt store is closed'))
      const row: ReceiptRow = [
        r.channelId.toLowerCase(),
        r.seq,
        r.amount.toString(),
        r.ackHash,
        r.signature,
        r.signer,
        r.productId.toString(),
        Date.now(),
      ]
      if (!writer) {
        try {
          saveInline(row)
          return Promise.resolve()
        } catch (err) {
          return Promise.reject(err)
        }
      }
      return new Promise<void>((resolve, reject) => {
        queue.push({ row, resolve, reject })
        // Saves made in the same tick join one batch; a batch already committing is followed by the next.
        if (!inFlight && !sendScheduled) {
          sendScheduled = true
          queueMicrotask(sendBatch)
        }
      })
    },
    async latest(channelId) {
      const row = sqlite('read the latest receipt', () => selectLatest.get(channelId.toLowerCase())) as
        | Row
        | undefined
      return row ? toReceipt(row) : undefined
    },
    async highestSeq(channelId) {
      const row = sqlite('read the highest seq', () => selectHighestSeq.get(channelId.toLowerCase())) as
        | { seq: number | null }
        | undefined
      return Number(row?.seq ?? 0)
    },
    async unsettledChannels() {
      const [mined, latest] = sqlite('read the unsettled channels', () => [
        selectMinedAmounts.all() as Row[],
        selectLatestPerChannel.all() as Row[],
      ])
      // Amounts are decimal strings (uint256 does not fit SQLite integers): compare them as bigints.
      const claimed = new Map<string, bigint>()
      for (const row of mined) {
        const amount = BigInt(row.cumulative_amount as string)
        const id = row.channel_id as string
        if (amount > (claimed.get(id) ?? 0n)) claimed.set(id, amount)
      }
      return latest
        .filter((row) => BigInt(row.amount as string) > (claimed.get(row.channel_id as string) ?? 0n))
        .map((row) => row.channel_id as Hex)
    },
    async unclaimedSince(channelId, claimed) {
      const row = sqlite('read when the unclaimed receipts were stored', () =>
        selectUnclaimedSince.get(channelId.toLowerCase(), claimed.toString()),
      ) as Row | undefined
      return row?.stored_at == null ? undefined : Number(row.stored_at)
    },
    async recordClaim(c) {
      sqlite('record the claim', () =>
        insertClaim.run(
          c.txHash,
          c.channelId.toLowerCase(),
          c.cumulativeAmount.toString(),
          c.seq,
          c.nonce,
          c.rawTx,
          c.status,
          c.paid.toString(),
          c.sentAt,
        ),
      )
    },
    async settleClaim(txHash, outcome) {
      sqlite('record the outcome of the claim', () =>
        updateClaim.run(
          outcome.status,
          (outcome.paid ?? 0n).toString(),
          Date.now(),
          outcome.blockNumber ?? null,
          txHash,
        ),
      )
    },
    async pendingClaims(channelId) {
      const rows = sqlite('read the pending claims', () =>
        channelId ? selectPendingOf.all(channelId.toLowerCase()) : selectPending.all(),
      ) as Row[]
      return rows.map(toClaim)
    },
    async lastClaim(channelId) {
      const row = sqlite('read the last claim', () => selectLastMined.get(channelId.toLowerCase())) as
        | Row
        | undefined
      return row ? toClaim(row) : undefined
    },
    async claims(channelId) {
      return (sqlite('read the claims', () => selectClaims.all(channelId.toLowerCase())) as Row[]).map(
        toClaim,
      )
    },
    async retireChannel(channelId, reason) {
      const id = channelId.toLowerCase()
      const now = Date.now()
      return sqlite('retire the channel', () => {
        db.exec('BEGIN IMMEDIATE')
        try {
          const moved = retireReceipts.run(now, reason, id).changes
          retireClaims.run(now, reason, id)
          deleteReceipts.run(id)
          deleteClaims.run(id)
          db.exec('COMMIT')
          return Number(moved)
        } catch (err) {
          db.exec('ROLLBACK')
          throw err
        }
      })
    },
    async retiredReceipts(channelId) {
      const rows = sqlite('read the retired receipts', () =>
        selectRetired.all(channelId.toLowerCase()),
      ) as Row[]
      return rows.map((row) => ({
        ...toReceipt(row),
        retiredAt: Number(row.retired_at),
        reason: row.reason as string,
      }))
    },
    async channelDebt(channelId) {
      const row = sqlite('read the channel debt', () => selectMeta.get(debtKey(channelId))) as Row | undefined
      const match = /^(\d+)$/.exec((row?.value as string | undefined) ?? '')
      return match ? { owed: BigInt(match[1]!) } : undefined
    },
    async setChannelDebt(channelId, debt) {
      sqlite('record the channel debt', () => {
        if (debt) upsertMeta.run(debtKey(channelId), debt.owed.toString())
        else deleteMeta.run(debtKey(channelId))
      })
    },
    async getMeta(key) {
      const row = sqlite('read a meta value', () => selectMeta.get(key)) as Row | undefined
      return row ? (row.value as string) : undefined
    },
    async setMeta(key, value) {
      sqlite('record a meta value', () => upsertMeta.run(key, value))
    },
    async products(registry) {
      const rows = sqlite('read the products', () => selectProducts.all(registry.toLowerCase())) as Row[]
      return rows.map(toProduct)
    },
    async recordProduct(p) {
      sqlite('record the product', () =>
        upsertProduct.run(
          p.registry.toLowerCase(),
          p.key,
          p.productId?.toString() ?? null,
          p.cid,
          p.createdAt ?? null,
          p.txHash ?? null,
          p.rawTx ?? null,
          Date.now(),
        ),
      )
    },
    close() {
      closing ??= (async () => {
        closed = true
        if (writer) {
          await new Promise<void>((resolve) => {
            drained.push(resolve)
            settleDrained()
          })
        }
        const thread = writer
        if (thread) {
          stopping = true
          const exited = new Promise<void>((resolve) => thread.once('exit', () => resolve()))
          thread.ref()
          thread.postMessage({ close: true } satisfies WriterRequest)
          await exited
        }
        db.close()
      })()
      return closing
    },
  }
}
