import type { Address } from '@trickle/protocol'
import { describe, expect, it } from 'vitest'
import { decideJobCancel } from '../src/jobs/decideJobCancel.ts'

const SIGNER = '0x1111111111111111111111111111111111111111' as Address
const PAYER = '0x2222222222222222222222222222222222222222' as Address
const STRANGER = '0x3333333333333333333333333333333333333333' as Address

describe('decideJobCancel', () => {
  const job = (state: 'running' | 'cancelled' | 'ended' | 'anchored', error?: string) => ({
    status: { state, ...(error !== undefined ? { error } : {}) },
    signers: [SIGNER, PAYER],
  })

  it('cancels a running job for a key of its channel, the session key or the payer, in any letter case', () => {
    expect(decideJobCancel(job('running'), SIGNER)).toBe('cancel')
    expect(decideJobCancel(job('running'), PAYER.toUpperCase().replace('0X', '0x') as Address)).toBe('cancel')
  })

  it('refuses a signer the channel does not name, or a signature that does not recover', () => {
    expect(decideJobCancel(job('running'), STRANGER)).toBe('forbidden')
    expect(decideJobCancel(job('running'), undefined)).toBe('forbidden')
  })

  it('answers a job already cancelled as cancelled again (idempotent), by its session end or a cancel', () => {
    expect(decideJobCancel(job('cancelled'), SIGNER)).toBe('cancelled')
    // A cancelled job whose attestation was anchored since is still a cancelled job.
    expect(decideJobCancel(job('anchored', 'JOB_CANCELLED'), SIGNER)).toBe('cancelled')
  })

  it('tells a stranger nothing about a cancelled job: the signer is checked first', () => {
    expect(decideJobCancel(job('cancelled'), STRANGER)).toBe('forbidden')
  })

  it('has nothing to cancel of a job that ended on its own, or of one it does not know', () => {
    expect(decideJobCancel(job('ended', ''), SIGNER)).toBe('ended')
    expect(decideJobCancel(job('anchored', 'JOB_CPU_LIMIT'), SIGNER)).toBe('ended')
    expect(decideJobCancel(undefined, SIGNER)).toBe('unknown')
  })
})
