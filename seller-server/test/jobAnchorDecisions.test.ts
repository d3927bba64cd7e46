import type { Hex } from '@trickle/protocol'
import { describe, expect, it } from 'vitest'
import { decideAnchor } from '../src/jobs/decideAnchor.ts'
import { type JobStatus, RecentJobs } from '../src/jobs/recentJobs.ts'

describe('decideAnchor', () => {
  it('anchors with the latest durable receipt amount when every record is paid', () => {
    expect(decideAnchor({ unpaidChunks: 0 }, { amount: 420n })).toEqual({
      anchor: true,
      cumulativeAmount: 420n,
    })
  })

  it('does not anchor a job whose session ended with records unpaid', () => {
    expect(decideAnchor({ unpaidChunks: 1 }, { amount: 420n })).toEqual({ anchor: false, reason: 'unpaid' })
  })

  it('does not anchor without a durable receipt (the contract refuses a zero amount)', () => {
    expect(decideAnchor({ unpaidChunks: 0 }, undefined)).toEqual({ anchor: false, reason: 'no_receipt' })
    expect(decideAnchor({ unpaidChunks: 0 }, { amount: 0n })).toEqual({ anchor: false, reason: 'no_receipt' })
  })
})

describe('RecentJobs', () => {
  const job = (n: number): JobStatus => ({
    jobId: `0x${n.toString(16).padStart(64, '0')}` as Hex,
    productId: 1n,
    channelId: `0x${'11'.repeat(32)}` as Hex,
    state: 'running',
    startedAt: n,
    cpuMs: 0,
    records: 0,
  })

  it('keeps at most its capacity, dropping the least recently updated job first', () => {
    const recent = new RecentJobs(3)
    for (let n = 1; n <= 3; n++) recent.set(job(n))
    recent.update(job(1).jobId, { state: 'ended', exitCode: 0 })
    recent.set(job(4))
    expect(recent.size).toBe(3)
    expect(recent.get(job(2).jobId)).toBeUndefined()
    expect(recent.get(job(1).jobId)).toMatchObject({ state: 'ended', exitCode: 0 })
    expect(recent.get(job(4).jobId.toUpperCase().replace('0X', '0x'))?.startedAt).toBe(4)
  })

  it('ignores updates of a job it does not keep', () => {
    const recent = new RecentJobs(1)
    expect(recent.update(job(9).jobId, { state: 'ended' })).toBeUndefined()
    expect(recent.size).toBe(0)
    expect(() => new RecentJobs(0)).toThrow(RangeError)
  })
})
