import type { CloseReason, ErrorCode, Hex, JobRequest, RangeEcho, ReadingProvenance } from '@trickle/protocol'
import type { StreamRange } from './stream/historyRange.ts'

/** One verified chunk: in sequence, within the terms' size limit, from the authenticated seller. */
export interface Chunk {
  /** chunk number on the channel */
  seq: number
  /** the payload as the seller sent it (what the receipts' ack hash covers) */
  data: Uint8Array
  /**
   * who produced it, when the product's descriptor lists signing devices: `verified` (with the signed
   * reading's bytes), `unsigned` or `invalid` (SPEC.md §Device signatures); absent otherwise
   */
  provenance?: ReadingProvenance
}

/** What a finished session did. */
export interface SessionSummary {
  /**
   * chunks the session received before its close and paid for: handed to the loop, or still queued
   * for it when the loop left early (at most `maxBufferedChunks` of those)
   */
  chunks: number
  /**
   * chunks the seller had sent before it saw this buyer's `close`: received after it, not delivered,
   * and paid by the session's last receipt (SPEC.md §Channel debt), so `paid` is
   * `(chunks + afterClose) × price` for a session that did not start in debt
   */
  afterClose: number
  /** wei signed for in this session */
  paid: bigint
  /** the channel's cumulative amount after this session, wei */
  cumulativeAmount: bigint
  reason: CloseReason | undefined
  error?: { code: ErrorCode; message: string }
  /**
   * for a stream of a history range: what the seller said the (first) session would send of it —
   * `count` readings recorded from `from` to `to` (ms since the epoch), and whether live ones follow
   */
  range?: RangeEcho
}

/**
 * A paid stream: iterate it for chunks; it pays as they arrive. Leaving the loop early (`break`,
 * `return`, a throw in its body) closes the session like {@link close} and waits for it to end.
 */
export interface PaidStream extends AsyncIterable<Chunk> {
  /** ends the session with a final receipt for every chunk received */
  close(): Promise<SessionSummary>
  /** resolves when the session has ended, for whatever reason */
  readonly finished: Promise<SessionSummary>
}

/** Options of {@link BuyerClient.stream}. */
export interface StreamOptions {
  channelId: Hex
  /**
   * wei the stream may sign at most, across its reconnects; within the client's `budget` (what is
   * left of it when absent)
   */
  maxSpend?: bigint
  /** chunks to receive before closing (unbounded when absent) */
  maxChunks?: number
  /**
   * buy a span of the product's recorded history instead of its live readings (SPEC.md §History):
   * `{ from, to }` or `{ last }`, finite (the stream ends once the seller's `count` readings of it are
   * received and paid, `reason` `done`), or with `live: true` followed by live readings. A seller that
   * does not sell history, or holds no reading in the range, ends the stream with
   * `RANGE_UNAVAILABLE` before anything is paid. With `reconnect`, a dropped range resumes after its
   * last paid reading
   */
  range?: StreamRange
  /**
   * run a job of a `compute` or `app` product under its provider's quote (SPEC.md §Jobs) instead of
   * streaming readings; `BuyerClient.runJob` sets it
   */
  job?: JobRequest
  /**
   * wei per chunk accepted at most; default the descriptor's `pricePerChunk` (terms above it are
   * refused with `TERMS_INVALID`). Set it to pay more than the descriptor states.
   */
  maxPricePerChunk?: bigint
  /**
   * wei of the channel's debt (chunks a seller delivered on earlier sessions and no receipt covers)
   * this session pays beyond the chunks this client knows it received and never signed for; default
   * 0: a larger debt ends the session with `DEBT_DISPUTED` (SPEC.md §Channel debt). It counts against
   * `maxSpend`.
   */
  maxDebt?: bigint
  /** ms to wait for the connection (default 10,000; at most 2^31 − 1) */
  connectTimeoutMs?: number
  /**
   * chunks received but not yet taken by the loop (queued, plus the one its body is handling), at
   * most; when reached, the stream holds back what the seller sends from its session, so the session
   * never receives — nor signs receipts for — more than this many chunks beyond those the application
   * took; without receipts, an honest seller stops at its credit window. Default
   * `DEFAULT_MAX_BUFFERED_CHUNKS` (64); 1 pays only for chunks the loop asked for.
   */
  maxBufferedChunks?: number
  /**
   * bytes of chunk payload held for the loop, at most (plus one chunk); frames are held back like for
   * {@link maxBufferedChunks}. It also bounds the bytes a seller may send while the buffer is full: a
   * seller that sends more, or more chunks than its credit window allows, is closed with
   * `UNEXPECTED_FRAME`. Keep it at least `window.max × maxChunkBytes` of the seller's terms (1 MiB for
   * the reference policy) for a slow loop. Default `DEFAULT_MAX_BUFFERED_BYTES` (4 MiB).
   */
  maxBufferedBytes?: number
  /**
   * reconnect when the connection drops, the seller goes silent or restarts, resuming from the last
   * receipt with no chunk handed over twice and none paid twice (SPEC.md §Resume): `true` for
   * {@link DEFAULT_RECONNECT}, or a policy. Off by default for `stream`
   */
  reconnect?: boolean | ReconnectPolicy
  /**
   * aborts connecting (`ABORTED`), or closes a running stream with a final receipt for every chunk
   * received, after which the iteration throws `ABORTED`
   */
  signal?: AbortSignal
}

/** How a stream reconnects after the connection drops (see `StreamOptions.reconnect`). */
export interface ReconnectPolicy {
  /** new sessions tried in a row without a chunk in between, at most (0: never reconnect) */
  attempts?: number
  /** ms before the first attempt; doubled for each further one */
  baseDelayMs?: number
  /** ms between attempts, at most */
  maxDelayMs?: number
}

/** Defaults of {@link ReconnectPolicy} when reconnecting is on: 5 attempts, 250 ms doubling up to 5 s. */
export const DEFAULT_RECONNECT: Required<ReconnectPolicy> = {
  attempts: 5,
  baseDelayMs: 250,
  maxDelayMs: 5_000,
}

/** The events of a `BuyerClient` (see `BuyerClient.on`), by name: what each listener receives. */
export interface BuyerEvents {
  /** a receipt was signed and sent: the channel's cumulative `amount` (wei) up to chunk `seq` (exclusive) */
  receipt: { channelId: Hex; seq: number; amount: bigint; signature: Hex }
  /** the seller asked to be paid: `owed` is what every chunk it delivered on the channel comes to, wei */
  paymentRequired: { channelId: Hex; owed: bigint }
  /** a session ended with `error` and a new one starts after `delayMs` ms (attempt `attempt`, 1-based) */
  reconnecting: {
    channelId: Hex
    attempt: number
    delayMs: number
    error: { code: ErrorCode; message: string }
  }
  /** a stream ended, for good: what all its sessions did */
  closed: { channelId: Hex; summary: SessionSummary }
}
