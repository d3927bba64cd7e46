import { CHAIN_PRESETS } from '@trickle/contracts'
import type { AmountFormat } from './formatAmount.ts'
import type { CliConfig } from './resolveConfig.ts'

/**
 * How this run prints amounts: `--units` / `--wei`, and the native coin's symbol of the `--chain`
 * preset (`ETH` without one).
 * @param flags - the global flags (`units` is `eth` or `wei`)
 */
export function amountFormatOf(flags: { units?: string }, config: Pick<CliConfig, 'chain'>): AmountFormat {
  return {
    units: flags.units === 'wei' ? 'wei' : 'eth',
    symbol: config.chain === undefined ? 'ETH' : CHAIN_PRESETS[config.chain].nativeCurrency.symbol,
  }
}
