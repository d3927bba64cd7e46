import { TrickleError } from '@trickle/protocol'
import { parseUnits } from 'ethers'

const DECIMALS: Readonly<Record<string, number>> = { eth: 18, ether: 18, gwei: 9, wei: 0 }

/**
 * An amount in wei, from a `bigint` (wei already) or a string with its unit: `'0.001 ETH'`,
 * `'250 gwei'`, `'1000 wei'`; a string of digits alone is wei. Units are case-insensitive.
 *
 * @param value - wei, or a decimal with unit
 * @returns wei, ≥ 0
 * @throws TrickleError `INVALID_ARGUMENT` for a negative amount, an unknown unit or more decimals
 *   than the unit has
 */
export function parseAmount(value: bigint | string): bigint {
  if (typeof value === 'bigint') {
    if (value < 0n) throw new TrickleError('INVALID_ARGUMENT', `an amount cannot be negative: ${value}`)
    return value
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value)
  const unit = (m?.[2] || (m?.[1]?.includes('.') ? '' : 'wei')).toLowerCase()
  const decimals = DECIMALS[unit]
  if (!m || decimals === undefined) {
    throw new TrickleError(
      'INVALID_ARGUMENT',
      `not an amount: '${value}' (write e.g. '0.001 ETH' or '250 gwei')`,
    )
  }
  try {
    return parseUnits(m[1]!, decimals)
  } catch (cause) {
    throw new TrickleError('INVALID_ARGUMENT', `'${value}' has more decimals than ${unit}`, { cause })
  }
}
