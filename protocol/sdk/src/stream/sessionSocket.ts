import {
  type BufferLimits,
  type BuyerEffect,
  type BuyerSession,
  bufferFull,
  type CloseReason,
  closeError,
  decodeFrame,
  encodeFrame,
  type Frame,
  type ReceiptValue,
  type ResumeBase,
  TrickleError,
  timerDelay,
  verifyReading,
} from '@trickle/protocol'
import type { Chunk, PaidStream, SessionSummary } from '../types.ts'
import { type HeldFrames, heldFrameProblem } from './heldFrameLimit.ts'

/** ms a closing socket may take to finish the WebSocket close handshake before it is abandoned. */
export const CLOSE_GRACE_MS = 2_000

/** Close reasons that end the iteration normally, without throwing the session's error. */
export const CLEAN_ENDS: readonly (CloseReason | undefined)[] = ['done', 'spending_cap', 'buyer_closed']

/** What a {@link SessionSocket} tells its owner as the session runs. */
export interface SessionHooks {
  /** every receipt signed (the final one from `close` included), to resume from later */
  receipt(receipt: ReceiptValue & { signature: ResumeBase['signature'] }): void
  /** the seller asked to be paid: `owed` is its cumulative amount, wei */
  paymentRequired?(owed: bigint): void
}

/** One frame read while the application's buffer was full, held back from the session. */
type Held = { frame: Frame; bytes: number } | { error: TrickleError; bytes: number }

/**
 * Connects to `url` with the WHATWG `WebSocket` (global in browsers and Node ≥ 22).
 *
 * @param url - `ws://` or `wss://` endpoint
 * @param timeoutMs - ms to wait for the connection (clamped to what a timer holds)
 * @param signal - aborts the attempt (`ABORTED`)
 * @returns the open socket, `binaryType = 'arraybuffer'`
 * @throws TrickleError `CONNECTION_FAILED`, `ABORTED`
 */
export function connectSocket(url: string, timeoutMs: number, signal?: AbortSignal): Promise<WebSocket> {
  return new Promise<WebSocket>((resolve, reject) => {
    if (signal?.aborted) return reject(new TrickleError('ABORTED', 'aborted before connecting'))
    let ws: WebSocket
    try {
      ws = new WebSocket(url)
    } catch (cause) {
      return reject(new TrickleError('CONNECTION_FAILED', `cannot connect to ${url}`, { cause }))
    }
    ws.binaryType = 'arraybuffer'
    const settle = (err?: TrickleError) => {
      clearTimeout(timer)
      ws.removeEventListener('open', onOpen)
      ws.removeEventListener('error', onError)
      ws.removeEventListener('close', onError)
      signal?.removeEventListener('abort', onAbort)
      if (err) {
        ws.close()
        reject(err)
      } else {
        resolve(ws)
      }
    }
    const onOpen = () => settle()
    const onError = () => settle(new TrickleError('CONNECTION_FAILED', `cannot connect to ${url}`))
    const onAbort = () => settle(new TrickleError('ABORTED', `connecting to ${url} was aborted`))
    const timer = setTimeout(
      () => settle(new TrickleError('CONNECTION_FAILED', `no connection to ${url}`)),
      timerDelay(timeoutMs),
    )
    ws.addEventListener('open', onOpen)
    ws.addEventListener('error', onError)
    ws.addEventListener('close', onError)
    signal?.addEventListener('abort', onAbort)
  })
}

/**
 * Drives a {@link BuyerSession} over a WHATWG WebSocket and exposes it as an async iterator.
 *
 * - **Idle timer**: re-armed for the session's `deadline` after every event, clamped to what a timer
 *   holds ({@link timerDelay}); a seller silent for the terms' `idleTimeoutMs` ends the stream with
 *   `IDLE_TIMEOUT`.
 * - **Bounded buffer without pausing the socket** (a WHATWG WebSocket cannot pause): it holds at most
 *   `limits` chunks for the application ({@link bufferFull}). When full, frames that arrive are held
 *   back from the session, so the session neither receives nor signs receipts for chunks beyond the
 *   limit until the loop takes some. With no receipts, an honest seller stops at its credit window; a
 *   seller that sends more than the window allows, more than `limits.maxBytes` bytes, or many other
 *   frames meanwhile is closed with `UNEXPECTED_FRAME` ({@link heldFrameProblem}). While frames are
 *   held no idle timeout runs (the seller is being heard); after they are handed over the seller has a
 *   full idle timeout to be heard again.
 * - **Containment**: nothing the seller sends can throw out of a socket or timer callback; an
 *   unexpected exception ends the session with `INTERNAL` (sent to the seller without details).
 * - **Early exit**: leaving the loop (`break`, `return`, a throw) closes the session with a final
 *   receipt and waits for it to end.
 */
