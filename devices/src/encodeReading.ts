import type { SensorReading } from './SensorReading.ts'
import { validateReading } from './validateReading.ts'

const encoder = new TextEncoder()

/**
 * Encodes a reading as the MQTT payload: UTF-8 JSON with the fields in a fixed order
 * (`device, sensor, column, row, time, value, unit`).
 *
 * @param reading - the reading to send
 * @returns the payload bytes
 * @throws DevicesError `READING_MALFORMED` if a field is invalid (e.g. a non-finite value, which
 *   JSON could not carry faithfully)
 */
export function encodeReading(reading: SensorReading): Uint8Array {
  return encoder.encode(JSON.stringify(validateReading(reading)))
}
