/**
 * Worker-thread body of {@link openReceiptStore}'s receipt writer: its own `node:sqlite` connection
 * to the store's file (WAL, `synchronous = FULL`), committing each batch of receipts the main thread
 * posts in one transaction, so a batch costs one fsync of the WAL (group commit). Imports node:sqlite
 * and node:worker_threads only, so that it starts in a few tens of ms and Node's type stripping can
 * load it.
 *
 * Messages: a {@link WriterRequest} in, one {@link WriterReply} out per `rows` request, in order.
 * A `close` request closes the connection and lets the thread exit (code 0).
 */
import { DatabaseSync } from 'node:sqlite'
import { parentPort, workerData } from 'node:worker_threads'

/** What the thread is started with (`workerData`), from the store that owns the file. */
export interface WriterInit {
  /** the database file, already created and migrated by the main connection */
  path: string
  /** the connection settings the main connection uses (WAL, `synchronous = FULL`, `busy_timeout`) */
  pragmas: string
  /** the statement that stores one {@link ReceiptRow} */
  insertSql: string
}

/**
 * One `receipts` row, in column order: channel id (lowercase), seq (chunks), amount (wei, decimal),
 * ack hash, signature, signer, product id (decimal), stored at (ms since the epoch).
 */
export type ReceiptRow = [string, number, string, string, string, string, string, number]

/** `rows`: commit these in one transaction; `close`: close the connection and exit. */
export type WriterRequest = { rows: ReceiptRow[] } | { close: true }

/** The outcome of one `rows` request: all of them committed, or none of them (the transaction rolled back). */
export type WriterReply = { committed: number } | { error: WriterError }

/** An error as it crosses the thread boundary (`node:sqlite` errors carry `errcode` and `errstr`). */
export interface WriterError {
  message: string
  code?: string
  errcode?: number
  errstr?: string
}

const port = parentPort!
const { path, pragmas, insertSql } = workerData as WriterInit
const db = new DatabaseSync(path)
db.exec(pragmas)
const insert = db.prepare(insertSql)

function describe(err: unknown): WriterError {
  const e = err as { message?: unknown; code?: unknown; errcode?: unknown; errstr?: unknown }
  const out: WriterError = { message: String(e?.message ?? err) }
  if (typeof e?.code === 'string') out.code = e.code
  if (typeof e?.errcode === 'number') out.errcode = e.errcode
  if (typeof e?.errstr === 'string') out.errstr = e.errstr
  return out
}

port.on('message', (request: WriterRequest) => {
  if ('close' in request) {
    db.close()
    port.close()
    return
  }
  let reply: WriterReply
  try {
    // IMMEDIATE takes the write lock up front (waiting up to busy_timeout for the main connection).
    db.exec('BEGIN IMMEDIATE')
    try {
      for (const row of request.rows) insert.run(...row)
      db.exec('COMMIT')
    } catch (err) {
      if (db.isTransaction) db.exec('ROLLBACK')
      throw err
    }
    reply = { committed: request.rows.length }
  } catch (err) {
    reply = { error: describe(err) }
  }
  port.postMessage(reply)
})
