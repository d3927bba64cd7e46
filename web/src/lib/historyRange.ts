import type { RangeEcho } from '@trickle/protocol'
import type { StreamRange } from '@trickle/sdk'

/**
 * What a buyer asks of a product's recording in the history form (SPEC.md §History): its latest
 * `last` readings, or those recorded between `from` and `to`; with `live`, followed by live readings.
 */
export type HistoryForm =
  | { by: 'last'; last: number; live: boolean }
  | {
      by: 'time'
      /** a `datetime-local` input's value, local time (`2026-12-02T10:41` or with `:07` seconds) */
      from: string
      /** likewise; ignored with `live` (a live range has no end) */
      to: string
      live: boolean
    }

/**
 * The `value` of a `<input type="datetime-local" step="1">` for a moment, in the browser's time zone.
 * @param ms - ms since the epoch
 * @returns `YYYY-MM-DDTHH:mm:ss`
 */
export function datetimeLocalOf(ms: number): string {
  const d = new Date(ms)
  const local = new Date(ms - d.getTimezoneOffset() * 60_000)
  return local.toISOString().slice(0, 19)
}

/**
 * The moment a `datetime-local` value names, in the browser's time zone (the `Date` parser reads a
 * date-time without offset as local time).
 * @returns ms since the epoch, or `undefined` for an empty or invalid value
 */
export function msOfDatetimeLocal(value: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/.test(value)) return undefined
  const ms = new Date(value).getTime()
  return Number.isFinite(ms) ? ms : undefined
}

/**
 * The SDK's {@link StreamRange} for what the form asks, or why it asks nothing sensible.
 * @returns `{ range }`, or `{ invalid }`: a sentence for the person filling the form
 */
export function rangeOfForm(form: HistoryForm): { range: StreamRange } | { invalid: string } {
  if (form.by === 'last') {
    if (!Number.isSafeInteger(form.last) || form.last < 1 || form.last > 0x7fff_ffff) {
      return { invalid: 'Enter a whole number of readings, 1 or more.' }
    }
    return { range: { last: form.last, ...(form.live ? { live: true } : {}) } }
  }
  const from = msOfDatetimeLocal(form.from)
  if (from === undefined) return { invalid: 'Enter the date and time the range starts.' }
  if (form.live) return { range: { from, live: true } }
  const to = msOfDatetimeLocal(form.to)
  if (to === undefined) return { invalid: 'Enter the date and time the range ends.' }
  if (from > to) return { invalid: 'The range starts after it ends.' }
  return { range: { from, to } }
}

/**
 * The range to buy once it was previewed: a finite one fixed to the feed positions of the previewed
 * first and last readings (`start`, `end`, SPEC.md §History), so what is paid is exactly what was shown
 * — a `last` range does not slide to later readings while the channel opens (as `trickle buy` does,
 * protocol/cli/src/buy.ts). A live range is bought as asked.
 * @param held - the seller's answer for `range` (`BuyerClient.history`)
 */
export function frozenRange(range: StreamRange, held: RangeEcho): StreamRange {
  if (range.live || held.live || held.count === 0) return range
  return { start: held.start, end: held.end }
}

/**
 * What `BuyerClient.stream` is given for a previewed history purchase: the range, and for a finite one
 * at most the previewed `count` of chunks, so that the purchase never passes what was priced (the
 * frozen positions hold exactly that many, or fewer once the seller's retention pruned some).
 * @param purchase - `range` as `frozenRange` made it, `held` the seller's answer to the preview
 */
export function historyStreamOptions(purchase: { range: StreamRange; held: RangeEcho }): {
  range: StreamRange
  maxChunks?: number
} {
  const finite = !purchase.held.live && !purchase.range.live
  return { range: purchase.range, ...(finite ? { maxChunks: purchase.held.count } : {}) }
}

/**
 * When readings were recorded, for people: `10:41:07 AM – 11:40:58 AM` on one day (the date shown
 * once, and not at all for today), or with both dates (`Intl.DateTimeFormat.formatRange`).
 * @param from - ms since the epoch
 * @param to - ms since the epoch
 * @param now - ms since the epoch: what "today" is
 */
export function formatRecorded(from: number, to: number, now: number, locale?: string): string {
  const sameDay = (a: number, b: number) => new Date(a).toDateString() === new Date(b).toDateString()
  const today = sameDay(from, now) && sameDay(to, now)
  const format = new Intl.DateTimeFormat(
    locale,
    today ? { timeStyle: 'medium' } : { dateStyle: 'medium', timeStyle: 'medium' },
  )
  return from === to ? format.format(from) : format.formatRange(from, to)
}
