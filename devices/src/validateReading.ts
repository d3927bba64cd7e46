import { DevicesError } from './DevicesError.ts'
import type { SensorReading } from './SensorReading.ts'
import { isSensorKey, sensorInfo } from './sensors.ts'

const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/

/**
 * Checks that an untrusted value is a well-formed {@link SensorReading} and returns a clean copy
 * (unknown fields dropped). Internal: used by both codec directions.
 *
 * @param input - decoded JSON or a caller's object
 * @returns a new reading with exactly the known fields
 * @throws DevicesError `READING_MALFORMED` naming the first invalid `field`
 */
export function validateReading(input: unknown): SensorReading {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw bad(undefined, 'not a JSON object')
  }
  const r = input as Record<string, unknown>
  if (typeof r['device'] !== 'string' || r['device'] === '') throw bad('device', 'must be a non-empty string')
  if (!isSensorKey(r['sensor'])) throw bad('sensor', `unknown sensor ${JSON.stringify(r['sensor'])}`)
  const info = sensorInfo(r['sensor'])
  if (r['column'] !== info.column) throw bad('column', `must be "${info.column}" for sensor ${info.key}`)
  if (typeof r['row'] !== 'number' || !Number.isSafeInteger(r['row']) || r['row'] < 0) {
    throw bad('row', 'must be a non-negative integer')
  }
  if (typeof r['time'] !== 'string' || !TIME.test(r['time'])) throw bad('time', 'must be YYYY-MM-DDTHH:MM:SS')
  const value = r['value']
  if (value !== null && (typeof value !== 'number' || !Number.isFinite(value))) {
    throw bad('value', 'must be a finite number or null')
  }
  if (typeof r['unit'] !== 'string') throw bad('unit', 'must be a string')
  return {
    device: r['device'],
    sensor: r['sensor'],
    column: r['column'],
    row: r['row'],
    time: r['time'],
    value,
    unit: r['unit'],
  }
}

function bad(field: string | undefined, reason: string): DevicesError {
  return new DevicesError('READING_MALFORMED', field === undefined ? reason : `${field}: ${reason}`, {
    facts: field === undefined ? {} : { field },
  })
}
