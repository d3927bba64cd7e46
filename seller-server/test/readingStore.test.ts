import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  DUPLICATE_WINDOW,
  type IncomingMessage,
  openReadingStore,
  RESUME_POINTS_PER_KEY,
} from '../src/readingStore.ts'

const text = (s: string) => new TextEncoder().encode(s)
const message = (n: number, extra: Partial<IncomingMessage> = {}): IncomingMessage => ({
  topic: 'site/t',
  payload: text(`{"n":${n}}`),
  packetId: (n % 65_535) + 1,
  dup: false,
  ...extra,
})
const dbPath = () => join(mkdtempSync(join(tmpdir(), 'trickle-readings-')), 'readings.sqlite')

describe('ReadingStore', () => {
  it('selects the readings of a history range: by recording time, the latest N, after a resume point (SPEC §History)', () => {
    const store = openReadingStore(':memory:')
    // Ten readings of `a`, recorded at 1000, 1010, … 1090 ms; one of `b` in between.
    for (let n = 0; n < 10; n++) {
      store.record(['a'], message(n), 1000 + 10 * n)
      if (n === 4) store.record(['b'], message(100), 1045)
    }
    expect(store.select('a', { from: 1020, to: 1050 })).toEqual({
      first: 2,
      last: 5,
      count: 4,
      from: 1020,
      to: 1050,
    })
    expect(store.select('a', { from: 1021, to: 1049 })).toEqual({
      first: 3,
      last: 4,
      count: 2,
      from: 1030,
      to: 1040,
    })
    expect(store.select('a', { from: 1085 })).toEqual({ first: 9, last: 9, count: 1, from: 1090, to: 1090 })
    expect(store.select('a', { to: 1005 })).toMatchObject({ first: 0, last: 0, count: 1 })
    expect(store.select('a', {})).toMatchObject({ first: 0, last: 9, count: 10 })
    expect(store.select('a', { last: 3 })).toMatchObject({ first: 7, last: 9, count: 3, from: 1070 })
    expect(store.select('a', { last: 50 })).toMatchObject({ first: 0, last: 9, count: 10 })
    // Resumed after position 3: the rest of the range.
    expect(store.select('a', { from: 1020, to: 1050 }, 3)).toMatchObject({ first: 4, last: 5, count: 2 })
    // Nothing there.
    expect(store.select('a', { from: 2000 })).toBeUndefined()
    expect(store.select('a', { from: 1041, to: 1049 })).toBeUndefined()
    expect(store.select('a', { from: 1020, to: 1050 }, 5)).toBeUndefined()
    expect(store.select('c', {})).toBeUndefined()
    // By feed positions, exactly (clipped to what is held).
    expect(store.select('a', { start: 3, end: 4, byPosition: true })).toMatchObject({
      first: 3,
      last: 4,
      count: 2,
    })
    expect(store.select('a', { start: 8, end: 50, byPosition: true })).toMatchObject({
      first: 8,
      last: 9,
      count: 2,
    })
    // A page of the feed: after a position, through another, at most `limit`.
    expect(store.readPage('a', 2, 6, 3).map((r) => r.position)).toEqual([3, 4, 5])
    expect(store.readPage('a', 5, 6, 3).map((r) => r.position)).toEqual([6])
    store.close()
  })

  it('numbers each product from 0 and continues the positions after it is reopened', () => {
    const path = dbPath()
    const first = openReadingStore(path)
    expect(first.record(['a', 'b'], message(0), 1)).toEqual(
      new Map([
        ['a', 0],
        ['b', 0],
      ]),
    )
    expect(first.record(['a'], message(1), 2)).toEqual(new Map([['a', 1]]))
    first.close()
    const again = openReadingStore(path)
    expect(again.nextPosition('a')).toBe(2)
    expect(again.record(['a', 'b'], message(2), 3)).toEqual(
      new Map([
        ['a', 2],
        ['b', 1],
      ]),
    )
    expect(again.readAfter('a', 0, 10).map((r) => [r.position, new TextDecoder().decode(r.payload)])).toEqual(
      [
        [1, '{"n":1}'],
        [2, '{"n":2}'],
      ],
    )
    expect(again.readAfter('b', -1, 10)[1]).toMatchObject({ position: 1, topic: 'site/t', packetId: 3 })
    again.close()
  })

  it('reads the latest readings after a position when more than the limit are held', () => {
    const store = openReadingStore(':memory:')
    for (let n = 0; n < 10; n++) store.record(['a'], message(n), n)
    expect(store.readAfter('a', 2, 3).map((r) => r.position)).toEqual([7, 8, 9])
    expect(store.readAfter('a', 9, 3)).toEqual([])
    store.close()
  })

  it('prunes a product to its retention in batches, oldest first, keeping the positions', () => {
    const store = openReadingStore(':memory:', { retention: { maxReadings: 2000 } })
    for (let n = 0; n < 3100; n++) store.record(['a'], message(n), n)
    const held = store.readAfter('a', -1, 10_000)
    // Pruned once past 2000 + 1024 readings, down to 2000, then 75 more; the newest are all there.
    expect(held.length).toBe(2075)
    expect(held.at(-1)?.position).toBe(3099)
    expect(held.map((r) => r.position)).toEqual(
      Array.from({ length: held.length }, (_, i) => 3100 - held.length + i),
    )
    store.close()
  })

  it('prunes a product to its byte retention', () => {
    const store = openReadingStore(':memory:', { retention: { maxBytes: 1000 } })
    for (let n = 0; n < 200; n++) store.record(['a'], message(n, { payload: new Uint8Array(100) }), n)
    const held = store.readAfter('a', -1, 10_000)
    expect(held.length).toBeLessThanOrEqual(10)
    expect(held.length).toBeGreaterThanOrEqual(9)
    expect(held.at(-1)?.position).toBe(199)
    store.close()
  })

  describe('duplicates rule', () => {
    it('drops a redelivery (DUP) of a recorded reading: same topic, packet id and payload', () => {
      const store = openReadingStore(':memory:')
      store.record(['a', 'b'], message(1), 1)
      expect(store.record(['a', 'b'], message(1, { dup: true }), 2).size).toBe(0)
      expect(store.nextPosition('a')).toBe(1)
      expect(store.nextPosition('b')).toBe(1)
      store.close()
    })

    it('records a message with the DUP flag that differs in payload, topic or packet id', () => {
      const store = openReadingStore(':memory:')
      store.record(['a'], message(1), 1)
      expect(store.record(['a'], message(1, { dup: true, payload: text('{"n":2}') }), 2).size).toBe(1)
      expect(store.record(['a'], message(1, { dup: true, topic: 'site/u' }), 3).size).toBe(1)
      expect(store.record(['a'], message(1, { dup: true, packetId: 99 }), 4).size).toBe(1)
      store.close()
    })

    it('records a repeated value without the DUP flag (a sensor repeating itself)', () => {
      const store = openReadingStore(':memory:')
      store.record(['a'], message(1), 1)
      expect(store.record(['a'], message(1), 2)).toEqual(new Map([['a', 1]]))
      store.close()
    })

    it(`compares with the product's latest ${DUPLICATE_WINDOW} readings only: packet ids cycle`, () => {
      const store = openReadingStore(':memory:')
      store.record(['a'], message(1), 0)
      for (let n = 0; n < DUPLICATE_WINDOW; n++) {
        store.record(['a'], message(2, { packetId: 2 + (n % 1000) }), n)
      }
      // The same packet id, topic and payload as position 0, which is out of the window: a new reading.
      expect(store.record(['a'], message(1, { dup: true }), 5).size).toBe(1)
      store.close()
    })
  })

  it('keeps resume points on disk and finds the one of a base amount, or the latest below it', () => {
    const path = dbPath()
    const first = openReadingStore(path)
    first.resumePoints.set('0xc:a', { amount: 8n, position: 41 })
    first.resumePoints.set('0xc:a', { amount: 16n, position: 49 })
    first.close()
    const again = openReadingStore(path)
    // The receipt of 16 was stored: its point; it was not (killed in between): the one of 8.
    expect(again.resumePoints.get('0xc:a', 16n)).toEqual({ amount: 16n, position: 49 })
    expect(again.resumePoints.get('0xc:a', 8n)).toEqual({ amount: 8n, position: 41 })
    // Another product raised the channel's amount since: this product's latest point.
    expect(again.resumePoints.get('0xc:a', 10n ** 30n)).toEqual({ amount: 16n, position: 49 })
    expect(again.resumePoints.get('0xc:a', 7n)).toBeUndefined()
    expect(again.resumePoints.get('0xc:b', 16n)).toBeUndefined()
    again.close()
  })

  it(`keeps the latest ${RESUME_POINTS_PER_KEY} resume points of a channel and product`, () => {
    const store = openReadingStore(':memory:')
    for (let i = 1; i <= 40; i++) store.resumePoints.set('k', { amount: BigInt(i) * 8n, position: i * 8 })
    expect(store.resumePoints.get('k', 1000n)).toEqual({ amount: 320n, position: 320 })
    expect(store.resumePoints.get('k', 8n * BigInt(40 - RESUME_POINTS_PER_KEY + 1))?.position).toBe(
      8 * (40 - RESUME_POINTS_PER_KEY + 1),
    )
    expect(store.resumePoints.get('k', 8n * BigInt(40 - RESUME_POINTS_PER_KEY))).toBeUndefined()
    store.close()
  })
})
