import Papa from 'papaparse'
import type { Reading } from './readings.ts'

function base64(bytes: Uint8Array): string {
  let binary = ''
  for (const b of bytes) binary += String.fromCharCode(b)
  return btoa(binary)
}

/**
 * The readings as NDJSON, one line per chunk, as `trickle buy --out` writes them: `{ seq, reading }`
 * with the payload's JSON (for a device-signed reading, the signed reading, with `signature`,
 * `device` and any `problem`), or `{ seq, base64 }` for a payload that is not JSON.
 */
export function toNdjson(readings: readonly Reading[]): string {
  let out = ''
  for (const r of readings) {
    const sig = r.signature
      ? {
          signature: r.signature.status,
          ...(r.signature.device ? { device: r.signature.device } : {}),
          ...(r.signature.problem ? { problem: r.signature.problem } : {}),
        }
      : {}
    const line =
      r.json !== undefined
        ? { seq: r.seq, reading: r.json, ...sig }
        : { seq: r.seq, base64: base64(r.data), ...sig }
    out += `${JSON.stringify(line)}\n`
  }
  return out
}

/**
 * The readings as CSV (RFC 4180, through Papa Parse): one row per value — `seq, time, field, value,
 * unit, receivedAt` — so readings of different fields share one table.
 */
export function toCsv(readings: readonly Reading[]): string {
  const rows: (string | number)[][] = []
  for (const r of readings) {
    if (r.values.length === 0)
      rows.push([r.seq, r.timeText, '', r.text, '', new Date(r.receivedAt).toISOString()])
    for (const v of r.values) {
      rows.push([r.seq, r.timeText, v.field, v.value ?? '', v.unit, new Date(r.receivedAt).toISOString()])
    }
  }
  return `${Papa.unparse({ fields: ['seq', 'time', 'field', 'value', 'unit', 'receivedAt'], data: rows })}\r\n`
}
