import { Packr } from 'msgpackr'
import { isWireErrorCode, TrickleError } from './errors.ts'
import {
  CLOSE_REASONS,
  type CloseReason,
  type CreditWindow,
  type Frame,
  type HistoryRange,
  type JobRequest,
  MAX_SEALED_ARGS_BYTES,
  OVERFLOW_POLICIES,
  type OverflowPolicy,
  type RangeEcho,
  type ResumeBase,
  type Terms,
} from './frames.ts'
import { bytesToUint, fromHex, type Hex, toHex, uintToBytes } from './hex.ts'
import type { JobQuote } from './jobs.ts'

/** Default maximum encoded frame size, bytes (a chunk's payload limit plus framing headroom). */
export const DEFAULT_MAX_FRAME_BYTES = 256 * 1024
/** Largest string field accepted (close messages, error messages), characters. */
const MAX_TEXT = 1024

// Integers: decoders accept any msgpack int and read 64-bit ones as numbers (then range-checked);
// encoders write integers above 2^32 − 1 as uint64, never as float64 (SPEC.md §Frames).
const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  variableMapSize: true,
  int64AsType: 'number',
})

/** An integer as msgpack writes it: uint32 and below as is, larger ones as uint64 (not float64). */
function u(n: number): number | bigint {
  return n > 0xffff_ffff ? BigInt(n) : n
}
const CLOSE_REASON_SET: ReadonlySet<string> = new Set(CLOSE_REASONS)
const OVERFLOW_SET: ReadonlySet<string> = new Set(OVERFLOW_POLICIES)
/** uint32 in the Terms EIP-712 struct */
const MAX_UINT32 = 0xffff_ffff

type Wire = Record<string, unknown>

function malformed(field: string, why: string): TrickleError {
  return new TrickleError('FRAME_MALFORMED', `malformed frame: ${field} ${why}`)
}

function int(o: Wire, field: string, max = Number.MAX_SAFE_INTEGER): number {
  const v = o[field]
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) {
    throw malformed(field, 'must be a non-negative integer')
  }
  return v
}

function bin(o: Wire, field: string, length?: number, maxLength = 32): Uint8Array {
  const v = o[field]
  if (!(v instanceof Uint8Array)) throw malformed(field, 'must be binary')
  if (length !== undefined ? v.length !== length : v.length > maxLength) {
    throw malformed(
      field,
      length !== undefined ? `must be ${length} bytes` : `must be at most ${maxLength} bytes`,
    )
  }
  return v
}

function hexField(o: Wire, field: string, length: number): Hex {
  return toHex(bin(o, field, length))
}

/** uint256 as big-endian bytes without leading zeros (canonical: a leading zero byte is rejected). */
function uint(o: Wire, field: string): bigint {
  const b = bin(o, field, undefined, 32)
  if (b.length > 0 && b[0] === 0) throw malformed(field, 'must be minimal big-endian')
  return bytesToUint(b)
}

function text(o: Wire, field: string): string {
  const v = o[field]
  if (typeof v !== 'string' || v.length > MAX_TEXT) throw malformed(field, `must be a string ≤ ${MAX_TEXT}`)
  return v
}

function map(o: Wire, field: string): Wire {
  const v = o[field]
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) {
    throw malformed(field, 'must be a map')
  }
  return v as Wire
}

function bool(o: Wire, field: string): boolean {
  const v = o[field]
  if (typeof v !== 'boolean') throw malformed(field, 'must be true or false')
  return v
}

/** The largest `hello.range.last`, readings (2^31 − 1). */
export const MAX_RANGE_LAST = 0x7fff_ffff

/**
 * `hello.range` (SPEC.md §History): `last` excludes `from` and `to`, `live` excludes `to`, and
 * `from ≤ to`.
 */
function rangeFrom(r: Wire): HistoryRange {
  const range: HistoryRange = {}
  if (r.from !== undefined) range.from = int(r, 'from')
  if (r.to !== undefined) range.to = int(r, 'to')
  if (r.last !== undefined) {
    range.last = int(r, 'last', MAX_RANGE_LAST)
    if (range.last < 1) throw malformed('range.last', 'must be at least 1')
  }
  if (r.start !== undefined) range.start = int(r, 'start')
  if (r.end !== undefined) range.end = int(r, 'end')
  if (r.live !== undefined) range.live = bool(r, 'live')
  if (r.resume !== undefined) range.resume = bool(r, 'resume')
  if (range.last !== undefined && (range.from !== undefined || range.to !== undefined)) {
    throw malformed('range', 'takes last or from/to, not both')
  }
  const byPosition = range.start !== undefined || range.end !== undefined
  if (byPosition && (range.last !== undefined || range.from !== undefined || range.to !== undefined)) {
    throw malformed('range', 'takes positions (start, end), times (from, to) or last, one of them')
  }
  if (range.live && (range.to !== undefined || range.end !== undefined)) {
    throw malformed('range', 'cannot be live and end')
  }
  if (range.start !== undefined && range.end !== undefined && range.start > range.end) {
    throw malformed('range', 'starts after it ends (start > end)')
  }
  if (range.from !== undefined && range.to !== undefined && range.from > range.to) {
    throw malformed('range', 'starts after it ends (from > to)')
  }
  return range
}