export class SessionSocket implements PaidStream {
  readonly finished: Promise<SessionSummary>
  private readonly ws: WebSocket
  private readonly session: BuyerSession
  private readonly limits: BufferLimits
  private readonly hooks: SessionHooks
  private readonly queue: Chunk[] = []
  /** payload bytes in `queue` */
  private queuedBytes = 0
  /** the chunk the loop body is handling: yielded, and the loop has not asked for the next one yet */
  private inHand: Chunk | undefined
  /** frames read while the buffer was full, in order, not yet given to the session */
  private readonly held: Held[] = []
  private heldCount: HeldFrames = { chunks: 0, controls: 0, bytes: 0 }
  /** receipts sent in this session, and chunks received after the last one (credit window position) */
  private receiptsSent = 0
  private unpaidReceived = 0
  /** when held frames were last all handed over, ms since the epoch */
  private resumedAt: number | undefined
  private socketClosed = false
  /** handling threw: the session is ended by this driver whatever its state says */
  private broken = false
  /** `release` is running (it hands held frames to the session, which re-enters `apply`) */
  private releasing = false
  private waiter: (() => void) | undefined
  private done = false
  private failure: TrickleError | undefined
  private resolveFinished!: (s: SessionSummary) => void
  private timer: ReturnType<typeof setTimeout> | undefined
  private readonly devices: readonly string[] | undefined
  private closeTimer: ReturnType<typeof setTimeout> | undefined

  /**
   * @param ws - an open socket (see {@link connectSocket})
   * @param session - a fresh session for the channel
   * @param limits - the application buffer's limits (chunks, bytes)
   * @param hooks - told of every receipt and `payment_required`
   * @param devices - the descriptor's device addresses: each chunk handed over carries its
   *   `provenance` (SPEC.md §Device signatures); absent: chunks carry none
   */
  constructor(
    ws: WebSocket,
    session: BuyerSession,
    limits: BufferLimits,
    hooks: SessionHooks,
    devices?: readonly string[],
  ) {
    this.devices = devices
    this.ws = ws
    this.session = session
    this.limits = limits
    this.hooks = hooks
    this.finished = new Promise((resolve) => {
      this.resolveFinished = resolve
    })
    ws.addEventListener('message', this.onMessageEvent)
    ws.addEventListener('close', this.onCloseEvent)
    this.guard(() => this.apply(session.start(Date.now())))
  }

  private readonly onMessageEvent = (event: MessageEvent): void => {
    this.guard(() => this.onMessage(event.data))
  }

  private readonly onCloseEvent = (): void => {
    this.guard(() => this.onSocketClosed())
  }

  /** The socket closed, or this driver gave up on it: no more frames will be read. */
  private onSocketClosed(): void {
    if (this.socketClosed) return
    this.socketClosed = true
    this.ws.removeEventListener('message', this.onMessageEvent)
    this.ws.removeEventListener('close', this.onCloseEvent)
    this.drain()
  }

  /** Closes the socket without waiting for the peer (a dead or stalled seller). */
  private drop(): void {
    this.ws.close()
    this.onSocketClosed()
  }

  /** Whether the session is over for this driver (closed, or abandoned after an internal failure). */
  private get ended(): boolean {
    return this.broken || this.session.closed
  }

  /** Whether frames are held back from the session. */
  private get holding(): boolean {
    return this.held.length > 0
  }

  /** Whether the application's buffer is full: the queue plus the chunk the loop body holds. */
  private full(): boolean {
    const hand = this.inHand
    return bufferFull(
      {
        chunks: this.queue.length + (hand ? 1 : 0),
        bytes: this.queuedBytes + (hand ? hand.data.byteLength : 0),
      },
      this.limits,
    )
  }

