import { InvalidArgumentError } from 'commander'
import { parseUnits } from 'ethers'

/** Decimals of each unit an amount may be written in; the native coin's symbols count as ether. */
const UNIT_DECIMALS: Readonly<Record<string, number>> = {
  eth: 18,
  ether: 18,
  iota: 18,
  gwei: 9,
  wei: 0,
}

const AMOUNT = /^([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)$/i

/**
 * Parses an amount of the native coin for commander (`--max-spend`, `--deposit`, `trickle topup`):
 * `0.001eth`, `0.001 ETH`, `1000gwei`, `5wei`; a plain integer is wei, as before units were accepted.
 * The decimal is converted exactly with ethers' `parseUnits` (18 decimals for `eth` / `ether` and the
 * IOTA EVM coin `iota`, 9 for `gwei`); no float is involved.
 *
 * @param value - a non-negative decimal with an optional unit (case-insensitive, space allowed)
 * @returns wei
 * @throws InvalidArgumentError (commander exits 2) for a fraction without a unit, a fraction of a wei,
 *   an unknown unit, or anything else
 */
export function parseAmount(value: string): bigint {
  const match = AMOUNT.exec(value.trim())
  const unit = match?.[2]?.toLowerCase() ?? ''
  if (!match || (unit !== '' && UNIT_DECIMALS[unit] === undefined)) {
    throw new InvalidArgumentError('must be an amount such as 0.001eth, 1000gwei or a whole number of wei')
  }
  const number = match[1]!
  if (unit === '' && number.includes('.')) {
    throw new InvalidArgumentError(`a plain number is wei; add a unit for ${number}, e.g. ${number}eth`)
  }
  try {
    return parseUnits(number, UNIT_DECIMALS[unit || 'wei'])
  } catch {
    throw new InvalidArgumentError(`${value} is not a whole number of wei`)
  }
}

/**
 * {@link parseAmount} for amounts that must be above zero (`trickle topup`).
 * @returns wei, at least 1
 * @throws InvalidArgumentError (commander exits 2)
 */
export function parsePositiveAmount(value: string): bigint {
  const wei = parseAmount(value)
  if (wei === 0n) throw new InvalidArgumentError('must be above 0')
  return wei
}