function rangeToWire(range: HistoryRange): Wire {
  return {
    ...(range.from !== undefined ? { from: u(range.from) } : {}),
    ...(range.to !== undefined ? { to: u(range.to) } : {}),
    ...(range.last !== undefined ? { last: u(range.last) } : {}),
    ...(range.start !== undefined ? { start: u(range.start) } : {}),
    ...(range.end !== undefined ? { end: u(range.end) } : {}),
    ...(range.live !== undefined ? { live: range.live } : {}),
    ...(range.resume !== undefined ? { resume: range.resume } : {}),
  }
}

/** Arguments of a job, at most. */
const MAX_JOB_ARGS = 64

function jobQuoteFrom(q: Wire): JobQuote {
  return {
    provider: hexField(q, 'provider', 20),
    productId: uint(q, 'productId'),
    quoteId: hexField(q, 'quoteId', 32),
    moduleHash: hexField(q, 'moduleHash', 32),
    argsHash: hexField(q, 'argsHash', 32),
    input: text(q, 'input'),
    unitPrice: uint(q, 'unitPrice'),
    startUnits: int(q, 'startUnits', MAX_UINT32),
    cpuMsPerUnit: int(q, 'cpuMsPerUnit', MAX_UINT32),
    maxUnits: int(q, 'maxUnits'),
    cpuMs: int(q, 'cpuMs'),
    wallMs: int(q, 'wallMs'),
    memoryBytes: int(q, 'memoryBytes'),
    outputBytes: int(q, 'outputBytes'),
    expiresAt: int(q, 'expiresAt'),
  }
}

function jobQuoteToWire(q: JobQuote): Wire {
  return {
    provider: fromHex(q.provider),
    productId: uintToBytes(q.productId),
    quoteId: fromHex(q.quoteId),
    moduleHash: fromHex(q.moduleHash),
    argsHash: fromHex(q.argsHash),
    input: q.input,
    unitPrice: uintToBytes(q.unitPrice),
    startUnits: u(q.startUnits),
    cpuMsPerUnit: u(q.cpuMsPerUnit),
    maxUnits: u(q.maxUnits),
    cpuMs: u(q.cpuMs),
    wallMs: u(q.wallMs),
    memoryBytes: u(q.memoryBytes),
    outputBytes: u(q.outputBytes),
    expiresAt: u(q.expiresAt),
  }
}

function jobFrom(j: Wire): JobRequest {
  const { args, sealedArgs, sealResults } = j
  if ((args === undefined) === (sealedArgs === undefined)) {
    throw malformed('job', 'must carry exactly one of args and sealedArgs')
  }
  if (args !== undefined && (!Array.isArray(args) || args.length > MAX_JOB_ARGS)) {
    throw malformed('job.args', `must be an array of at most ${MAX_JOB_ARGS} strings`)
  }
  if (
    sealedArgs !== undefined &&
    (!(sealedArgs instanceof Uint8Array) || sealedArgs.byteLength > MAX_SEALED_ARGS_BYTES)
  ) {
    throw malformed('job.sealedArgs', `must be at most ${MAX_SEALED_ARGS_BYTES} bytes`)
  }
  if (sealResults !== undefined && typeof sealResults !== 'boolean') {
    throw malformed('job.sealResults', 'must be a boolean')
  }
  return {
    quote: jobQuoteFrom(map(j, 'quote')),
    signature: hexField(j, 'signature', 65),
    ...(Array.isArray(args) ? { args: args.map((_, i) => text(args as unknown as Wire, String(i))) } : {}),
    ...(sealedArgs instanceof Uint8Array ? { sealedArgs } : {}),
    ...(sealResults === true ? { sealResults } : {}),
  }
}

function echoFrom(r: Wire): RangeEcho {
  return {
    count: int(r, 'count'),
    from: int(r, 'from'),
    to: int(r, 'to'),
    live: bool(r, 'live'),
    start: int(r, 'start'),
    end: int(r, 'end'),
  }
}

