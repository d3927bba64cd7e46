import {
  type CloseReason,
  DEFAULT_MAX_FRAME_BYTES,
  decodeFrame,
  ERROR_CODES,
  type ErrorCode,
  type Frame,
  type Hex,
  isErrorCode,
  TrickleError,
} from '@trickle/protocol'
import { DEFAULT_MAX_INBOUND_FRAME_BYTES } from '../../src/index.ts'
import type { FuzzMessage } from './fuzzFrames.ts'

/** The phase a fuzz session is driven to before its fuzz messages. */
export type FuzzPhase = 'await_hello' | 'await_accept' | 'streaming'

/** How a session may end, as the buyer sees it. */
export type SessionEnding =
  | { kind: 'error'; codes: readonly ErrorCode[]; reason: CloseReason }
  | { kind: 'close'; reason: CloseReason }
  /** the WebSocket layer closed with this code, without protocol frames (e.g. 1009 above `maxPayload`) */
  | { kind: 'ws'; code: number }

/** What happened to one sent message, in the model. */
export type MessageRole = 'answered' | 'pong' | 'ignored' | 'advanced' | 'after_end'

/** What the seller must answer to a session's messages, per SPEC.md §State machines. */
export interface ExpectedReplies {
  /** `n` of each `pong` the seller must send before the end, in order */
  pongs: number[]
  /** acceptable endings of the session (any one) */
  endings: SessionEnding[]
  /** endings that may race the messages once `pongs` has reached `from` (channel resolution, timers) */
  races: { from: number; ending: SessionEnding }[]
  /** whether `chunk` and `payment_required` frames may appear */
  streaming: boolean
  /**
   * WebSocket close codes a message after the ending may cause instead of 1000 (ws parses the rest of
   * a burst before the seller's deferred `close`: invalid UTF-8 text gives 1007, above `maxPayload` 1009)
   */
  lateWsCodes: number[]
  /** what each message did (the appended final `close` not included) */
  roles: MessageRole[]
  /** messages where SPEC.md's verdict and the codec's disagree (spec says malformed, codec decodes, …) */
  specMismatches: string[]
}

const RECEIPT_CODES = ERROR_CODES.filter((c) => c.startsWith('RECEIPT_'))
const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

function isUtf8(bytes: Uint8Array): boolean {
  try {
    strictUtf8.decode(bytes)
    return true
  } catch {
    return false
  }
}

function fail(codes: readonly ErrorCode[], reason: CloseReason = 'protocol_error'): SessionEnding[] {
  return [{ kind: 'error', codes, reason }]
}

/**
 * Walks the messages through the seller's state machine (SPEC.md §State machines) and predicts its
 * answers. Decoding is judged by `decodeFrame` (the seller's own codec), cross-checked against the
 * spec's verdict where the generator knows it.
 *
 * @param phase - the phase the session was in before the first message
 * @param messages - the fuzz messages, in sending order (a valid `close` is assumed to follow them)
 * @param session - the products the seller sells, and the digest of the terms it sent (if any)
 */
