import { InvalidArgumentError } from 'commander'
import { describe, expect, it } from 'vitest'
import { formatAmount } from '../src/formatAmount.ts'
import { parseAmount, parsePositiveAmount } from '../src/parseAmount.ts'

describe('parseAmount', () => {
  it('reads ETH and gwei amounts with or without a space, in any case', () => {
    expect(parseAmount('0.001eth')).toBe(10n ** 15n)
    expect(parseAmount('0.001 ETH')).toBe(10n ** 15n)
    expect(parseAmount('1 Ether')).toBe(10n ** 18n)
    expect(parseAmount('1000gwei')).toBe(10n ** 12n)
    expect(parseAmount('2.5 GWEI')).toBe(2_500_000_000n)
    expect(parseAmount('7wei')).toBe(7n)
  })

  it('keeps plain integers as wei, as before', () => {
    expect(parseAmount('100000000000000')).toBe(100_000_000_000_000n)
    expect(parseAmount('0')).toBe(0n)
  })

  it('refuses a fraction without a unit, a fraction of a wei, and anything that is not an amount', () => {
    for (const bad of ['1.5', '0.5wei', '0.0000000001gwei', 'abc', '-1eth', '1e18', '', 'eth', '1 btc']) {
      expect(() => parseAmount(bad), bad).toThrow(InvalidArgumentError)
    }
    expect(() => parseAmount('1.5')).toThrow(/add a unit/)
  })

  it('refuses zero where an amount above zero is needed', () => {
    expect(() => parsePositiveAmount('0eth')).toThrow(/above 0/)
    expect(parsePositiveAmount('1gwei')).toBe(10n ** 9n)
  })
})

describe('formatAmount', () => {
  it('prints ETH without trailing zeros by default, and wei on request', () => {
    expect(formatAmount(10n ** 15n)).toBe('0.001 ETH')
    expect(formatAmount(10n ** 18n)).toBe('1 ETH')
    expect(formatAmount(0n)).toBe('0 ETH')
    expect(formatAmount(1n)).toBe('0.000000000000000001 ETH')
    expect(formatAmount(10n ** 15n, { units: 'wei' })).toBe('1000000000000000 wei')
    expect(formatAmount(10n ** 18n, { symbol: 'IOTA' })).toBe('1 IOTA')
  })
})
