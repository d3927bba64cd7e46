import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { rowsDue } from '../src/index.ts'

describe('rowsDue', () => {
  it('makes the first row due at once and one more every 1/rate s', () => {
    expect(rowsDue(-1, 200)).toBe(0)
    expect(rowsDue(0, 200)).toBe(1)
    expect(rowsDue(4.99, 200)).toBe(1)
    expect(rowsDue(5, 200)).toBe(2)
    expect(rowsDue(1000, 200)).toBe(201)
    expect(rowsDue(30_000, 0.1)).toBe(4)
    expect(rowsDue(1000, 500)).toBe(501)
  })

  it('publishes exactly rate × seconds rows however the timer ticks (no drift from tick count)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.01, max: 5000, noNaN: true }),
        fc.array(fc.double({ min: 0, max: 250, noNaN: true }), { maxLength: 200 }),
        (rate, gaps) => {
          // Simulate a replayer whose ticks arrive after arbitrary delays: at each tick it publishes
          // rowsDue(elapsed) − sent rows. The total depends only on the elapsed time.
          let elapsed = 0
          let sent = rowsDue(0, rate) // the replayer ticks once at start
          for (const gap of gaps) {
            elapsed += gap
            const batch = rowsDue(elapsed, rate) - sent
            expect(batch).toBeGreaterThanOrEqual(0)
            sent += batch
          }
          expect(sent).toBe(rowsDue(elapsed, rate))
          expect(Math.abs(sent - 1 - (elapsed * rate) / 1000)).toBeLessThan(1)
        },
      ),
    )
  })
})
