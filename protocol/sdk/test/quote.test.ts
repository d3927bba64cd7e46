import { describe, expect, it } from 'vitest'
import { quoteChunks, quoteProduct } from '../src/index.ts'

/** What quoteProduct reads of a descriptor: 10^12 wei per chunk, 150 chunks/s (3 sensors at 50/s). */
const RATED = { pricePerChunk: '1000000000000', chunksPerSecond: 150 }
const UNRATED = { pricePerChunk: '1000000000000' }

describe('quoteChunks', () => {
  it('rounds a duration up to whole chunks, but not for float error: an hour at 1.1 chunks/s is 3960 chunks', () => {
    const hour = (chunksPerSecond: number) =>
      quoteChunks(1n, { durationMs: 3_600_000, chunksPerSecond }).chunks
    // 3_600_000 × 1.1 / 1000 is 3960.0000000000005 in float64, 3_600_000 × 0.07 / 1000 is 252.00000000000003.
    expect(hour(1.1)).toBe(3960)
    expect(hour(0.07)).toBe(252)
    expect(hour(1 / 7)).toBe(515)
    expect(quoteChunks(1n, { durationMs: 1, chunksPerSecond: 1 }).chunks).toBe(1)
    expect(quoteChunks(1n, { durationMs: 2_500, chunksPerSecond: 4 }).chunks).toBe(10)
  })
})

describe('quoteProduct', () => {
  it('prices an hour at the descriptor’s rate: ceil(3600 × chunksPerSecond) chunks', () => {
    expect(quoteProduct(RATED, { durationMs: 3_600_000 })).toEqual({
      pricePerChunk: 10n ** 12n,
      chunks: 540_000,
      amount: 540_000n * 10n ** 12n,
      chunksPerSecond: 150,
    })
    // A fractional rate rounds the chunk count up.
    expect(quoteProduct({ ...UNRATED, chunksPerSecond: 1 / 7 }, { durationMs: 3_600_000 }).chunks).toBe(515)
  })

  it('prices a duration at the caller’s rate when one is given, whatever the descriptor states', () => {
    expect(quoteProduct(RATED, { durationMs: 2_500, chunksPerSecond: 4 })).toMatchObject({
      chunks: 10,
      chunksPerSecond: 4,
    })
    expect(quoteProduct(UNRATED, { durationMs: 2_500, chunksPerSecond: 4 }).amount).toBe(10n * 10n ** 12n)
  })

  it('refuses a duration with INVALID_ARGUMENT when neither the caller nor the descriptor states a rate', () => {
    expect(() => quoteProduct(UNRATED, { durationMs: 1_000 })).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining('the descriptor states no rate'),
      }),
    )
  })

  it('prices a number of chunks without any rate, as quoteChunks does', () => {
    expect(quoteProduct(UNRATED, { chunks: 30 })).toEqual(quoteChunks(10n ** 12n, { chunks: 30 }))
    expect(quoteProduct(UNRATED, { chunks: 30 })).not.toHaveProperty('chunksPerSecond')
  })

  it('refuses a negative duration or a negative rate of the caller with INVALID_ARGUMENT', () => {
    for (const request of [{ durationMs: -1 }, { durationMs: 1_000, chunksPerSecond: -1 }]) {
      expect(() => quoteProduct(RATED, request)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      )
    }
  })
})