  private onMessage(data: unknown): void {
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : undefined
    let item: Held
    try {
      if (!bytes) throw new TrickleError('FRAME_MALFORMED', 'text frames are not part of the protocol')
      item = { frame: decodeFrame(bytes), bytes: bytes.byteLength }
    } catch (err) {
      const e = err instanceof TrickleError ? err : new TrickleError('FRAME_MALFORMED', 'malformed frame')
      item = { error: e, bytes: bytes?.byteLength ?? 0 }
    }
    if (!this.ended && (this.holding || this.full())) {
      this.hold(item)
      return
    }
    this.handle(item)
  }

  /** Keeps a frame for the session until the loop makes room; refuses a seller that sends too much. */
  private hold(item: Held): void {
    const wasHolding = this.holding
    this.held.push(item)
    const isChunk = 'frame' in item && item.frame.t === 'chunk'
    this.heldCount = {
      chunks: this.heldCount.chunks + (isChunk ? 1 : 0),
      controls: this.heldCount.controls + (isChunk ? 0 : 1),
      bytes: this.heldCount.bytes + item.bytes,
    }
    const problem = heldFrameProblem(
      this.heldCount,
      {
        window: this.session.acceptedTerms?.window,
        receiptsSent: this.receiptsSent,
        unpaidReceived: this.unpaidReceived,
      },
      this.limits.maxBytes,
    )
    if (problem !== undefined) {
      this.held.length = 0
      this.heldCount = { chunks: 0, controls: 0, bytes: 0 }
      this.apply(this.session.malformed(new TrickleError('UNEXPECTED_FRAME', problem)))
      return
    }
    if (!wasHolding) this.schedule()
  }

  /** Gives one frame to the session. */
  private handle(item: Held): void {
    if ('error' in item) {
      this.apply(this.session.malformed(item.error))
      return
    }
    const frame = item.frame
    if (frame.t === 'payment_required' && !this.session.closed) this.hooks.paymentRequired?.(frame.owed)
    this.apply(this.session.receive(frame, Date.now()))
  }

  /** Takes the first held frame off the list. */
  private unhold(): Held {
    const item = this.held.shift()!
    const isChunk = 'frame' in item && item.frame.t === 'chunk'
    this.heldCount = {
      chunks: this.heldCount.chunks - (isChunk ? 1 : 0),
      controls: this.heldCount.controls - (isChunk ? 0 : 1),
      bytes: this.heldCount.bytes - item.bytes,
    }
    return item
  }

  /**
   * Gives held frames to the session while the buffer has room; once none are left, or the socket
   * has closed meanwhile, ends the session if it must.
   */
  private drain(): void {
    const wasHolding = this.holding
    while (this.holding && !this.full() && !this.ended) this.handle(this.unhold())
    if (this.ended) {
      this.release()
      return
    }
    if (!this.holding) {
      if (this.socketClosed) {
        this.apply(this.session.disconnected())
        this.finish()
      } else if (wasHolding) {
        this.resumedAt = Date.now()
        this.schedule()
      }
    }
  }

  /**
   * The session is over: hands it the frames held back (a closed session only counts chunks still in
   * flight, see `BuyerSession.receive`; after an internal failure they are dropped), and finishes once
   * the socket has closed.
   */
  private release(): void {
    if (this.releasing) return
    this.releasing = true
    try {
      while (this.holding) {
        const item = this.unhold()
        if (!this.broken) this.handle(item)
      }
    } finally {
      this.releasing = false
    }
    if (this.socketClosed) this.finish()
  }