export function expectedReplies(
  phase: FuzzPhase,
  messages: readonly FuzzMessage[],
  session: { productIds: ReadonlySet<bigint>; termsDigest: Hex | undefined },
): ExpectedReplies {
  const out: ExpectedReplies = {
    pongs: [],
    endings: [{ kind: 'close', reason: 'buyer_closed' }],
    races: [],
    streaming: phase === 'streaming',
    roles: [],
    specMismatches: [],
    lateWsCodes: [],
  }
  let state: FuzzPhase | 'resolving' = phase
  const timers = () => {
    if (state === 'streaming') {
      out.races.push({ from: out.pongs.length, ending: fail(['PAYMENT_TIMEOUT'], 'payment_timeout')[0]! })
    }
    if (state === 'await_accept') {
      out.races.push({ from: out.pongs.length, ending: fail(['TERMS_EXPIRED'], 'terms_rejected')[0]! })
    }
  }
  timers()
  // Liveness: a buyer silent for the idle timeout is closed, in any phase.
  out.races.push({ from: 0, ending: fail(['IDLE_TIMEOUT'], 'idle_timeout')[0]! })
  let ended: SessionEnding[] | undefined
  for (const [i, m] of messages.entries()) {
    const size = typeof m.data === 'string' ? Buffer.byteLength(m.data) : m.data.byteLength
    if (ended) {
      out.roles.push('after_end')
      if (size > DEFAULT_MAX_FRAME_BYTES) out.lateWsCodes.push(1009)
      if (m.asText && !isUtf8(m.data as Uint8Array)) out.lateWsCodes.push(1007)
      continue
    }
    const where = `#${i} ${m.category} ${m.label}`
    if (size > DEFAULT_MAX_INBOUND_FRAME_BYTES) {
      // Buyer frames are small: the seller refuses any above its inbound limit (SPEC §Resource limits).
      ended = [...fail(['FRAME_TOO_LARGE']), { kind: 'ws', code: 1009 }]
      if (typeof m.data === 'string' || m.asText) ended.push(...fail(['FRAME_MALFORMED']))
    } else if (typeof m.data === 'string') {
      ended = fail(['FRAME_MALFORMED'])
    } else if (m.asText) {
      // Invalid UTF-8 in a text message never reaches the seller: ws closes with 1007.
      ended = isUtf8(m.data) ? fail(['FRAME_MALFORMED']) : [{ kind: 'ws', code: 1007 }]
    } else {
      let frame: Frame | undefined
      try {
        frame = decodeFrame(m.data)
      } catch (err) {
        if (!(err instanceof TrickleError))
          out.specMismatches.push(`${where}: decodeFrame threw ${String(err)}`)
        if (m.spec === 'decodes') out.specMismatches.push(`${where}: spec says it decodes, codec rejects it`)
        ended = fail([err instanceof TrickleError ? err.code : 'FRAME_MALFORMED'])
      }
      if (frame && m.spec === 'malformed') {
        out.specMismatches.push(`${where}: spec says FRAME_MALFORMED, codec decodes it as ${frame.t}`)
      }
      if (frame) {
        switch (frame.t) {
          case 'ping':
            out.pongs.push(frame.n)
            out.roles.push('pong')
            continue
          case 'pong':
          case 'error':
            out.roles.push('ignored')
            continue
          case 'close':
            ended = [{ kind: 'close', reason: 'buyer_closed' }]
            break
          case 'hello':
            if (state !== 'await_hello') ended = fail(['UNEXPECTED_FRAME'])
            else if (frame.v !== 1) ended = fail(['UNSUPPORTED_VERSION'])
            else if (!session.productIds.has(frame.productId))
              ended = fail(['UNKNOWN_PRODUCT'], 'channel_unusable')
            else {
              // A fuzz hello names a random channel: the chain read ends the session whenever it lands.
              state = 'resolving'
              out.races.push({
                from: out.pongs.length,
                ending: fail(['UNKNOWN_CHANNEL'], 'channel_unusable')[0]!,
              })
              out.roles.push('advanced')
              continue
            }
            break
          case 'accept':
            if (state !== 'await_accept') ended = fail(['UNEXPECTED_FRAME'])
            else if (frame.termsDigest !== session.termsDigest) ended = fail(['TERMS_INVALID'])
            // The fuzz never holds the channel's key: its accept signatures are random bytes, which
            // do not prove it (SPEC §Authentication), so even the right digest ends the session.
            else ended = fail(['AUTH_FAILED'])
            break
          case 'receipt':
            // A fuzzed receipt never has the right ack hash; which check fails first depends on timing.
            ended = fail(state === 'streaming' ? RECEIPT_CODES : ['UNEXPECTED_FRAME'])
            break
          default:
            ended = fail(['UNEXPECTED_FRAME'])
        }
      }
    }
    out.roles.push('answered')
  }
  if (ended) out.endings = ended
  return out
}

/** What a fuzz client saw of one session, after its prefix (hello, terms, accept). */
export interface SessionTranscript {
  frames: Frame[]
  /** seller messages that did not decode (hex or text) */
  undecodable: string[]
  wsClose: { code: number; reason: string } | undefined
  timedOut: boolean
}

