import fc from 'fast-check'
import { Packr } from 'msgpackr'
import { describe, expect, it } from 'vitest'
import {
  CLOSE_REASONS,
  DEFAULT_MAX_FRAME_BYTES,
  decodeFrame,
  encodeFrame,
  type Frame,
  type Hex,
  LOCAL_ERROR_CODES,
  type Terms,
  TrickleError,
  toHex,
  WIRE_ERROR_CODES,
  wireCodeOf,
} from '../src/index.ts'

/** Packs raw maps the way the codec does, to hand-craft frames the encoder would never produce. */
const raw = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true })

const UINT256_MAX = 2n ** 256n - 1n

const hexBytes = (length: number): fc.Arbitrary<Hex> =>
  fc.uint8Array({ minLength: length, maxLength: length }).map(toHex)
const uint256 = fc.bigInt({ min: 0n, max: UINT256_MAX })
const safeNat = fc.maxSafeNat()
/** Any Unicode text the codec accepts (≤ 1024 UTF-16 units): 512 code points take at most 1024 units. */
const text = fc.string({ unit: 'binary', maxLength: 512 })
const chunkData = fc.uint8Array({ maxLength: 4096 })

const windowArb = fc
  .record({ initial: fc.integer({ min: 1, max: 1 << 20 }), extra: fc.nat({ max: 1 << 20 }) })
  .chain(({ initial, extra }) =>
    fc.record({
      initial: fc.constant(initial),
      step: fc.nat({ max: 1 << 20 }),
      max: fc.constant(Math.min(1 << 20, initial + extra)),
    }),
  )

const termsArb: fc.Arbitrary<Terms> = fc.record({
  v: safeNat,
  productId: uint256,
  channelId: hexBytes(32),
  payee: hexBytes(20),
  pricePerChunk: uint256,
  maxChunkBytes: fc.nat({ max: 16 * 1024 * 1024 }),
  window: windowArb,
  receiptEvery: fc.nat({ max: 1 << 20 }),
  paymentTimeoutMs: safeNat,
  heartbeatMs: fc.nat({ max: 0xffff_ffff }),
  idleTimeoutMs: fc.nat({ max: 0xffff_ffff }),
  maxQueuedChunks: fc.integer({ min: 1, max: 1 << 20 }),
  overflow: fc.constantFrom('drop_oldest' as const, 'drop_newest' as const),
  chainId: safeNat,
  channels: hexBytes(20),
  expiresAt: safeNat,
  base: fc.record({
    seq: safeNat,
    amount: uint256,
    ackHash: hexBytes(32),
    signature: fc.oneof(fc.constant('0x' as Hex), hexBytes(65)),
  }),
})

const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({ t: fc.constant('hello' as const), v: safeNat, productId: uint256, channelId: hexBytes(32) }),
  fc
    .record({ terms: termsArb, signature: hexBytes(65), nonce: hexBytes(32) })
    .map(({ terms, signature, nonce }): Frame => ({ t: 'terms', ...terms, signature, nonce })),
  fc.record({ t: fc.constant('accept' as const), termsDigest: hexBytes(32), signature: hexBytes(65) }),
  fc.record({ t: fc.constant('chunk' as const), seq: safeNat, data: chunkData }),
  fc.record({
    t: fc.constant('receipt' as const),
    seq: safeNat,
    amount: uint256,
    ackHash: hexBytes(32),
    signature: hexBytes(65),
  }),
  fc.record({ t: fc.constant('payment_required' as const), seq: safeNat, owed: uint256, deadline: safeNat }),
  fc.record({ t: fc.constant('close' as const), reason: fc.constantFrom(...CLOSE_REASONS), message: text }),
  fc.record({ t: fc.constant('error' as const), code: fc.constantFrom(...WIRE_ERROR_CODES), message: text }),
  fc.record({ t: fc.constant('ping' as const), n: safeNat }),
  fc.record({ t: fc.constant('pong' as const), n: safeNat }),
)

/** Chunk payloads decode as Buffers; compare them as plain bytes. */
function normalize(frame: Frame): Frame {
  return frame.t === 'chunk' ? { ...frame, data: Uint8Array.from(frame.data) } : frame
}

/** The error code `fn` throws; fails the test when it throws something that is not a TrickleError. */
function thrownCode(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(TrickleError)
    return (err as TrickleError).code
  }
  throw new Error('expected a throw')
}

const sig65 = new Uint8Array(65).fill(7)
const hash32 = new Uint8Array(32).fill(9)
const validReceipt = { t: 'receipt', seq: 3, amount: Uint8Array.of(1, 0), ackHash: hash32, signature: sig65 }

