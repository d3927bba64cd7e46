import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { sqlite } from './receiptStore.ts'

/** One MQTT message as a product's feed recorded it. */
export interface Reading {
  /** the product's feed position: 0, 1, 2, … per product, continued across restarts */
  position: number
  /** ms since the epoch when the seller recorded it */
  receivedAt: number
  topic: string
  payload: Uint8Array
  /** the MQTT packet id it arrived with (QoS 1), or undefined (QoS 0) */
  packetId: number | undefined
}

/**
 * A run of a product's recorded readings: feed positions `first` … `last` (consecutive, as recorded),
 * `count` of them, the first recorded at `from` and the last at `to` (ms since the epoch).
 */
export interface ReadingSpan {
  first: number
  last: number
  count: number
  from: number
  to: number
}

/**
 * Which readings of a product a history range selects (SPEC.md §History): those recorded between
 * `from` and `to` (ms since the epoch, both inclusive, either open), or the latest `last`.
 */
export type SpanQuery =
  | { from?: number | undefined; to?: number | undefined; last?: undefined }
  | { last: number }
  /** feed positions, inclusive (clipped to what is held) */
  | { start?: number | undefined; end?: number | undefined; byPosition: true; last?: undefined }

/** An MQTT message to record, before it has positions. */
export interface IncomingMessage {
  topic: string
  payload: Uint8Array
  /** the MQTT packet id (QoS 1), or undefined (QoS 0) */
  packetId: number | undefined
  /** the PUBLISH's DUP flag: the broker sends it again (MQTT 3.1.1 §3.3.1.1, MQTT 5 §3.3.1.1) */
  dup: boolean
}

/**
 * How much of each product's feed a store keeps: the latest readings within both bounds. A product is
 * pruned (oldest first) once it exceeds one by a batch: 1,024 readings, or 1/16 of the bytes.
 */
export interface ReadingRetention {
  /** readings kept per product; default 100,000 */
  maxReadings: number
  /** payload bytes kept per product; default 64 MiB */
  maxBytes: number
}

/** Default {@link ReadingRetention}: 100,000 readings or 64 MiB per product, whichever is reached first. */
export const DEFAULT_READING_RETENTION: ReadingRetention = {
  maxReadings: 100_000,
  maxBytes: 64 * 1024 * 1024,
}

/**
 * How many of a product's latest readings a redelivered (DUP) message is compared with. The broker
 * redelivers only the messages the seller had not acknowledged, at most its in-flight window
 * (mosquitto's `max_inflight_messages`, 20 by default; MQTT 5 `Receive Maximum`), and those are the
 * product's latest readings. The window must stay far below 65,535: packet ids cycle, so an older
 * reading with the same topic, packet id and payload (a sensor repeating a value) is a new reading.
 */
export const DUPLICATE_WINDOW = 1024

/** Readings a product may hold beyond its retention before it is pruned back to it. */
const PRUNE_BATCH = 1024

/**
 * Where a channel's paid chunk of a product sits in the product's feed: the receipt of `amount` paid
 * up to the reading at `position`. Kept durably so that a restarted seller replays exactly the
 * readings after its last stored receipt.
 */
export interface ResumePoint {
  /** the receipt's cumulative amount, wei */
  amount: bigint
  /** feed position of the chunk that receipt paid last */
  position: number
}

/** How many resume points a {@link ReadingStore} keeps per channel and product, the latest. */
export const RESUME_POINTS_PER_KEY = 16

/**
 * Resume points by `<lowercase channel id>:<product key>`. A session notes the point of each receipt
 * before the receipt store makes the receipt durable, so a seller killed in between still has the
 * point of whichever receipt is its last durable one; a resumed session looks up the point of its
 * base's amount.
 */
export interface ResumePoints {
  /**
   * The point of `key` with the highest amount at most `atMost` wei: the base's own point, or, when
   * receipts for other products of the channel raised the base since, this product's latest.
   */
  get(key: string, atMost: bigint): ResumePoint | undefined
  /** Records a point (on disk when it returns; one per amount, the latest {@link RESUME_POINTS_PER_KEY}). */
  set(key: string, point: ResumePoint): void
}

/**
 * Durable record of every product's feed: what the MQTT source received, with its positions, and the
 * resume points of the channels. Methods are synchronous: the MQTT source records a message before it
 * acknowledges it, and replays from here without a gap to the live messages.
 */
