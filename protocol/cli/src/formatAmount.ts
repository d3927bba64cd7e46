import type { AmountUnits } from '@trickle/sdk'
import { formatUnits } from 'ethers'

// The CLI prints amounts with the SDK's formatter; re-exported for the CLI's own modules.
export { type AmountFormat, type AmountUnits, formatAmount } from '@trickle/sdk'

/**
 * The same amount written back as a command-line argument `parseAmount` reads: `0.001eth`, or plain
 * wei when `units` is `wei`.
 */
export function amountArgument(wei: bigint, units: AmountUnits = 'eth'): string {
  return units === 'wei' ? wei.toString() : `${formatUnits(wei, 18).replace(/\.0$/, '')}eth`
}
