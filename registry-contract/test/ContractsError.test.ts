import { ContractsError, chainPreset } from '@trickle/contracts'
import { BaseError, errorCode, hasCode } from '@trickle/errors'
import { describe, expect, it } from 'vitest'

describe('ContractsError', () => {
  it('is a Trickle BaseError with code, shortMessage, details and cause', () => {
    const cause = new Error('solc: ParserError')
    const err = new ContractsError('COMPILE_FAILED', 'solc reported 1 error(s)', {
      details: 'StreamChannels.sol:12: expected ;',
      cause,
    })
    expect(err).toBeInstanceOf(BaseError)
    expect(err).toMatchObject({
      name: 'ContractsError',
      code: 'COMPILE_FAILED',
      shortMessage: 'solc reported 1 error(s)',
      details: 'StreamChannels.sol:12: expected ;',
      cause,
    })
    expect(err.message).toBe('solc reported 1 error(s) (StreamChannels.sol:12: expected ;)')
    expect(hasCode(err, 'COMPILE_FAILED')).toBe(true)
  })

  it('walks to the innermost cause, or to the first link a predicate accepts', () => {
    const root = new Error('ECONNREFUSED 127.0.0.1:8545')
    const start = new ContractsError('ANVIL_START_FAILED', 'anvil did not answer', { cause: root })
    const deploy = new ContractsError('DEPLOY_FAILED', 'could not deploy StreamChannels', { cause: start })
    expect(deploy.walk()).toBe(root)
    expect(deploy.walk((err) => errorCode(err) === 'ANVIL_START_FAILED')).toBe(start)
    expect(deploy.walk((err) => errorCode(err) === 'COMPILE_FAILED')).toBeNull()
  })

  it('is what an unknown chain preset throws, coded INVALID_ARGUMENT', () => {
    expect(() => chainPreset('mainnet')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }))
  })
})
