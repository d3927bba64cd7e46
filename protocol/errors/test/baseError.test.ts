import { BaseError, errorCode, hasCode } from '@trickle/errors'
import { describe, expect, it } from 'vitest'

describe('BaseError', () => {
  it('carries code, shortMessage, details and cause, the details appended to the message', () => {
    const cause = new Error('ECONNREFUSED')
    const err = new BaseError('CHAIN_UNAVAILABLE', 'the chain RPC is not answering', {
      details: 'eth_call',
      cause,
    })
    expect(err).toMatchObject({
      name: 'TrickleError',
      code: 'CHAIN_UNAVAILABLE',
      shortMessage: 'the chain RPC is not answering',
      details: 'eth_call',
      cause,
    })
    expect(err.message).toBe('the chain RPC is not answering (eth_call)')
    expect(new BaseError('X', 'short').message).toBe('short')
  })
})

describe('BaseError.walk', () => {
  const root = new Error('socket hang up')
  const middle = Object.assign(new Error('fetch failed', { cause: root }), { code: 'ECONNRESET' })
  const outer = new BaseError('CONNECTION_FAILED', 'cannot reach the seller', { cause: middle })

  it('returns the innermost cause without a predicate', () => {
    expect(outer.walk()).toBe(root)
  })

  it('returns itself without a predicate when it has no cause', () => {
    const alone = new BaseError('INTERNAL', 'no cause')
    expect(alone.walk()).toBe(alone)
  })

  it('returns the first error in the chain, itself included, that the predicate accepts', () => {
    expect(outer.walk((err) => hasCode(err, 'ECONNRESET'))).toBe(middle)
    expect(outer.walk((err) => hasCode(err, 'CONNECTION_FAILED'))).toBe(outer)
    expect(outer.walk((err) => err === root)).toBe(root)
  })

  it('returns null when nothing in the chain matches', () => {
    expect(outer.walk((err) => hasCode(err, 'STORE_FAILED'))).toBeNull()
  })

  it('follows plain-object causes, as after crossing a worker or process boundary', () => {
    const crossed = JSON.parse(JSON.stringify({ code: 'RPC_TIMEOUT', cause: { code: 'ETIMEDOUT' } }))
    const err = new BaseError('CHAIN_UNAVAILABLE', 'timed out', { cause: crossed })
    expect(err.walk()).toEqual({ code: 'ETIMEDOUT' })
    expect(err.walk((e) => hasCode(e, 'RPC_TIMEOUT'))).toBe(crossed)
  })

  it('stops on a cyclic cause chain instead of looping forever', () => {
    const a: { code: string; cause?: unknown } = { code: 'A' }
    const b = { code: 'B', cause: a }
    a.cause = b
    const err = new BaseError('INTERNAL', 'cycle', { cause: a })
    expect(err.walk((e) => hasCode(e, 'NEVER'))).toBeNull()
    const last = err.walk()
    expect(last === a || last === b).toBe(true)
  })
})

describe('hasCode and errorCode', () => {
  it('read the code of a plain object that crossed a boundary (structured clone, JSON)', () => {
    const crossed = structuredClone({ name: 'TrickleError', code: 'RECEIPT_STALE', message: 'stale' })
    const viaJson = JSON.parse(JSON.stringify(new BaseError('RECEIPT_STALE', 'stale')))
    expect(hasCode(crossed, 'RECEIPT_STALE')).toBe(true)
    expect(hasCode(crossed, 'RECEIPT_UNDERPAID')).toBe(false)
    expect(errorCode(crossed)).toBe('RECEIPT_STALE')
    expect(errorCode(viaJson)).toBe('RECEIPT_STALE')
  })

  it('answer false and undefined for values without a string code', () => {
    for (const value of [undefined, null, 'RECEIPT_STALE', 42, {}, { code: 7 }, new Error('plain')]) {
      expect(hasCode(value, 'RECEIPT_STALE')).toBe(false)
      expect(errorCode(value)).toBeUndefined()
    }
  })
})
