import type { Hex } from '@trickle/protocol'
import { describe, expect, it } from 'vitest'
import { quoteToEvict } from '../src/jobs/jobProvider.ts'

const id = (n: number) => `0x${n.toString(16).padStart(64, '0')}` as Hex
/** Open quotes in issue order, from `[client, reserved?]` pairs; quote n has id n. */
const open = (...quotes: [string, boolean?][]) =>
  new Map(quotes.map(([client, reserved], n) => [id(n), { client, reserved: reserved ?? false }]))
const caps = { total: 4, perClient: 2 }

describe('quoteToEvict', () => {
  it('evicts nothing while the client and the provider have room', () => {
    expect(quoteToEvict(open(['a'], ['b']), 'a', caps)).toBeUndefined()
  })

  it('evicts the client’s own oldest at its cap, even with room in all', () => {
    expect(quoteToEvict(open(['b'], ['a'], ['a']), 'a', caps)).toBe(id(1))
  })

  it('evicts the oldest of the client holding the most when the provider is full', () => {
    expect(quoteToEvict(open(['honest'], ['x'], ['y'], ['y']), 'z', caps)).toBe(id(2))
  })

  it('neither counts nor evicts reserved quotes', () => {
    expect(quoteToEvict(open(['a', true], ['a'], ['b']), 'a', caps)).toBeUndefined()
    expect(quoteToEvict(open(['a', true], ['a', true], ['a'], ['a']), 'a', caps)).toBe(id(2))
  })
})
