import { SIGNED_READING_VERSION } from '@trickle/protocol'
import { DevicesError } from './DevicesError.ts'
import type { SensorReading } from './SensorReading.ts'
import { validateReading } from './validateReading.ts'

/**
 * Decodes and validates an MQTT payload produced by {@link encodeReading}, or the reading inside a
 * device-signed envelope (`{ v: 'trickle.signed/1', payload, … }`, SPEC.md §Device signatures) —
 * without checking the signature: a buyer does that against the descriptor's devices
 * (`verifyReading` of `@trickle/protocol`; the SDK's `Chunk.provenance`).
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
  if (
    typeof json === 'object' &&
    json !== null &&
    (json as { v?: unknown }).v === SIGNED_READING_VERSION &&
    typeof (json as { payload?: unknown }).payload === 'string'
  ) {
    try {
      json = JSON.parse((json as { payload: string }).payload)
    } catch (cause) {
      throw new DevicesError('READING_MALFORMED', 'the signed payload is not JSON', { cause })
    }
  }
  return validateReading(json)
}
