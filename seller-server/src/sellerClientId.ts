import { createHash } from 'node:crypto'
import { resolve } from 'node:path'

/**
 * The MQTT client id of a seller's persistent session: `trickle` and 16 hex digits of
 * SHA-256(`<lowercase payee address>\n<absolute data directory>`), 23 characters, the length every
 * MQTT 3.1.1 broker must accept (§3.1.3.1). Derived, not random, so that a restarted seller takes
 * up its own session (and the messages the broker queued for it); two sellers differ in their
 * payee or their data directory, and so in their ids (a broker disconnects the older of two clients
 * with one id).
 * @param payee - the seller's address, any case
 * @param dataDir - the seller's data directory, relative paths against the working directory
 */
export function sellerClientId(payee: string, dataDir: string): string {
  const digest = createHash('sha256')
    .update(`${payee.toLowerCase()}\n${resolve(dataDir)}`)
    .digest('hex')
  return `trickle${digest.slice(0, 16)}`
}
