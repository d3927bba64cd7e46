import { formatUnits } from 'ethers'

/** How amounts are printed for people: whole coins (the default) or wei. */
export type AmountUnits = 'eth' | 'wei'

/** Options of {@link formatAmount}. */
export interface AmountFormat {
  /** `eth` (default): whole coins with up to 18 decimals; `wei`: the integer */
  units?: AmountUnits
  /** the native coin's symbol, `ETH` unless the chain preset names another (IOTA) */
  symbol?: string
}

/**
 * Formats wei for people: `0.001 ETH` (exact, 18 decimals at most, no trailing zeros; ethers'
 * `formatUnits`), or `1000000000000000 wei` — the inverse of `parseAmount`'s readings. JSON
 * output keeps wei as decimal strings instead.
 * @param wei - the amount, wei
 */
export function formatAmount(wei: bigint, format: AmountFormat = {}): string {
  if (format.units === 'wei') return `${wei} wei`
  return `${formatUnits(wei, 18).replace(/\.0$/, '')} ${format.symbol ?? 'ETH'}`
}
