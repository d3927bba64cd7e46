import { DevicesError } from './DevicesError.ts'
import type { SensorReading } from './SensorReading.ts'
import { validateReading } from './validateReading.ts'

/**
 * Decodes and validates an MQTT payload produced by {@link encodeReading}.
 *
 * @param bytes - the payload (a Node `Buffer` works too)
 * @returns the reading, with unknown fields dropped
 * @throws DevicesError `READING_MALFORMED` if the bytes are not UTF-8 JSON or a field is missing or
 *   invalid (`facts.field` names it)
 */
export function decodeReading(bytes: Uint8Array): SensorReading {
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (cause) {
    throw new DevicesError('READING_MALFORMED', 'payload is not UTF-8 JSON', { cause })
  }
  return validateReading(json)
}
