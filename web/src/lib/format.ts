import { type ProductDescriptor, quoteProduct } from '@trickle/sdk'
import { formatEther } from 'ethers'

/**
 * Wei as ETH for people: up to `digits` significant decimals, never rounded to a misleading zero
 * (`< 0.000001 ETH` style is avoided by showing more decimals for tiny amounts).
 * @param wei - amount in wei
 */
export function formatEth(wei: bigint, digits = 6): string {
  const exact = formatEther(wei)
  const [whole, fraction = ''] = exact.split('.')
  const trimmed = fraction.replace(/0+$/, '')
  if (trimmed === '') return `${whole} ETH`
  // keep `digits` decimals after the first non-zero one
  const firstSignificant = trimmed.search(/[1-9]/)
  const keep = whole === '0' ? firstSignificant + digits : digits
  return `${whole}.${trimmed.slice(0, Math.max(1, keep)).replace(/0+$/, '') || '0'} ETH`
}

/** `0x1234…abcd` */
export function shortAddress(address: string): string {
  return address.length > 12 ? `${address.slice(0, 6)}…${address.slice(-4)}` : address
}

/**
 * What an hour of a product costs at its descriptor's rate (the SDK's `quoteProduct`).
 * @returns wei per hour, or `undefined` when the descriptor states no rate
 */
export function pricePerHour(descriptor: ProductDescriptor): bigint | undefined {
  return descriptor.chunksPerSecond === undefined
    ? undefined
    : quoteProduct(descriptor, { durationMs: 3_600_000 }).amount
}

/** `1 h 02 min`, `3 min 05 s`, `42 s`, `under 1 s` for a duration in seconds (negative → 0 s). */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const rest = s % 60
  if (h > 0) return `${h} h ${String(m).padStart(2, '0')} min`
  if (m > 0) return `${m} min ${String(rest).padStart(2, '0')} s`
  return seconds > 0 && rest === 0 ? 'under 1 s' : `${rest} s`
}