export interface ReadingStore {
  /**
   * Records one message for each of its products, in one transaction, unless it is a redelivery of
   * one already recorded (see {@link DUPLICATE_WINDOW} and `seller-server/README.md` §Readings):
   * `message.dup` is set and the product's latest readings hold one with the same topic, packet id
   * and payload bytes.
   * @param products - the product keys the message's topic is routed to
   * @returns the new readings' positions, by product (empty when it was a redelivery)
   * @throws TrickleError `STORE_FAILED`
   */
  record(products: readonly string[], message: IncomingMessage, now: number): Map<string, number>
  /**
   * A product's readings after a position, in order, at most `limit` of them: the latest ones when
   * more are held (the reading right after `after` may have been pruned too).
   * @throws TrickleError `STORE_FAILED`
   */
  readAfter(product: string, after: number, limit: number): Reading[]
  /**
   * A product's readings after a position, in order, at most `limit` of them, none after `through`:
   * the next page of a feed.
   * @param through - the last position to read, inclusive
   * @throws TrickleError `STORE_FAILED`
   */
  readPage(product: string, after: number, through: number, limit: number): Reading[]
  /**
   * The held readings a history range selects: the positions from the first reading recorded at or
   * after `query.from` to the last recorded at or before `query.to` (or the latest `query.last`),
   * and after position `after` when given (a resumed range).
   * @returns the span, or undefined when it holds no reading
   * @throws TrickleError `STORE_FAILED`
   */
  select(product: string, query: SpanQuery, after?: number): ReadingSpan | undefined
  /**
   * Where a replay of the readings after `after` starts when it may hold at most `maxReadings`
   * readings and `maxBytes` of payload (at least one reading): `after`, or a later position so that
   * the latest readings fit.
   * @throws TrickleError `STORE_FAILED`
   */
  replayStart(product: string, after: number, maxReadings: number, maxBytes: number): number
  /** The position the product's next reading gets (0 when none was ever recorded). */
  nextPosition(product: string): number
  /**
   * The topic filters an MQTT session (by client id) was last subscribed to, as recorded by
   * {@link ReadingStore.recordSessionFilters}.
   * @throws TrickleError `STORE_FAILED`
   */
  sessionFilters(clientId: string): string[] | undefined
  /**
   * Records the topic filters an MQTT session is subscribed to.
   * @throws TrickleError `STORE_FAILED`
   */
  recordSessionFilters(clientId: string, filters: readonly string[]): void
  /** Durable resume points; a `set` is on disk when it returns. */
  readonly resumePoints: ResumePoints
  close(): void
}

/** Options of {@link openReadingStore}. */
export interface ReadingStoreOptions {
  retention?: Partial<ReadingRetention>
}

/**
 * Opens (creating if needed) a `node:sqlite` reading store in WAL mode with `synchronous = NORMAL`.
 * In WAL mode a commit is written to the WAL file before it returns and only the fsync is left to
 * checkpoints: a process crash (SIGKILL, OOM) loses nothing committed, because the written pages are
 * in the operating system's cache; only an operating-system crash or power loss may lose the latest
 * commits (https://www.sqlite.org/pragma.html#pragma_synchronous). Readings are acknowledged to the
 * broker after they are recorded, so that is the crash this store must survive; it saves an fsync per
 * message. Each product is pruned to its {@link ReadingRetention} in batches.
 *
 * @param path - database file, e.g. `<dataDir>/<chain scope>/readings.sqlite`, or `':memory:'`
 * @throws TrickleError `STORE_FAILED` when the file cannot be opened
 */
