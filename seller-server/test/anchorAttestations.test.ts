import type { JobAttestationsContract } from '@trickle/contracts'
import type { Hex, JobAttestation } from '@trickle/protocol'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { type AnchorPolicy, startAttestationAnchor } from '../src/jobs/anchorAttestations.ts'
import type { AttestedJob } from '../src/jobs/jobProvider.ts'
import { RecentJobs } from '../src/jobs/recentJobs.ts'

const hex32 = (n: number) => `0x${n.toString(16).padStart(64, '0')}` as Hex
const POLICY: AnchorPolicy = { maxPending: 2, nonceAttempts: 3, confirmTimeoutMs: 1_000, retryDelayMs: 1 }

function attested(n: number): AttestedJob {
  return {
    jobId: hex32(n),
    productId: 1n,
    channelId: hex32(1000 + n),
    attestation: {} as JobAttestation,
    signature: '0x' as Hex,
    digest: hex32(2000 + n),
  }
}

/** An anchorer over a stub contract whose `attest` answers with `answer(call number)`. */
function harness(answer: (call: number) => 'mined' | 'nonce' | 'down', latest = 500n) {
  const calls: { channelId: string; digest: string; amount: bigint }[] = []
  let idleWaits = 0
  const attestations = {
    attest: async (channelId: string, digest: string, amount: bigint) => {
      calls.push({ channelId, digest, amount })
      const outcome = answer(calls.length)
      if (outcome === 'nonce') throw Object.assign(new Error('nonce too low'), { code: 'NONCE_EXPIRED' })
      if (outcome === 'down') throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'SERVER_ERROR' })
      return {
        wait: async () => ({
          hash: hex32(3000 + calls.length),
          blockNumber: 7,
          gasUsed: 43_000n,
          gasPrice: 2n,
        }),
      }
    },
  } as unknown as JobAttestationsContract
  const recent = new RecentJobs()
  const anchorer = startAttestationAnchor(
    {
      attestations,
      store: { latest: async () => ({ amount: latest }) as never },
      claimsIdle: async () => {
        idleWaits++
      },
      fees: async () => ({}),
      recent,
      log: pino({ level: 'silent' }),
    },
    POLICY,
  )
  const track = (job: AttestedJob) =>
    recent.set({
      jobId: job.jobId,
      productId: 1n,
      channelId: job.channelId,
      state: 'ended',
      startedAt: 0,
      cpuMs: 0,
      records: 3,
      anchor: 'pending',
    })
  return { anchorer, calls, recent, track, idleWaits: () => idleWaits }
}

describe('startAttestationAnchor', () => {
  it('anchors a job once its session ended paid, with the latest durable amount, after the claims', async () => {
    const { anchorer, calls, recent, track, idleWaits } = harness(() => 'mined')
    const job = attested(1)
    track(job)
    anchorer.attested(job)
    expect(calls).toHaveLength(0)
    anchorer.sessionEnded({ jobId: job.jobId, channelId: job.channelId, unpaidChunks: 0 })
    await anchorer.idle()
    expect(calls).toEqual([{ channelId: job.channelId, digest: job.digest, amount: 500n }])
    expect(idleWaits()).toBe(1)
    expect(recent.get(job.jobId)).toMatchObject({
      state: 'anchored',
      anchored: { cumulativeAmount: 500n, gasUsed: 43_000n, blockNumber: 7 },
    })
    expect(recent.get(job.jobId)?.anchor).toBeUndefined()
    expect(anchorer.stats).toMatchObject({
      sent: 1,
      anchored: 1,
      failed: 0,
      gasUsed: 43_000n,
      gasCostWei: 86_000n,
    })
  })

  it('retries a nonce another transaction of the account took, and gives up after its attempts', async () => {
    const retried = harness((n) => (n < 3 ? 'nonce' : 'mined'))
    const job = attested(2)
    retried.track(job)
    retried.anchorer.attested(job)
    retried.anchorer.sessionEnded({ jobId: job.jobId, channelId: job.channelId, unpaidChunks: 0 })
    await retried.anchorer.idle()
    expect(retried.calls).toHaveLength(3)
    expect(retried.recent.get(job.jobId)?.state).toBe('anchored')

    const clashing = harness(() => 'nonce')
    clashing.track(job)
    clashing.anchorer.attested(job)
    clashing.anchorer.sessionEnded({ jobId: job.jobId, channelId: job.channelId, unpaidChunks: 0 })
    await clashing.anchorer.idle()
    expect(clashing.calls).toHaveLength(POLICY.nonceAttempts)
    expect(clashing.recent.get(job.jobId)).toMatchObject({ state: 'ended', anchor: 'failed' })
    expect(clashing.anchorer.stats.failed).toBe(1)
  })

  it('counts a failed anchor without retrying other errors, and goes on with the next one', async () => {
    const { anchorer, calls, recent, track } = harness((n) => (n === 1 ? 'down' : 'mined'))
    for (const n of [3, 4]) {
      const job = attested(n)
      track(job)
      anchorer.attested(job)
      anchorer.sessionEnded({ jobId: job.jobId, channelId: job.channelId, unpaidChunks: 0 })
    }
    await anchorer.idle()
    expect(calls).toHaveLength(2)
    expect(recent.get(attested(3).jobId)?.anchor).toBe('failed')
    expect(recent.get(attested(4).jobId)?.state).toBe('anchored')
    expect(anchorer.stats).toMatchObject({ anchored: 1, failed: 1 })
  })

  it('skips a job whose session ended unpaid, and one cancelled before its attestation was sent', async () => {
    const { anchorer, calls, recent, track } = harness(() => 'mined')
    const unpaid = attested(5)
    track(unpaid)
    anchorer.attested(unpaid)
    anchorer.sessionEnded({ jobId: unpaid.jobId, channelId: unpaid.channelId, unpaidChunks: 1 })
    anchorer.sessionEnded({ jobId: attested(6).jobId, channelId: attested(6).channelId, unpaidChunks: 0 })
    await anchorer.idle()
    expect(calls).toHaveLength(0)
    expect(recent.get(unpaid.jobId)?.anchor).toBe('skipped')
    expect(anchorer.stats).toMatchObject({ skipped: 1, sent: 0 })
  })

  it('holds at most maxPending attestations waiting for their session: the oldest is dropped and counted', async () => {
    const { anchorer, calls, recent, track } = harness(() => 'mined')
    for (const n of [10, 11, 12]) {
      track(attested(n))
      anchorer.attested(attested(n))
    }
    expect(recent.get(attested(10).jobId)?.anchor).toBe('failed')
    expect(anchorer.stats.failed).toBe(1)
    anchorer.sessionEnded({ jobId: attested(10).jobId, channelId: attested(10).channelId, unpaidChunks: 0 })
    await anchorer.idle()
    expect(calls).toHaveLength(0)
    await anchorer.stop()
    anchorer.sessionEnded({ jobId: attested(11).jobId, channelId: attested(11).channelId, unpaidChunks: 0 })
    expect(calls).toHaveLength(0)
  })
})
