import type { Address, Hex } from '@trickle/protocol'
import { InvalidArgumentError } from 'commander'

/**
 * Parses a positive chunk count or similar for commander (`--chunks`).
 * @throws InvalidArgumentError (commander exits 2)
 */
export function parsePositiveInt(value: string): number {
  const n = Number(value)
  if (!/^[1-9][0-9]*$/.test(value) || !Number.isSafeInteger(n)) {
    throw new InvalidArgumentError('must be a positive integer')
  }
  return n
}

/**
 * Parses a non-negative integer for commander (`--chain-id`, `--from-block`).
 * @throws InvalidArgumentError (commander exits 2)
 */
export function parseNonNegativeInt(value: string): number {
  const n = Number(value)
  if (!/^(0|[1-9][0-9]*)$/.test(value) || !Number.isSafeInteger(n)) {
    throw new InvalidArgumentError('must be a non-negative integer')
  }
  return n
}

/**
 * Parses a product id (the registry's uint256) for commander.
 * @throws InvalidArgumentError (commander exits 2)
 */
export function parseProductId(value: string): bigint {
  if (!/^(0|[1-9][0-9]{0,77})$/.test(value)) throw new InvalidArgumentError('must be a decimal product id')
  return BigInt(value)
}

/**
 * Parses a channel id (bytes32, `0x` + 64 hex digits) for commander.
 * @throws InvalidArgumentError (commander exits 2)
 */
export function parseChannelId(value: string): Hex {
  if (!/^0x[0-9a-fA-F]{64}$/.test(value))
    throw new InvalidArgumentError('must be 0x followed by 64 hex digits')
  return value.toLowerCase() as Hex
}

/**
 * Parses a 20-byte address for commander (`--payer`).
 * @throws InvalidArgumentError (commander exits 2)
 */
export function parseAddress(value: string): Address {
  if (!/^0x[0-9a-fA-F]{40}$/.test(value))
    throw new InvalidArgumentError('must be 0x followed by 40 hex digits')
  return value as Address
}

/**
 * A point in time for `--from`/`--to`: an ISO 8601 date or date-time (`2026-12-02`,
 * `2026-12-02T10:00:00Z`; without a zone, local time), or milliseconds since the Unix epoch.
 * @returns ms since the epoch
 * @throws InvalidArgumentError (commander) for anything else
 */
export function parseTime(value: string): number {
  const ms = /^[0-9]{1,16}$/.test(value) ? Number(value) : Date.parse(value)
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new InvalidArgumentError('expected an ISO 8601 time (2026-12-02T10:00:00Z) or ms since the epoch')
  }
  return ms
}
