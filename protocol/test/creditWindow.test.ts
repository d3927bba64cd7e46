import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type CreditWindow, growWindow, resetWindow, sendableChunks } from '../src/index.ts'

/** A credit window as terms can carry it: 1 ≤ initial ≤ max ≤ 2^20, any step. */
const windowArb: fc.Arbitrary<CreditWindow> = fc
  .tuple(fc.integer({ min: 1, max: 1 << 20 }), fc.integer({ min: 1, max: 1 << 20 }), fc.nat({ max: 1 << 20 }))
  .map(([a, b, step]) => ({ initial: Math.min(a, b), max: Math.max(a, b), step }))

/** A window and a current size reachable from it (initial ≤ current ≤ max). */
const windowAndCurrent = windowArb.chain((window) =>
  fc.tuple(fc.constant(window), fc.integer({ min: window.initial, max: window.max })),
)

describe('growWindow', () => {
  it('never exceeds max and never shrinks, for any reachable window', () => {
    fc.assert(
      fc.property(windowAndCurrent, ([window, current]) => {
        const grown = growWindow(window, current)
        expect(grown).toBeLessThanOrEqual(window.max)
        expect(grown).toBeGreaterThanOrEqual(current)
      }),
    )
  })

  it('adds exactly one step while below max', () => {
    fc.assert(
      fc.property(windowAndCurrent, ([window, current]) => {
        fc.pre(current + window.step <= window.max)
        expect(growWindow(window, current)).toBe(current + window.step)
      }),
    )
  })

  it('reaches max after enough on-time receipts when step > 0 and then stays there', () => {
    const window = { initial: 4, step: 3, max: 16 }
    const sizes = [window.initial]
    for (let i = 0; i < 6; i++) sizes.push(growWindow(window, sizes.at(-1)!))
    expect(sizes).toEqual([4, 7, 10, 13, 16, 16, 16])
  })

  it('is monotone in the current size', () => {
    fc.assert(
      fc.property(windowArb, fc.nat({ max: 1 << 20 }), fc.nat({ max: 1 << 20 }), (window, a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a]
        expect(growWindow(window, lo)).toBeLessThanOrEqual(growWindow(window, hi))
      }),
    )
  })
})

describe('resetWindow', () => {
  it('returns the initial size whatever the window grew to', () => {
    fc.assert(
      fc.property(windowAndCurrent, ([window, current]) => {
        const grown = growWindow(window, current)
        expect(resetWindow(window)).toBe(window.initial)
        expect(resetWindow(window)).toBeLessThanOrEqual(grown)
      }),
    )
  })
})

describe('sendableChunks', () => {
  const inputs = fc.record({
    window: fc.nat({ max: 1 << 20 }),
    unpaid: fc.nat({ max: 1 << 20 }),
    depositHeadroom: fc.bigInt({ min: 0n, max: 10n ** 24n }),
    price: fc.bigInt({ min: 0n, max: 10n ** 18n }),
  })

  it('never lets the unpaid chunks exceed the window', () => {
    fc.assert(
      fc.property(inputs, ({ window, unpaid, depositHeadroom, price }) => {
        const n = sendableChunks(window, unpaid, depositHeadroom, BigInt(unpaid) * price, price)
        expect(Number.isSafeInteger(n)).toBe(true)
        expect(n).toBeGreaterThanOrEqual(0)
        expect(unpaid + n).toBeLessThanOrEqual(Math.max(window, unpaid))
        if (unpaid >= window) expect(n).toBe(0)
      }),
      { numRuns: 1000 },
    )
  })

  it('never lets what is owed for unpaid and new chunks exceed the deposit headroom', () => {
    fc.assert(
      fc.property(
        inputs,
        fc.nat({ max: 1 << 20 }),
        ({ window, unpaid, depositHeadroom, price }, owedChunks) => {
          // wei owed for chunks already delivered (a whole number of chunks, as the seller tracks it)
          const outstanding = BigInt(owedChunks) * price
          const n = sendableChunks(window, unpaid, depositHeadroom, outstanding, price)
          expect(n).toBeGreaterThanOrEqual(0)
          if (n > 0) expect(outstanding + BigInt(n) * price).toBeLessThanOrEqual(depositHeadroom)
        },
      ),
      { numRuns: 1000 },
    )
  })

  it('sends as many chunks as both the window and the deposit allow (not fewer)', () => {
    fc.assert(
      fc.property(inputs, ({ window, unpaid, depositHeadroom, price }) => {
        fc.pre(price > 0n)
        const outstanding = BigInt(unpaid) * price
        const n = sendableChunks(window, unpaid, depositHeadroom, outstanding, price)
        const byWindow = unpaid + n >= window
        const byDeposit = outstanding + BigInt(n + 1) * price > depositHeadroom
        expect(byWindow || byDeposit).toBe(true)
      }),
      { numRuns: 1000 },
    )
  })

  it('is bounded by the window alone for a free product', () => {
    expect(sendableChunks(8, 3, 0n, 0n, 0n)).toBe(5)
    expect(sendableChunks(8, 9, 0n, 0n, 0n)).toBe(0)
  })

  it('allows nothing once the deposit is used up', () => {
    expect(sendableChunks(8, 0, 5n, 0n, 10n)).toBe(0)
    expect(sendableChunks(8, 2, 20n, 20n, 10n)).toBe(0)
    expect(sendableChunks(8, 0, 50n, 0n, 10n)).toBe(5)
  })
})