function windowFrom(w: Wire): CreditWindow {
  const window = {
    initial: int(w, 'initial', 1 << 20),
    step: int(w, 'step', 1 << 20),
    max: int(w, 'max', 1 << 20),
  }
  if (window.initial < 1 || window.max < window.initial) throw malformed('window', 'needs 1 ≤ initial ≤ max')
  return window
}

function baseFrom(b: Wire): ResumeBase {
  const sig = bin(b, 'signature', undefined, 65)
  if (sig.length !== 0 && sig.length !== 65) throw malformed('base.signature', 'must be empty or 65 bytes')
  return {
    seq: int(b, 'seq'),
    amount: uint(b, 'amount'),
    ackHash: hexField(b, 'ackHash', 32),
    signature: toHex(sig),
  }
}

function overflowFrom(o: Wire): OverflowPolicy {
  const v = text(o, 'overflow')
  if (!OVERFLOW_SET.has(v)) throw malformed('overflow', 'is not an overflow policy')
  return v as OverflowPolicy
}

function termsFrom(o: Wire): Terms {
  const maxQueuedChunks = int(o, 'maxQueuedChunks', 1 << 20)
  if (maxQueuedChunks < 1) throw malformed('maxQueuedChunks', 'must be at least 1')
  return {
    v: int(o, 'v'),
    productId: uint(o, 'productId'),
    channelId: hexField(o, 'channelId', 32),
    payee: hexField(o, 'payee', 20),
    pricePerChunk: uint(o, 'pricePerChunk'),
    maxChunkBytes: int(o, 'maxChunkBytes', 16 * 1024 * 1024),
    window: windowFrom(map(o, 'window')),
    receiptEvery: int(o, 'receiptEvery', 1 << 20),
    paymentTimeoutMs: int(o, 'paymentTimeoutMs'),
    heartbeatMs: int(o, 'heartbeatMs', MAX_UINT32),
    idleTimeoutMs: int(o, 'idleTimeoutMs', MAX_UINT32),
    maxQueuedChunks,
    overflow: overflowFrom(o),
    chainId: int(o, 'chainId'),
    channels: hexField(o, 'channels', 20),
    expiresAt: int(o, 'expiresAt'),
    base: baseFrom(map(o, 'base')),
  }
}

/**
 * Decodes one frame and validates every field (types, lengths, ranges).
 *
 * @param bytes - one WebSocket binary message
 * @param maxFrameBytes - size limit, bytes
 * @returns the typed frame
 * @throws TrickleError `FRAME_TOO_LARGE` above the limit, `FRAME_MALFORMED` for anything else wrong
 *   (not msgpack, not a map, unknown type tag, missing or mistyped field)
 */
export function decodeFrame(bytes: Uint8Array, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): Frame {
  if (bytes.byteLength > maxFrameBytes) {
    throw new TrickleError('FRAME_TOO_LARGE', `frame of ${bytes.byteLength} bytes exceeds ${maxFrameBytes}`)
  }
  let o: unknown
  try {
    o = packr.unpack(bytes)
  } catch (cause) {
    throw new TrickleError('FRAME_MALFORMED', 'malformed frame: not msgpack', { cause })
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o) || o instanceof Uint8Array) {
    throw malformed('frame', 'must be a map')
  }
  const w = o as Wire
  switch (w.t) {
    case 'chunk':
      return { t: 'chunk', seq: int(w, 'seq'), data: bin(w, 'data', undefined, maxFrameBytes) }
    case 'receipt': {
      return {
        t: 'receipt',
        seq: int(w, 'seq'),
        amount: uint(w, 'amount'),
        ackHash: hexField(w, 'ackHash', 32),
        signature: hexField(w, 'signature', 65),
      }
    }
    case 'hello': {
      const hello: Frame = {
        t: 'hello',
        v: int(w, 'v'),
        productId: uint(w, 'productId'),
        channelId: hexField(w, 'channelId', 32),
      }
      if (w.range !== undefined) hello.range = rangeFrom(map(w, 'range'))
      if (w.job !== undefined) hello.job = jobFrom(map(w, 'job'))
      if (hello.range !== undefined && hello.job !== undefined)
        throw malformed('hello', 'has a range and a job')
      return hello
    }
    case 'terms': {
      const terms: Frame = {
        t: 'terms',
        ...termsFrom(w),
        signature: hexField(w, 'signature', 65),
        nonce: hexField(w, 'nonce', 32),
      }
      if (w.range !== undefined) terms.range = echoFrom(map(w, 'range'))
      return terms
    }
    case 'accept': {
      const accept: Frame = {
        t: 'accept',
        termsDigest: hexField(w, 'termsDigest', 32),
        signature: hexField(w, 'signature', 65),
      }
      if (w.maxChunks !== undefined) accept.maxChunks = int(w, 'maxChunks')
      return accept
    }
    case 'payment_required':
      return {
        t: 'payment_required',
        seq: int(w, 'seq'),
        owed: uint(w, 'owed'),
        deadline: int(w, 'deadline'),
      }
    case 'close': {
      const reason = text(w, 'reason')
      if (!CLOSE_REASON_SET.has(reason)) throw malformed('reason', 'is not a close reason')
      return { t: 'close', reason: reason as CloseReason, message: text(w, 'message') }
    }
    case 'error': {
      const code = text(w, 'code')
      if (!isWireErrorCode(code)) throw malformed('code', 'is not a wire error code')
      return { t: 'error', code, message: text(w, 'message') }
    }
    case 'ping':
      return { t: 'ping', n: int(w, 'n') }
    case 'pong':
      return { t: 'pong', n: int(w, 'n') }
    default:
      throw malformed('t', 'is not a frame type')
  }
}

