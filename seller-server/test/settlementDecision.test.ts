import { ChannelStatus } from '@trickle/contracts'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type ClaimSituation,
  type ClaimTrigger,
  DEFAULT_SETTLEMENT_POLICY,
  decideClaim,
  needsClaimCost,
  type SettlementPolicy,
} from '../src/decideClaim.ts'

const GWEI = 10n ** 9n
/** a native claim's gas (~49k) at 1 gwei: what a claim cost on anvil in issue 10 */
const COST = 49_000n * GWEI
const PRICE = 10n ** 12n // wei per chunk
const HOUR = 3_600_000
const NOW = 1_800_000_000_000 // ms

const policy: SettlementPolicy = DEFAULT_SETTLEMENT_POLICY

/** An open channel with `unclaimed` wei unpaid since just now, under the threshold, cost known. */
function situation(overrides: Partial<ClaimSituation> = {}): ClaimSituation {
  return {
    trigger: 'sweep',
    status: ChannelStatus.open,
    closeDeadline: 0n,
    chainNow: 1_800_000_000n,
    unclaimed: PRICE,
    signerReplaced: false,
    unclaimedSince: NOW,
    now: NOW,
    claimCost: COST,
    ...overrides,
  }
}

describe('decideClaim', () => {
  it('defers a session end whose claim would pay less than its gas (a 1-chunk session)', () => {
    expect(decideClaim(situation({ trigger: 'session_end' }), policy)).toEqual({
      claim: false,
      reason: 'below_session_end_minimum',
      minimum: COST,
    })
  })

  it('claims on session end from the claim cost (times the multiple), or the fixed minimum when that is higher', () => {
    const end = (unclaimed: bigint, p: Partial<SettlementPolicy> = {}) =>
      decideClaim(situation({ trigger: 'session_end', unclaimed }), { ...policy, ...p })
    expect(end(COST - 1n).claim).toBe(false)
    expect(end(COST)).toEqual({ claim: true, reason: 'session_end' })
    expect(end(COST, { sessionEndCostMultiple: 2 })).toMatchObject({ claim: false, minimum: 2n * COST })
    expect(end(2n * COST, { sessionEndCostMultiple: 2 }).claim).toBe(true)
    expect(end(COST, { minClaimOnSessionEnd: 3n * COST })).toMatchObject({ minimum: 3n * COST })
    expect(end(3n * COST, { minClaimOnSessionEnd: 3n * COST }).claim).toBe(true)
    expect(end(COST / 2n, { sessionEndCostMultiple: 0.5 }).claim).toBe(true)
    expect(end(1n, { sessionEndCostMultiple: 0 }).claim).toBe(true)
    expect(end(10n ** 18n, { claimOnSessionEnd: false })).toEqual({ claim: true, reason: 'threshold' })
    expect(end(COST, { claimOnSessionEnd: false })).toEqual({ claim: false, reason: 'below_threshold' })
  })

  it('without a cost applies only the fixed session-end minimum, and asks for the cost', () => {
    const decision = decideClaim(situation({ trigger: 'session_end', claimCost: undefined }), policy)
    expect(decision).toEqual({ claim: true, reason: 'session_end' })
    expect(needsClaimCost(decision)).toBe(true)
    expect(needsClaimCost({ claim: true, reason: 'close_requested' })).toBe(false)
    expect(needsClaimCost({ claim: false, reason: 'below_threshold' })).toBe(false)
  })

  it('claims from the threshold on, whatever the trigger', () => {
    for (const trigger of ['threshold', 'sweep', 'pending', 'session_end'] as const) {
      expect(decideClaim(situation({ trigger, unclaimed: policy.claimThreshold }), policy)).toEqual({
        claim: true,
        reason: 'threshold',
      })
      expect(decideClaim(situation({ trigger, unclaimed: policy.claimThreshold - 1n }), policy).claim).toBe(
        trigger === 'session_end',
      )
    }
  })

  it('claims a closing channel before its deadline whatever it pays, and nothing from the deadline on', () => {
    const closing = (chainNow: bigint, unclaimed = PRICE) =>
      decideClaim(
        situation({ status: ChannelStatus.closing, closeDeadline: 1_000n, chainNow, unclaimed }),
        policy,
      )
    expect(closing(999n)).toEqual({ claim: true, reason: 'close_requested' })
    // Half-open, as in StreamChannels.sol: no claim at block.timestamp == closeDeadline.
    expect(closing(1_000n)).toEqual({ claim: false, reason: 'missed', minimum: PRICE })
    expect(closing(5_000n, 0n)).toEqual({ claim: false, reason: 'final' })
    expect(closing(999n, 0n)).toEqual({ claim: false, reason: 'nothing_unclaimed' })
  })

  it('reports receipts left on a closed channel as missed', () => {
    expect(decideClaim(situation({ status: ChannelStatus.closed, trigger: 'manual' }), policy)).toEqual({
      claim: false,
      reason: 'missed',
      minimum: PRICE,
    })
    expect(decideClaim(situation({ status: ChannelStatus.closed, unclaimed: -5n }), policy)).toEqual({
      claim: false,
      reason: 'final',
    })
  })

  it('claims receipts of a replaced signer, and on a close or signer-change event, whatever they pay', () => {
    expect(decideClaim(situation({ signerReplaced: true, unclaimed: 1n }), policy)).toEqual({
      claim: true,
      reason: 'signer_changed',
    })
    expect(decideClaim(situation({ trigger: 'signer_changed', unclaimed: 1n }), policy).claim).toBe(true)
    expect(decideClaim(situation({ trigger: 'close_requested', unclaimed: 1n }), policy).claim).toBe(true)
    expect(decideClaim(situation({ trigger: 'manual', unclaimed: 1n }), policy)).toEqual({
      claim: true,
      reason: 'manual',
    })
  })

  it('claims by age once the oldest unclaimed receipt is maxUnclaimedAgeMs old, if it pays its gas', () => {
    const aged = (age: number, unclaimed: bigint, p: Partial<SettlementPolicy> = {}) =>
      decideClaim(situation({ unclaimedSince: NOW - age, unclaimed }), { ...policy, ...p })
    expect(aged(HOUR - 1, 10n * COST)).toEqual({ claim: false, reason: 'below_threshold' })
    expect(aged(HOUR, 10n * COST)).toEqual({ claim: true, reason: 'age' })
    expect(aged(HOUR, COST)).toEqual({ claim: true, reason: 'age' })
    expect(aged(HOUR, COST - 1n)).toEqual({ claim: false, reason: 'below_age_minimum', minimum: COST })
    expect(aged(HOUR, 1n, { ageClaimCostMultiple: 0 })).toEqual({ claim: true, reason: 'age' })
    expect(aged(10 * HOUR, 1n, { maxUnclaimedAgeMs: 11 * HOUR }).claim).toBe(false)
    expect(decideClaim(situation({ unclaimedSince: undefined }), policy).claim).toBe(false)
    // A session that ends on an old channel: the age rule claims when the session-end floor would not.
    expect(
      decideClaim(situation({ trigger: 'session_end', unclaimedSince: NOW - HOUR, unclaimed: COST }), policy),
    ).toEqual({ claim: true, reason: 'age' })
  })

  it('never claims when nothing is unpaid', () => {
    for (const trigger of ['manual', 'close_requested', 'signer_changed', 'session_end'] as const) {
      expect(decideClaim(situation({ trigger, unclaimed: 0n }), policy)).toEqual({
        claim: false,
        reason: 'nothing_unclaimed',
      })
    }
  })

  it('sends no claim that costs more gas than it pays unless a deadline, the threshold or a manual call says so', () => {
    const trigger = fc.constantFrom<ClaimTrigger>('threshold', 'session_end', 'age', 'sweep', 'pending')
    fc.assert(
      fc.property(
        trigger,
        fc.bigInt({ min: -(10n ** 18n), max: 10n ** 18n }),
        fc.bigInt({ min: 0n, max: 10n ** 16n }),
        fc.integer({ min: 0, max: 4 * HOUR }),
        fc.boolean(),
        (trigger, unclaimed, claimCost, age, sessionEnd) => {
          const p = { ...policy, claimOnSessionEnd: sessionEnd }
          const decision = decideClaim(
            situation({ trigger, unclaimed, claimCost, unclaimedSince: NOW - age }),
            p,
          )
          if (!decision.claim) return
          expect(unclaimed).toBeGreaterThan(0n)
          if (decision.reason === 'threshold') expect(unclaimed).toBeGreaterThanOrEqual(p.claimThreshold)
          if (decision.reason === 'age') {
            expect(age).toBeGreaterThanOrEqual(p.maxUnclaimedAgeMs)
            expect(unclaimed).toBeGreaterThanOrEqual(claimCost)
          }
          if (decision.reason === 'session_end') {
            expect(trigger).toBe('session_end')
            expect(unclaimed).toBeGreaterThanOrEqual(claimCost)
          }
          expect(['threshold', 'age', 'session_end']).toContain(decision.reason)
        },
      ),
    )
  })
})
