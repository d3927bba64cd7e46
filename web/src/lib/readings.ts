import { openSignedReading, type ReadingProvenance } from '@trickle/sdk'

/**
 * What the storefront makes of a chunk's payload. Trickle's sensor products send one JSON reading per
 * chunk (`{ time, column, value, unit, … }`, `@trickle/devices`' `SensorReading`); other JSON objects
 * are read field by field (every finite number is a value), anything else is kept as text.
 */
export interface Reading {
  /** chunk number on the channel */
  seq: number
  /** ms since the epoch when the page received it */
  receivedAt: number
  /** ms since the epoch of the measurement when the payload states it, else `receivedAt` */
  time: number
  /** the measurement's own time as the payload wrote it, or an ISO string of `receivedAt` */
  timeText: string
  /** numeric values by field name */
  values: { field: string; value: number | null; unit: string }[]
  /** the payload as text (UTF-8, replacement characters for invalid bytes) */
  text: string
  /** the payload's JSON, `undefined` when it is not JSON */
  json: unknown
  /** the payload as it arrived */
  data: Uint8Array
  /**
   * the device signature, when the payload is a signed envelope or the descriptor lists devices
   * (SPEC.md §Device signatures): `verified`, `unsigned`, `invalid` (with `problem`), or `unchecked`
   * (an envelope, but the descriptor lists no device to check it against)
   */
  signature?: { status: 'verified' | 'unsigned' | 'invalid' | 'unchecked'; device?: string; problem?: string }
}

const decoder = new TextDecoder()

/**
 * Parses a local timestamp such as `2004-03-10T18:00:00` (the UCI data has no zone) as UTC, so every
 * viewer sees the same axis; a string with a zone is read with it.
 */
function parseTime(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value > 1e12 ? value : value * 1000
  if (typeof value !== 'string') return undefined
  const zoned = /(Z|[+-]\d\d:?\d\d)$/.test(value) ? value : `${value}Z`
  const ms = Date.parse(zoned)
  return Number.isFinite(ms) ? ms : undefined
}

/**
 * Reads one chunk. Pure apart from decoding; never throws. A device-signed envelope is read for the
 * reading inside it (the SDK's `provenance` says whether its signature holds).
 * @param seq - the chunk's number
 * @param data - its payload bytes
 * @param receivedAt - ms since the epoch
 * @param units - unit per field name from the descriptor, used when the payload states none
 */
export function readChunk(
  seq: number,
  data: Uint8Array,
  receivedAt: number,
  units: ReadonlyMap<string, string> = new Map(),
  provenance?: ReadingProvenance,
): Reading {
  let signature: Reading['signature']
  let content = data
  if (provenance) {
    signature =
      provenance.status === 'invalid'
        ? {
            status: 'invalid',
            problem: provenance.reason,
            ...(provenance.device ? { device: provenance.device } : {}),
          }
        : provenance.status === 'verified'
          ? { status: 'verified', device: provenance.device }
          : { status: 'unsigned' }
    if (provenance.status !== 'unsigned' && provenance.payload) content = provenance.payload
  } else {
    const envelope = openSignedReading(data)
    if (envelope && !(envelope instanceof Error)) {
      signature = { status: 'unchecked', device: envelope.device }
      content = new TextEncoder().encode(envelope.payload)
    }
  }
  const text = decoder.decode(content)
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  const values: Reading['values'] = []
  let time: number | undefined
  let timeText: string | undefined
  if (json !== null && typeof json === 'object' && !Array.isArray(json)) {
    const o = json as Record<string, unknown>
    const stated = o.time ?? o.timestamp ?? o.ts
    time = parseTime(stated)
    if (time !== undefined) timeText = String(stated)
    const field = typeof o.column === 'string' ? o.column : typeof o.field === 'string' ? o.field : undefined
    if (field !== undefined && 'value' in o) {
      const v = typeof o.value === 'number' && Number.isFinite(o.value) ? o.value : null
      values.push({ field, value: v, unit: typeof o.unit === 'string' ? o.unit : (units.get(field) ?? '') })
    } else {
      for (const [k, v] of Object.entries(o)) {
        if (typeof v === 'number' && Number.isFinite(v) && !['time', 'timestamp', 'ts', 'row'].includes(k)) {
          values.push({ field: k, value: v, unit: units.get(k) ?? '' })
        }
      }
    }
  }
  return {
    seq,
    receivedAt,
    time: time ?? receivedAt,
    timeText: timeText ?? new Date(receivedAt).toISOString(),
    values,
    text,
    json,
    data,
    ...(signature ? { signature } : {}),
  }
}

/** One plotted series: x in seconds (uPlot's time unit), y the values, `null` for a gap. */
export interface Series {
  field: string
  unit: string
  x: number[]
  y: (number | null)[]
}

/**
 * Everything a stream delivered, kept for the download, and per field the last `window` points for the
 * chart (so drawing stays constant-time however long the stream runs).
 */
export class ReadingLog {
  readonly readings: Reading[] = []
  readonly series = new Map<string, Series>()
  /** readings by device-signature status (SPEC.md §Device signatures) */
  readonly signatures = { verified: 0, unsigned: 0, invalid: 0, unchecked: 0 }
  /** bumps on every change; a view redraws when it differs from what it drew */
  version = 0

  /** points per field the chart keeps (older ones leave the chart, not the log) */
  readonly window: number
  /**
   * readings kept for the download, at most (the oldest are dropped beyond it); the default 200,000 is
   * about an hour at 50 readings/s and bounds the page's memory
   */
  readonly maxReadings: number

  constructor(window = 600, maxReadings = 200_000) {
    this.window = window
    this.maxReadings = maxReadings
  }

  add(reading: Reading): void {
    this.readings.push(reading)
    if (reading.signature) this.signatures[reading.signature.status]++
    if (this.readings.length > this.maxReadings)
      this.readings.splice(0, this.readings.length - this.maxReadings)
    for (const { field, value, unit } of reading.values) {
      let s = this.series.get(field)
      if (!s) {
        s = { field, unit, x: [], y: [] }
        this.series.set(field, s)
      }
      const x = reading.time / 1000
      // a replay that starts over goes back in time: the chart starts a new run (x must ascend)
      if (s.x.length > 0 && x < s.x[s.x.length - 1]!) {
        s.x.length = 0
        s.y.length = 0
      }
      s.x.push(x)
      s.y.push(value)
      if (s.x.length > this.window) {
        s.x.splice(0, s.x.length - this.window)
        s.y.splice(0, s.y.length - this.window)
      }
    }
    this.version++
  }

  /** The newest `n` readings, newest first. */
  latest(n: number): Reading[] {
    return this.readings.slice(-n).reverse()
  }
}
