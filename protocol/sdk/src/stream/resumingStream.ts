import { type ErrorCode, type RangeEcho, TrickleError } from '@trickle/protocol'
import { sleep } from '../abortable.ts'
import type { Chunk, PaidStream, ReconnectPolicy, SessionSummary } from '../types.ts'
import type { SessionSocket } from './sessionSocket.ts'

/** Error codes after which a session is retried: the connection dropped or the seller went silent. */
const RETRY_CODES: readonly ErrorCode[] = ['CONNECTION_FAILED', 'IDLE_TIMEOUT']

/**
 * Whether a session that ended with `summary` is worth a new session on the same channel: the
 * connection dropped, the seller went silent, or it shut down (a restart). Not after the buyer's own
 * close, the end of `maxChunks`, the spending cap, an exhausted deposit or a protocol error. Pure.
 */
export function shouldResume(summary: SessionSummary): boolean {
  if (summary.error) return RETRY_CODES.includes(summary.error.code)
  return summary.reason === 'server_shutdown' || summary.reason === undefined
}

/**
 * The wait before reconnect attempt `attempt` (1-based): `baseDelayMs × 2^(attempt − 1)`, at most
 * `maxDelayMs`. Pure.
 * @returns ms
 */
export function reconnectDelay(policy: Required<ReconnectPolicy>, attempt: number): number {
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1))
}

/** What is left of a stream when a {@link ResumingStream} starts its next session. */
export interface ResumeLeft {
  /** wei the stream may still sign */
  maxSpend: bigint
  /** chunks the stream may still take (unbounded when undefined) */
  maxChunks: number | undefined
  /** for a stream of a history range: what its first session said it would send (SPEC.md §History) */
  range?: RangeEcho
}

/** What a {@link ResumingStream} needs to start the sessions after the first. */
export interface Resumer {
  /**
   * Starts a new session on the channel (from the last receipt signed, SPEC.md §Resume).
   * @param left - wei and chunks the stream may still take
   */
  connect(left: ResumeLeft): Promise<SessionSocket>
  /** told before each wait for a new session */
  reconnecting(attempt: number, delayMs: number, error: { code: ErrorCode; message: string }): void
  /** told once, with the stream's summary */
  closed(summary: SessionSummary): void
}

/**
 * A {@link PaidStream} over one session after another on one channel: when a session ends because the
 * connection dropped, the seller went silent or restarted, it starts a new one after a backoff (at most
 * `policy.attempts` in a row without a chunk in between). The new session resumes from the last receipt
 * (the seller's base, SPEC.md §Resume): chunks it sends again below the next label the application
 * expects are paid at amounts already signed (nothing twice) and not handed over again, so the
 * application sees each label once and in order. `maxSpend` and `maxChunks` hold for the whole stream.
 * Aborting `signal` closes the session with a final receipt and ends the iteration with `ABORTED`.
 */
export class ResumingStream implements PaidStream {
  readonly finished: Promise<SessionSummary>
  private current: SessionSocket
  private readonly resumer: Resumer
  private readonly policy: Required<ReconnectPolicy>
  private readonly maxSpend: bigint
  private readonly maxChunks: number | undefined
  private readonly signal: AbortSignal | undefined
  private resolveFinished!: (s: SessionSummary) => void
  private total: SessionSummary = {
    chunks: 0,
    afterClose: 0,
    paid: 0n,
    cumulativeAmount: 0n,
    reason: undefined,
  }
  private delivered = 0
  /** the lowest label the application has not seen: chunks below it are not handed over again */
  private nextSeq = 0
  /** no new session may start (closed or aborted) */
  private stopped = false
  /** `finished` has resolved */
  private ended = false
  /** the current session's summary is in the total */
  private counted = false
  private iterating = false