describe('codec', () => {
  it('reads 64-bit integers from other msgpack encoders (uint64 timestamps) as numbers', () => {
    // {t: 'ping', n: 2^32} with n written as uint64 (cf), as Go or Rust msgpack libraries do
    const bytes = Uint8Array.from(Buffer.from('82a174a470696e67a16ecf0000000100000000', 'hex'))
    expect(decodeFrame(bytes)).toEqual({ t: 'ping', n: 2 ** 32 })
    expect(decodeFrame(encodeFrame({ t: 'ping', n: 2 ** 40 }))).toEqual({ t: 'ping', n: 2 ** 40 })
  })

  it('round-trips every frame type unchanged (encode then decode)', () => {
    fc.assert(
      fc.property(frameArb, (frame) => {
        expect(normalize(decodeFrame(encodeFrame(frame)))).toEqual(normalize(frame))
      }),
      { numRuns: 500 },
    )
  })

  it('round-trips the extreme amounts 0 and 2^256 - 1', () => {
    for (const amount of [0n, 1n, 255n, 256n, UINT256_MAX]) {
      const frame: Frame = { t: 'receipt', seq: 0, amount, ackHash: toHex(hash32), signature: toHex(sig65) }
      expect(decodeFrame(encodeFrame(frame))).toEqual(frame)
    }
  })

  it('encodes equal frames to equal bytes', () => {
    fc.assert(
      fc.property(frameArb, (frame) => {
        const again = structuredClone(frame)
        expect(encodeFrame(again)).toEqual(encodeFrame(frame))
      }),
      { numRuns: 100 },
    )
  })

  it('rejects a frame above the size limit with FRAME_TOO_LARGE', () => {
    const bytes = encodeFrame({ t: 'chunk', seq: 0, data: new Uint8Array(4096) })
    expect(thrownCode(() => decodeFrame(bytes, 1024))).toBe('FRAME_TOO_LARGE')
    expect(decodeFrame(bytes, bytes.byteLength).t).toBe('chunk')
  })

  it('rejects a frame above the default limit of 256 KiB with FRAME_TOO_LARGE', () => {
    const bytes = encodeFrame({ t: 'chunk', seq: 0, data: new Uint8Array(DEFAULT_MAX_FRAME_BYTES) })
    expect(bytes.byteLength).toBeGreaterThan(DEFAULT_MAX_FRAME_BYTES)
    expect(thrownCode(() => decodeFrame(bytes))).toBe('FRAME_TOO_LARGE')
  })

  it('decodes random bytes to a valid frame or throws FRAME_MALFORMED, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        let frame: Frame
        try {
          frame = decodeFrame(bytes)
        } catch (err) {
          expect(err).toBeInstanceOf(TrickleError)
          expect((err as TrickleError).code).toBe('FRAME_MALFORMED')
          return
        }
        // Whatever decodes is a well-formed frame: it survives another round trip.
        expect(normalize(decodeFrame(encodeFrame(frame)))).toEqual(normalize(frame))
      }),
      { numRuns: 1000 },
    )
  })

  it('decodes valid frames with one corrupted byte to a valid frame or throws FRAME_MALFORMED', () => {
    const corrupted = fc
      .tuple(frameArb, fc.nat(), fc.integer({ min: 0, max: 255 }))
      .map(([frame, at, value]) => {
        const bytes = Uint8Array.from(encodeFrame(frame))
        bytes[at % bytes.length] = value
        return bytes
      })
    fc.assert(
      fc.property(corrupted, (bytes) => {
        try {
          decodeFrame(bytes)
        } catch (err) {
          expect(err).toBeInstanceOf(TrickleError)
          expect((err as TrickleError).code).toBe('FRAME_MALFORMED')
        }
      }),
      { numRuns: 1000 },
    )
  })

  it('rejects bytes that are not msgpack with FRAME_MALFORMED', () => {
    expect(thrownCode(() => decodeFrame(Uint8Array.of(0xc1)))).toBe('FRAME_MALFORMED')
    expect(thrownCode(() => decodeFrame(new Uint8Array(0)))).toBe('FRAME_MALFORMED')
    expect(thrownCode(() => decodeFrame(raw.pack(validReceipt).subarray(0, 10)))).toBe('FRAME_MALFORMED')
  })

  it('rejects a value that is not a map with FRAME_MALFORMED', () => {
    for (const value of [[1, 2], 'receipt', 42, null, true, new Uint8Array(8)]) {
      expect(thrownCode(() => decodeFrame(raw.pack(value)))).toBe('FRAME_MALFORMED')
    }
  })

  it('rejects an unknown or missing type tag with FRAME_MALFORMED', () => {
    expect(thrownCode(() => decodeFrame(raw.pack({ t: 'bogus', n: 1 })))).toBe('FRAME_MALFORMED')
    expect(thrownCode(() => decodeFrame(raw.pack({ n: 1 })))).toBe('FRAME_MALFORMED')
    expect(thrownCode(() => decodeFrame(raw.pack({ t: 7, n: 1 })))).toBe('FRAME_MALFORMED')
  })

  it('rejects a frame with a missing field with FRAME_MALFORMED', () => {
    for (const field of ['seq', 'amount', 'ackHash', 'signature']) {
      const frame: Record<string, unknown> = { ...validReceipt }
      delete frame[field]
      expect(thrownCode(() => decodeFrame(raw.pack(frame)))).toBe('FRAME_MALFORMED')
    }
    expect(decodeFrame(raw.pack(validReceipt)).t).toBe('receipt')
  })

  it('rejects addresses and hashes of the wrong length with FRAME_MALFORMED', () => {
    const terms = encodeTermsWire()
    expect(decodeFrame(raw.pack(terms)).t).toBe('terms')
    for (const [field, length] of [
      ['payee', 19],
      ['payee', 21],
      ['channels', 32],
      ['channelId', 20],
      ['signature', 64],
    ] as const) {
      const bad = { ...terms, [field]: new Uint8Array(length) }
      expect(thrownCode(() => decodeFrame(raw.pack(bad)))).toBe('FRAME_MALFORMED')
    }
    const hello = { t: 'hello', v: 1, productId: Uint8Array.of(1), channelId: new Uint8Array(31) }
    expect(thrownCode(() => decodeFrame(raw.pack(hello)))).toBe('FRAME_MALFORMED')
  })

  it('rejects a non-minimal uint (leading zero byte) or one above 256 bits with FRAME_MALFORMED', () => {
    for (const amount of [Uint8Array.of(0), Uint8Array.of(0, 1), new Uint8Array(33).fill(1)]) {
      expect(thrownCode(() => decodeFrame(raw.pack({ ...validReceipt, amount })))).toBe('FRAME_MALFORMED')
    }
    const owed = { t: 'payment_required', seq: 1, owed: Uint8Array.of(0, 0xff), deadline: 5 }
    expect(thrownCode(() => decodeFrame(raw.pack(owed)))).toBe('FRAME_MALFORMED')
  })

  it('rejects an amount sent as a number instead of bytes with FRAME_MALFORMED', () => {
    expect(thrownCode(() => decodeFrame(raw.pack({ ...validReceipt, amount: 5 })))).toBe('FRAME_MALFORMED')
  })

  it('rejects an unknown close reason or error code with FRAME_MALFORMED', () => {
    const close = { t: 'close', reason: 'bored', message: '' }
    expect(thrownCode(() => decodeFrame(raw.pack(close)))).toBe('FRAME_MALFORMED')
    const error = { t: 'error', code: 'NOT_A_CODE', message: '' }
    expect(thrownCode(() => decodeFrame(raw.pack(error)))).toBe('FRAME_MALFORMED')
    const longMessage = { t: 'close', reason: 'done', message: 'x'.repeat(1025) }
    expect(thrownCode(() => decodeFrame(raw.pack(longMessage)))).toBe('FRAME_MALFORMED')
  })

  it('rejects every local code in an error frame, so a peer cannot make one appear (SPEC §Error codes)', () => {
    for (const code of LOCAL_ERROR_CODES) {
      expect(thrownCode(() => decodeFrame(raw.pack({ t: 'error', code, message: '' })))).toBe(
        'FRAME_MALFORMED',
      )
    }
    expect(decodeFrame(raw.pack({ t: 'error', code: 'INTERNAL', message: '' }))).toMatchObject({
      code: 'INTERNAL',
    })
  })

  it('sends INTERNAL in place of a local code, never the local code', () => {
    expect(wireCodeOf('SPENDING_CAP_REACHED')).toBe('INTERNAL')
    expect(wireCodeOf('RECEIPT_STALE')).toBe('RECEIPT_STALE')
  })

  it('rejects a negative, fractional, non-numeric or unsafe seq with FRAME_MALFORMED', () => {
    for (const seq of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '3', 2 ** 53, 2n ** 60n]) {
      const chunk = { t: 'chunk', seq, data: Uint8Array.of(1) }
      expect(thrownCode(() => decodeFrame(raw.pack(chunk)))).toBe('FRAME_MALFORMED')
    }
  })

  it('round-trips hello ranges and the terms range answer (SPEC §History)', () => {
    const channelId = `0x${'11'.repeat(32)}` as Hex
    for (const range of [
      {},
      { from: 1, to: 2 ** 41 },
      { last: 100, live: true },
      { from: 5, live: true, resume: true },
      { start: 7, end: 9, resume: true },
    ]) {
      const hello: Frame = { t: 'hello', v: 1, productId: 1n, channelId, range }
      expect(decodeFrame(encodeFrame(hello))).toEqual(hello)
    }
    const terms = decodeFrame(
      raw.pack({
        ...encodeTermsWire(),
        range: { count: 3, from: 10, to: 20, live: false, start: 4, end: 6 },
      }),
    )
    expect(terms).toMatchObject({
      t: 'terms',
      range: { count: 3, from: 10, to: 20, live: false, start: 4, end: 6 },
    })
  })

  it('rejects a hello range that mixes last with from/to, is live with an end, starts after it ends, or mistypes a key', () => {
    const hello = { t: 'hello', v: 1, productId: Uint8Array.of(1), channelId: new Uint8Array(32).fill(1) }
    for (const range of [
      { last: 5, from: 1 },
      { last: 0 },
      { live: true, to: 5 },
      { start: 3, from: 1 },
      { start: 9, end: 7 },
      { live: true, end: 5 },
      { from: 6, to: 5 },
      { live: 1 },
      { resume: 'yes' },
      { from: -1 },
      [1, 2],
    ]) {
      expect(thrownCode(() => decodeFrame(raw.pack({ ...hello, range })))).toBe('FRAME_MALFORMED')
    }
  })

  it('rejects terms whose credit window is empty or inverted with FRAME_MALFORMED', () => {
    const terms = encodeTermsWire()
    for (const window of [
      { initial: 0, step: 1, max: 4 },
      { initial: 5, step: 1, max: 4 },
      { initial: 1, step: 1 },
    ]) {
      expect(thrownCode(() => decodeFrame(raw.pack({ ...terms, window })))).toBe('FRAME_MALFORMED')
    }
  })

  it('rejects a resume base signature that is neither empty nor 65 bytes with FRAME_MALFORMED', () => {
    const terms = encodeTermsWire()
    const base = { ...(terms['base'] as object), signature: new Uint8Array(64) }
    expect(thrownCode(() => decodeFrame(raw.pack({ ...terms, base })))).toBe('FRAME_MALFORMED')
  })

  it('rejects terms with an unknown overflow policy or maxQueuedChunks of 0 with FRAME_MALFORMED', () => {
    const terms = encodeTermsWire()
    expect(thrownCode(() => decodeFrame(raw.pack({ ...terms, overflow: 'drop_all' })))).toBe(
      'FRAME_MALFORMED',
    )
    expect(thrownCode(() => decodeFrame(raw.pack({ ...terms, maxQueuedChunks: 0 })))).toBe('FRAME_MALFORMED')
    expect(thrownCode(() => decodeFrame(raw.pack({ ...terms, heartbeatMs: 2 ** 32 })))).toBe(
      'FRAME_MALFORMED',
    )
  })

  it('decodes the close reason idle_timeout and the error code IDLE_TIMEOUT', () => {
    expect(decodeFrame(encodeFrame({ t: 'close', reason: 'idle_timeout', message: '' }))).toMatchObject({
      reason: 'idle_timeout',
    })
    expect(decodeFrame(encodeFrame({ t: 'error', code: 'IDLE_TIMEOUT', message: 'x' }))).toMatchObject({
      code: 'IDLE_TIMEOUT',
    })
  })
})

/** A valid terms frame as its raw wire map (decoded from the codec's own encoding). */
function encodeTermsWire(): Record<string, unknown> {
  const terms: Frame = {
    t: 'terms',
    v: 1,
    productId: 7n,
    channelId: toHex(hash32),
    payee: `0x${'11'.repeat(20)}`,
    pricePerChunk: 1000n,
    maxChunkBytes: 4096,
    window: { initial: 4, step: 2, max: 16 },
    receiptEvery: 2,
    paymentTimeoutMs: 5000,
    heartbeatMs: 10_000,
    idleTimeoutMs: 30_000,
    maxQueuedChunks: 1024,
    overflow: 'drop_oldest',
    chainId: 31337,
    channels: `0x${'22'.repeat(20)}`,
    expiresAt: 1_700_000_000_000,
    base: { seq: 0, amount: 0n, ackHash: `0x${'00'.repeat(32)}`, signature: '0x' },
    signature: toHex(sig65),
    nonce: toHex(hash32),
  }
  return raw.unpack(encodeFrame(terms)) as Record<string, unknown>
}