function matches(actual: SessionEnding, want: SessionEnding): boolean {
  switch (want.kind) {
    case 'ws':
      return actual.kind === 'ws' && actual.code === want.code
    case 'close':
      return actual.kind === 'close' && actual.reason === want.reason
    case 'error':
      return (
        actual.kind === 'error' &&
        actual.reason === want.reason &&
        actual.codes.some((c) => want.codes.includes(c))
      )
  }
}

function describe(e: SessionEnding): string {
  if (e.kind === 'ws') return `ws close ${e.code}`
  if (e.kind === 'close') return `close ${e.reason}`
  return `error ${e.codes.length > 3 ? `${e.codes[0]}…` : e.codes.join('|')} + close ${e.reason}`
}

/**
 * Compares what the seller sent with the model. Checks every seller frame decoded (so every `error`
 * code is one of `ERROR_CODES`), pongs echo pings in order, at most one `error` immediately followed by
 * the final `close`, nothing after it, and a WebSocket close 1000 carrying the close reason.
 *
 * @returns problems, empty when the seller behaved
 */
export function checkReplies(expected: ExpectedReplies, t: SessionTranscript): string[] {
  const problems: string[] = []
  if (t.timedOut) problems.push('the seller did not close the session in time (hang)')
  for (const u of t.undecodable) problems.push(`the seller sent an undecodable message: ${u}`)
  const frames = t.frames.filter((f) => {
    // The seller's heartbeat may ping at any time.
    if (f.t === 'ping') return false
    if (f.t !== 'chunk' && f.t !== 'payment_required') return true
    if (!expected.streaming) problems.push(`${f.t} outside streaming`)
    return false
  })
  const pongs: number[] = []
  let at = 0
  while (frames[at]?.t === 'pong') pongs.push((frames[at++] as Extract<Frame, { t: 'pong' }>).n)
  const error = frames[at]?.t === 'error' ? (frames[at++] as Extract<Frame, { t: 'error' }>) : undefined
  const close = frames[at]?.t === 'close' ? (frames[at++] as Extract<Frame, { t: 'close' }>) : undefined
  if (at < frames.length) {
    problems.push(
      `unexpected frames: ${frames
        .slice(at)
        .map((f) => f.t)
        .join(', ')}`,
    )
  }
  if (error && !isErrorCode(error.code)) problems.push(`untyped error code ${String(error.code)}`)
  if (error && !close) problems.push(`error ${error.code} without a close frame`)
  let actual: SessionEnding | undefined
  if (close) {
    actual = error
      ? { kind: 'error', codes: [error.code], reason: close.reason }
      : { kind: 'close', reason: close.reason }
    const late = t.wsClose && expected.lateWsCodes.includes(t.wsClose.code)
    if (t.wsClose && !late && (t.wsClose.code !== 1000 || t.wsClose.reason !== close.reason)) {
      problems.push(
        `close ${close.reason} then ws close ${t.wsClose.code} "${t.wsClose.reason}" (want 1000 "${close.reason}")`,
      )
    }
  } else if (t.wsClose) {
    actual = { kind: 'ws', code: t.wsClose.code }
  }
  if (!actual) return [...problems, 'no ending seen']
  const same = (n: number) => pongs.length === n && pongs.every((p, i) => p === expected.pongs[i])
  const ok =
    (same(expected.pongs.length) && expected.endings.some((e) => matches(actual, e))) ||
    expected.races.some(
      (r) =>
        pongs.length >= r.from &&
        same(Math.min(pongs.length, expected.pongs.length)) &&
        matches(actual, r.ending),
    )
  if (!ok) {
    const got = `${pongs.length} pongs, ${actual.kind === 'error' ? `error ${actual.codes[0]} + close ${actual.reason}` : describe(actual)}`
    const want = `${expected.pongs.length} pongs, ${expected.endings.map(describe).join(' or ')}`
    problems.push(`got ${got}; want ${want}${error ? ` (message: ${error.message.slice(0, 120)})` : ''}`)
  }
  return problems
}