  private apply(effects: BuyerEffect[]): void {
    for (const e of effects) {
      switch (e.type) {
        case 'send':
          if (this.ws.readyState === WebSocket.OPEN) this.ws.send(encodeFrame(e.frame))
          break
        case 'deliver':
          this.queue.push(
            this.devices
              ? { seq: e.seq, data: e.data, provenance: verifyReading(e.data, this.devices) }
              : { seq: e.seq, data: e.data },
          )
          this.queuedBytes += e.data.byteLength
          this.unpaidReceived++
          break
        case 'receipt':
          this.receiptsSent++
          this.unpaidReceived = 0
          this.hooks.receipt({ ...e.receipt, signature: e.signature })
          break
        case 'close': {
          const err = closeError(e)
          if (err && !this.failure) this.failure = err
          // The seller closes the socket once the receipts it received are stored, so `finished`
          // resolves after the final receipt is durable. A dead or stalled seller never does: give
          // it CLOSE_GRACE_MS, then drop the connection.
          this.closeTimer ??= setTimeout(() => this.guard(() => this.drop()), CLOSE_GRACE_MS)
          break
        }
      }
    }
    if (this.ended) this.release()
    this.schedule()
    this.wake()
  }

  /**
   * Runs a socket or timer callback. An exception (a bug, or a value the session failed to refuse)
   * ends the session with `INTERNAL` instead of escaping to the event loop and killing the process.
   */
  private guard(run: () => void): void {
    try {
      run()
    } catch (cause) {
      const err = new TrickleError('INTERNAL', 'the buyer failed to handle the session', { cause })
      this.failure ??= err
      this.broken = true
      try {
        this.apply(this.session.malformed(err))
      } catch {
        // Not even the error could be sent: drop the connection.
        try {
          this.drop()
        } catch {
          this.socketClosed = true
        }
        this.finish()
      }
    }
  }

  /** When the idle timer must fire, ms since the epoch: none while frames are held back. */
  private idleDeadline(): number | undefined {
    if (this.done || this.ended || this.holding) return undefined
    const at = this.session.deadline
    if (at === undefined) return undefined
    const idle = this.session.acceptedTerms?.idleTimeoutMs
    return this.resumedAt !== undefined && idle !== undefined ? Math.max(at, this.resumedAt + idle) : at
  }

  /** Arms the timer for the next deadline (the idle timeout), within what a timer can hold. */
  private schedule(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    const at = this.idleDeadline()
    if (at === undefined) return
    this.timer = setTimeout(() => this.guard(() => this.onTimer()), timerDelay(at - Date.now()))
  }

  private onTimer(): void {
    const at = this.idleDeadline()
    if (at === undefined) return
    // A clamped timer fires before its deadline: arm it again.
    if (Date.now() < at) this.schedule()
    else this.apply(this.session.tick(Date.now()))
  }

  private wake(): void {
    const w = this.waiter
    this.waiter = undefined
    w?.()
  }

  private finish(): void {
    if (this.done) return
    this.done = true
    clearTimeout(this.timer)
    clearTimeout(this.closeTimer)
    this.wake()
    this.resolveFinished(this.summary())
  }

  private summary(): SessionSummary {
    const s = this.session
    return {
      chunks: s.chunksReceived,
      afterClose: s.chunksAfterClose,
      paid: s.spent,
      cumulativeAmount: s.cumulativeAmount,
      reason: s.closeReason,
      ...(s.error ? { error: s.error } : {}),
      ...(s.range ? { range: s.range } : {}),
    }
  }

  /** The error the session ended with, when it is not a clean end (see {@link CLEAN_ENDS}). */
  get error(): TrickleError | undefined {
    const err = this.failure
    return err && (this.broken || !CLEAN_ENDS.includes(this.session.closeReason)) ? err : undefined
  }

  async close(): Promise<SessionSummary> {
    if (!this.done) this.guard(() => this.apply(this.session.close('buyer_closed')))
    return this.finished
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Chunk, void, undefined> {
    try {
      while (true) {
        // The loop asked for another chunk: it is done with the last one, which makes room.
        this.inHand = undefined
        if (this.holding) this.guard(() => this.drain())
        const next = this.queue.shift()
        if (next) {
          this.queuedBytes -= next.data.byteLength
          this.inHand = next
          yield next
          continue
        }
        if (this.done || this.ended) break
        await new Promise<void>((resolve) => {
          this.waiter = resolve
        })
      }
    } finally {
      this.inHand = undefined
      // Left early (break, return, a throw in the loop body): a final receipt for every chunk
      // received, then wait for the session to end, so nothing is paid after the loop.
      if (!this.ended && !this.done) await this.close()
    }
    const err = this.error
    if (err) throw err
  }
}