export function openReadingStore(path: string, options: ReadingStoreOptions = {}): ReadingStore {
  const retention = { ...DEFAULT_READING_RETENTION, ...options.retention }
  const inMemory = path === ':memory:' || path === ''
  const db = sqlite('open the reading store', () => {
    if (!inMemory) mkdirSync(dirname(path), { recursive: true })
    const opened = new DatabaseSync(path)
    try {
      opened.exec(`
        PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;
        CREATE TABLE IF NOT EXISTS readings (
          product TEXT NOT NULL,
          position INTEGER NOT NULL,
          received_at INTEGER NOT NULL,
          topic TEXT NOT NULL,
          payload BLOB NOT NULL,
          packet_id INTEGER,
          PRIMARY KEY (product, position)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS readings_by_time ON readings (product, received_at);
        CREATE TABLE IF NOT EXISTS sessions (
          client_id TEXT NOT NULL PRIMARY KEY,
          filters TEXT NOT NULL
        ) STRICT;
        CREATE TABLE IF NOT EXISTS resume_points (
          key TEXT NOT NULL,
          amount TEXT NOT NULL,
          position INTEGER NOT NULL,
          PRIMARY KEY (key, amount)
        ) STRICT;
      `)
    } catch (err) {
      opened.close()
      throw err
    }
    return opened
  })
  const insert = db.prepare(
    'INSERT INTO readings (product, position, received_at, topic, payload, packet_id) VALUES (?, ?, ?, ?, ?, ?)',
  )
  const selectAfter = db.prepare(
    `SELECT * FROM (SELECT * FROM readings WHERE product = ? AND position > ? ORDER BY position DESC LIMIT ?)
     ORDER BY position`,
  )
  const selectPage = db.prepare(
    'SELECT * FROM readings WHERE product = ? AND position > ? AND position <= ? ORDER BY position LIMIT ?',
  )
  const selectFirstFrom = db.prepare(
    'SELECT MIN(position) AS p FROM readings WHERE product = ? AND received_at >= ?',
  )
  const selectLastTo = db.prepare(
    'SELECT MAX(position) AS p FROM readings WHERE product = ? AND received_at <= ?',
  )
  const selectNthLatest = db.prepare(
    'SELECT position AS p FROM readings WHERE product = ? ORDER BY position DESC LIMIT 1 OFFSET ?',
  )
  const selectBounds = db.prepare(
    'SELECT MIN(position) AS first, MAX(position) AS last FROM readings WHERE product = ?',
  )
  const selectSpan = db.prepare(
    `SELECT COUNT(*) AS n,
       (SELECT received_at FROM readings WHERE product = ?1 AND position = ?2) AS from_ms,
       (SELECT received_at FROM readings WHERE product = ?1 AND position = ?3) AS to_ms
     FROM readings WHERE product = ?1 AND position >= ?2 AND position <= ?3`,
  )
  const selectLatestSizes = db.prepare(
    'SELECT position, length(payload) AS bytes FROM readings WHERE product = ? AND position > ? ORDER BY position DESC LIMIT ?',
  )
  const selectDuplicate = db.prepare(
    `SELECT 1 FROM (SELECT topic, payload, packet_id FROM readings WHERE product = ?
                    ORDER BY position DESC LIMIT ${DUPLICATE_WINDOW})
     WHERE packet_id = ? AND topic = ? AND payload = ? LIMIT 1`,
  )
  const selectTotals = db.prepare(
    'SELECT product, MAX(position) AS last, COUNT(*) AS n, SUM(length(payload)) AS bytes FROM readings GROUP BY product',
  )
  const selectOldest = db.prepare(
    'SELECT position, length(payload) AS bytes FROM readings WHERE product = ? ORDER BY position',
  )
  const deleteThrough = db.prepare('DELETE FROM readings WHERE product = ? AND position <= ?')
  const selectSession = db.prepare('SELECT filters FROM sessions WHERE client_id = ?')
  const upsertSession = db.prepare(
    `INSERT INTO sessions (client_id, filters) VALUES (?, ?)
     ON CONFLICT (client_id) DO UPDATE SET filters = excluded.filters`,
  )
  const selectPoints = db.prepare('SELECT amount, position FROM resume_points WHERE key = ? ORDER BY rowid')
  const upsertPoint = db.prepare(
    `INSERT INTO resume_points (key, amount, position) VALUES (?, ?, ?)
     ON CONFLICT (key, amount) DO UPDATE SET position = excluded.position`,
  )
  const prunePoints = db.prepare(
    `DELETE FROM resume_points WHERE key = ?1 AND rowid NOT IN
       (SELECT rowid FROM resume_points WHERE key = ?1 ORDER BY rowid DESC LIMIT ${RESUME_POINTS_PER_KEY})`,
  )

  /** per product: the next position, and the readings and payload bytes held */
  const totals = new Map<string, { next: number; count: number; bytes: number }>()
  for (const row of selectTotals.all() as { product: string; last: number; n: number; bytes: number }[]) {
    totals.set(row.product, { next: Number(row.last) + 1, count: Number(row.n), bytes: Number(row.bytes) })
  }
  const totalsOf = (product: string) => {
    let t = totals.get(product)
    if (!t) {
      t = { next: 0, count: 0, bytes: 0 }
      totals.set(product, t)
    }
    return t
  }

  /**
   * Deletes a product's oldest readings once it holds a batch more than its retention (1,024
   * readings, or 1/16 of its bytes), down to the retention.
   */
  const prune = (product: string) => {
    const t = totalsOf(product)
    if (t.count <= retention.maxReadings + PRUNE_BATCH && t.bytes <= retention.maxBytes * (1 + 1 / 16)) return
    let count = t.count
    let bytes = t.bytes
    let through: number | undefined
    // Stepped through, oldest first, only as far as the deletion goes; the latest reading stays.
    for (const row of selectOldest.iterate(product) as Iterable<{ position: number; bytes: number }>) {
      if ((count <= retention.maxReadings && bytes <= retention.maxBytes) || count <= 1) break
      through = Number(row.position)
      count--
      bytes -= Number(row.bytes)
    }
    if (through === undefined) return
    deleteThrough.run(product, through)
    t.count = count
    t.bytes = bytes
  }

  return {
    record(products, message, now) {
      const positions = new Map<string, number>()
      if (products.length === 0) return positions
      return sqlite('record the reading', () => {
        if (
          message.dup &&
          message.packetId !== undefined &&
          selectDuplicate.get(products[0]!, message.packetId, message.topic, message.payload)
        ) {
          return positions
        }
        db.exec('BEGIN IMMEDIATE')
        try {
          for (const product of products) {
            const position = totalsOf(product).next
            insert.run(product, position, now, message.topic, message.payload, message.packetId ?? null)
            positions.set(product, position)
          }
          db.exec('COMMIT')
        } catch (err) {
          db.exec('ROLLBACK')
          throw err
        }
        for (const [product, position] of positions) {
          const t = totalsOf(product)
          t.next = position + 1
          t.count++
          t.bytes += message.payload.byteLength
          prune(product)
        }
        return positions
      })
    },
    readAfter(product, after, limit) {
      const rows = sqlite('read the readings', () => selectAfter.all(product, after, limit))
      return (rows as unknown as ReadingRow[]).map(readingOf)
    },
    readPage(product, after, through, limit) {
      const rows = sqlite('read the readings', () => selectPage.all(product, after, through, limit))
      return (rows as unknown as ReadingRow[]).map(readingOf)
    },
    select(product, query, after) {
      return sqlite('select the readings', () => {
        const position = (row: unknown) => {
          const p = (row as { p: number | null } | undefined)?.p
          return p === null || p === undefined ? undefined : Number(p)
        }
        const bounds = selectBounds.get(product) as { first: number | null; last: number | null }
        if (bounds.first === null || bounds.last === null) return undefined
        let first = Number(bounds.first)
        let last = Number(bounds.last)
        if ('byPosition' in query) {
          if (query.start !== undefined) first = Math.max(first, query.start)
          if (query.end !== undefined) last = Math.min(last, query.end)
        } else if (query.last !== undefined) {
          first = position(selectNthLatest.get(product, query.last - 1)) ?? first
        } else {
          if (query.from !== undefined) first = position(selectFirstFrom.get(product, query.from)) ?? last + 1
          if (query.to !== undefined) last = position(selectLastTo.get(product, query.to)) ?? first - 1
        }
        if (after !== undefined && after >= first) first = after + 1
        if (first > last) return undefined
        const row = selectSpan.get(product, first, last) as {
          n: number
          from_ms: number | null
          to_ms: number | null
        }
        if (Number(row.n) === 0) return undefined
        return {
          first,
          last,
          count: Number(row.n),
          from: Number(row.from_ms ?? 0),
          to: Number(row.to_ms ?? 0),
        }
      })
    },
    replayStart(product, after, maxReadings, maxBytes) {
      const rows = sqlite('read the readings', () => selectLatestSizes.all(product, after, maxReadings)) as {
        position: number
        bytes: number
      }[]
      let bytes = 0
      let start = after
      for (const [i, row] of rows.entries()) {
        bytes += Number(row.bytes)
        if (bytes > maxBytes && i > 0) return Number(row.position)
        start = Number(row.position) - 1
      }
      return rows.length === maxReadings ? start : after
    },
    nextPosition: (product) => totals.get(product)?.next ?? 0,
    sessionFilters(clientId) {
      const row = sqlite('read the session', () => selectSession.get(clientId)) as
        | { filters: string }
        | undefined
      return row ? (JSON.parse(row.filters) as string[]) : undefined
    },
    recordSessionFilters(clientId, filters) {
      sqlite('record the session', () => upsertSession.run(clientId, JSON.stringify(filters)))
    },
    resumePoints: {
      get(key, atMost) {
        const rows = sqlite('read the resume points', () => selectPoints.all(key)) as {
          amount: string
          position: number
        }[]
        let best: ResumePoint | undefined
        for (const row of rows) {
          const amount = BigInt(row.amount)
          if (amount <= atMost && (best === undefined || amount > best.amount)) {
            best = { amount, position: Number(row.position) }
          }
        }
        return best
      },
      set(key, point) {
        sqlite('record the resume point', () => {
          upsertPoint.run(key, point.amount.toString(), point.position)
          prunePoints.run(key)
        })
      },
    },
    close() {
      if (db.isOpen) db.close()
    },
  }
}

/** A row of the `readings` table. */
interface ReadingRow {
  position: number
  received_at: number
  topic: string
  payload: Uint8Array
  packet_id: number | null
}

function readingOf(row: ReadingRow): Reading {
  return {
    position: Number(row.position),
    receivedAt: Number(row.received_at),
    topic: row.topic,
    payload: row.payload,
    packetId: row.packet_id === null ? undefined : Number(row.packet_id),
  }
}