function termsToWire(terms: Terms): Wire {
  return {
    v: terms.v,
    productId: uintToBytes(terms.productId),
    channelId: fromHex(terms.channelId),
    payee: fromHex(terms.payee),
    pricePerChunk: uintToBytes(terms.pricePerChunk),
    maxChunkBytes: terms.maxChunkBytes,
    window: { initial: terms.window.initial, step: terms.window.step, max: terms.window.max },
    receiptEvery: terms.receiptEvery,
    paymentTimeoutMs: u(terms.paymentTimeoutMs),
    heartbeatMs: u(terms.heartbeatMs),
    idleTimeoutMs: u(terms.idleTimeoutMs),
    maxQueuedChunks: terms.maxQueuedChunks,
    overflow: terms.overflow,
    chainId: u(terms.chainId),
    channels: fromHex(terms.channels),
    expiresAt: u(terms.expiresAt),
    base: {
      seq: u(terms.base.seq),
      amount: uintToBytes(terms.base.amount),
      ackHash: fromHex(terms.base.ackHash),
      signature: fromHex(terms.base.signature),
    },
  }
}

/**
 * Encodes a frame as msgpack (SPEC.md §Frames). Field order is fixed, so equal frames give equal bytes.
 *
 * @param frame - a valid frame (not re-validated: encode only what you built)
 * @returns the bytes of one WebSocket binary message
 */
export function encodeFrame(frame: Frame): Uint8Array {
  switch (frame.t) {
    case 'chunk':
      return packr.pack({ t: 'chunk', seq: u(frame.seq), data: frame.data })
    case 'receipt':
      return packr.pack({
        t: 'receipt',
        seq: u(frame.seq),
        amount: uintToBytes(frame.amount),
        ackHash: fromHex(frame.ackHash),
        signature: fromHex(frame.signature),
      })
    case 'hello':
      return packr.pack({
        t: 'hello',
        v: frame.v,
        productId: uintToBytes(frame.productId),
        channelId: fromHex(frame.channelId),
        ...(frame.range !== undefined ? { range: rangeToWire(frame.range) } : {}),
        ...(frame.job !== undefined
          ? {
              job: {
                quote: jobQuoteToWire(frame.job.quote),
                signature: fromHex(frame.job.signature),
                ...(frame.job.args !== undefined ? { args: frame.job.args } : {}),
                ...(frame.job.sealedArgs !== undefined ? { sealedArgs: frame.job.sealedArgs } : {}),
                ...(frame.job.sealResults ? { sealResults: true } : {}),
              },
            }
          : {}),
      })
    case 'terms': {
      const { t: _t, signature, nonce, range, ...terms } = frame
      return packr.pack({
        t: 'terms',
        ...termsToWire(terms),
        signature: fromHex(signature),
        nonce: fromHex(nonce),
        ...(range !== undefined
          ? {
              range: {
                count: u(range.count),
                from: u(range.from),
                to: u(range.to),
                live: range.live,
                start: u(range.start),
                end: u(range.end),
              },
            }
          : {}),
      })
    }
    case 'accept':
      return packr.pack({
        t: 'accept',
        termsDigest: fromHex(frame.termsDigest),
        signature: fromHex(frame.signature),
        ...(frame.maxChunks !== undefined ? { maxChunks: u(frame.maxChunks) } : {}),
      })
    case 'payment_required':
      return packr.pack({
        t: 'payment_required',
        seq: u(frame.seq),
        owed: uintToBytes(frame.owed),
        deadline: u(frame.deadline),
      })
    case 'close':
      return packr.pack({ t: 'close', reason: frame.reason, message: frame.message })
    case 'error':
      return packr.pack({ t: 'error', code: frame.code, message: frame.message })
    case 'ping':
    case 'pong':
      return packr.pack({ t: frame.t, n: u(frame.n) })
  }
}