  /**
   * @param first - the first session, connected
   * @param resumer - starts later sessions and hears of reconnects and the end
   * @param policy - attempts and backoff (0 attempts: one session only)
   * @param limits - wei and chunks for the whole stream
   * @param signal - closes the stream when aborted
   */
  constructor(
    first: SessionSocket,
    resumer: Resumer,
    policy: Required<ReconnectPolicy>,
    limits: { maxSpend: bigint; maxChunks: number | undefined },
    signal?: AbortSignal,
  ) {
    this.current = first
    this.resumer = resumer
    this.policy = policy
    this.maxSpend = limits.maxSpend
    this.maxChunks = limits.maxChunks
    this.signal = signal
    this.finished = new Promise((resolve) => {
      this.resolveFinished = resolve
    })
    signal?.addEventListener('abort', this.onAbort, { once: true })
    // Without an iterator, follow the session alone (a caller that only awaits `finished`).
    void first.finished.then((s) => {
      if (!this.iterating) this.end(s)
    })
  }

  private readonly onAbort = (): void => {
    this.stopped = true
    void this.current.close()
  }

  /** Adds a finished session to the stream's summary. */
  private add(s: SessionSummary): void {
    this.total = {
      chunks: this.total.chunks + s.chunks,
      afterClose: this.total.afterClose + s.afterClose,
      paid: this.total.paid + s.paid,
      cumulativeAmount:
        s.cumulativeAmount > this.total.cumulativeAmount ? s.cumulativeAmount : this.total.cumulativeAmount,
      reason: s.reason,
      ...(s.error ? { error: s.error } : {}),
      ...((this.total.range ?? s.range) ? { range: (this.total.range ?? s.range)! } : {}),
    }
  }

  private end(last?: SessionSummary): SessionSummary {
    if (last && !this.counted) {
      this.add(last)
      this.counted = true
    }
    if (!this.ended) {
      this.ended = true
      this.stopped = true
      this.signal?.removeEventListener('abort', this.onAbort)
      this.resumer.closed(this.total)
      this.resolveFinished(this.total)
    }
    return this.total
  }

  async close(): Promise<SessionSummary> {
    if (this.iterating) {
      this.stopped = true
      await this.current.close()
      return this.finished
    }
    return this.end(await this.current.close())
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Chunk, void, undefined> {
    this.iterating = true
    let attempt = 0
    try {
      while (true) {
        let failure: unknown
        try {
          for await (const chunk of this.current) {
            if (chunk.seq < this.nextSeq) continue
            this.nextSeq = chunk.seq + 1
            this.delivered++
            attempt = 0
            yield chunk
          }
        } catch (err) {
          failure = err
        }
        const summary = await this.current.finished
        this.add(summary)
        this.counted = true
        if (this.signal?.aborted) throw new TrickleError('ABORTED', 'the stream was aborted')
        const left: ResumeLeft = {
          maxSpend: this.maxSpend - this.total.paid,
          maxChunks: this.maxChunks === undefined ? undefined : this.maxChunks - this.delivered,
          ...(this.total.range ? { range: this.total.range } : {}),
        }
        // A resumed session counts the chunks the seller sends again (below `nextSeq`) towards its
        // `maxChunks`, so it can end `done` before the stream has its count: go on with another. A
        // finite range's session ends `done` once it has the range.
        const finite = summary.range !== undefined && !summary.range.live
        const short =
          summary.reason === 'done' && !finite && left.maxChunks !== undefined && left.maxChunks > 0
        const resume =
          !this.stopped &&
          (shouldResume(summary) || short) &&
          attempt < this.policy.attempts &&
          left.maxSpend > 0n &&
          (left.maxChunks === undefined || left.maxChunks > 0)
        if (!resume) {
          if (failure) throw failure
          return
        }
        // Reconnect, with a backoff; a failed attempt counts like a dropped session.
        while (true) {
          attempt++
          const delay = reconnectDelay(this.policy, attempt)
          const error = summary.error ?? {
            code: 'CONNECTION_FAILED',
            message: `the seller closed: ${summary.reason}`,
          }
          this.resumer.reconnecting(attempt, delay, error)
          await sleep(delay, this.signal)
          try {
            this.current = await this.resumer.connect(left)
            this.counted = false
            break
          } catch (err) {
            if ((err as { code?: unknown }).code !== 'CONNECTION_FAILED' || attempt >= this.policy.attempts)
              throw err
          }
        }
      }
    } finally {
      this.end(this.counted ? undefined : await this.current.finished)
    }
  }
}
