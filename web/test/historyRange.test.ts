import { describe, expect, it } from 'vitest'
import {
  datetimeLocalOf,
  formatRecorded,
  frozenRange,
  historyStreamOptions,
  msOfDatetimeLocal,
  rangeOfForm,
} from '../src/lib/historyRange.ts'
import { problemOf } from '../src/lib/problems.ts'

const AT = Date.parse('2026-12-02T10:41:07Z')

describe('datetimeLocalOf and msOfDatetimeLocal', () => {
  it('round-trip a moment to the second through a datetime-local value in the local time zone', () => {
    const value = datetimeLocalOf(AT)
    expect(value).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/)
    expect(msOfDatetimeLocal(value)).toBe(AT)
  })

  it('reads a value without seconds, and refuses an empty or malformed one', () => {
    expect(msOfDatetimeLocal(datetimeLocalOf(AT).slice(0, 16))).toBe(AT - 7000)
    expect(msOfDatetimeLocal('')).toBeUndefined()
    expect(msOfDatetimeLocal('2026-12-02 10:41')).toBeUndefined()
    expect(msOfDatetimeLocal('2026-13-45T99:99')).toBeUndefined()
  })
})

describe('rangeOfForm', () => {
  const from = datetimeLocalOf(AT - 3_600_000)
  const to = datetimeLocalOf(AT)

  it('asks for the latest N readings, with live when chosen', () => {
    expect(rangeOfForm({ by: 'last', last: 120, live: false })).toEqual({ range: { last: 120 } })
    expect(rangeOfForm({ by: 'last', last: 120, live: true })).toEqual({ range: { last: 120, live: true } })
  })

  it('asks for a time range, and drops its end when it continues live', () => {
    expect(rangeOfForm({ by: 'time', from, to, live: false })).toEqual({
      range: { from: AT - 3_600_000, to: AT },
    })
    expect(rangeOfForm({ by: 'time', from, to: '', live: true })).toEqual({
      range: { from: AT - 3_600_000, live: true },
    })
  })

  it('says what is wrong with a count below 1, a missing date or a range that ends before it starts', () => {
    for (const last of [0, -3, 1.5, Number.NaN]) {
      expect(rangeOfForm({ by: 'last', last, live: false })).toHaveProperty('invalid')
    }
    expect(rangeOfForm({ by: 'time', from: '', to, live: false })).toEqual({
      invalid: 'Enter the date and time the range starts.',
    })
    expect(rangeOfForm({ by: 'time', from, to: '', live: false })).toHaveProperty('invalid')
    expect(rangeOfForm({ by: 'time', from: to, to: from, live: false })).toEqual({
      invalid: 'The range starts after it ends.',
    })
  })
})

describe('frozenRange', () => {
  const held = { count: 120, from: AT - 60_000, to: AT, live: false, start: 880, end: 999 }

  it('fixes a finite range to the feed positions of the previewed first and last readings', () => {
    expect(frozenRange({ last: 120 }, held)).toEqual({ start: 880, end: 999 })
    expect(frozenRange({ from: 0, to: AT + 5000 }, held)).toEqual({ start: 880, end: 999 })
  })

  it('leaves a live range as asked', () => {
    expect(frozenRange({ last: 120, live: true }, { ...held, live: true })).toEqual({ last: 120, live: true })
  })
})

describe('historyStreamOptions', () => {
  it('caps a finite range at the previewed count', () => {
    const held = { count: 120, from: AT - 2400, to: AT, live: false, start: 880, end: 999 }
    expect(historyStreamOptions({ range: frozenRange({ last: 120 }, held), held })).toEqual({
      range: { start: 880, end: 999 },
      maxChunks: 120,
    })
  })

  it('leaves a range that continues live uncapped', () => {
    const held = { count: 20, from: AT - 400, to: AT, live: true, start: 980, end: 999 }
    expect(historyStreamOptions({ range: { last: 20, live: true }, held })).toEqual({
      range: { last: 20, live: true },
    })
  })
})

describe('formatRecorded', () => {
  it('shows only times for a range recorded today, and both dates otherwise', () => {
    const today = formatRecorded(AT - 3_591_000, AT, AT, 'en-GB')
    expect(today).toMatch(/^09:41:16\s*–\s*10:41:07$|^\d{2}:\d{2}:\d{2}\s*–\s*\d{2}:\d{2}:\d{2}$/)
    const older = formatRecorded(AT - 86_400_000 * 3, AT - 86_400_000 * 2, AT, 'en-GB')
    expect(older).toMatch(/Nov 2026.*–.*Nov 2026|2026.*–.*2026/)
  })
})

describe('problemOf RANGE_UNAVAILABLE', () => {
  it('tells the buyer the range holds nothing and that nothing was paid', () => {
    const p = problemOf({ code: 'RANGE_UNAVAILABLE', message: 'no reading in the range' })
    expect(p).toMatchObject({ code: 'RANGE_UNAVAILABLE', title: 'Nothing recorded in this range' })
    expect(p.detail).toContain('Nothing was paid')
  })
})
