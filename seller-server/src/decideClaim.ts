import { ChannelStatus } from '@trickle/contracts'

/**
 * When the seller claims (SPEC.md §Settlement: a non-normative seller policy). Amounts in wei, times
 * in ms unless named otherwise.
 *
 * A claim costs gas whatever it covers (~51k gas on a native channel), so claims that nothing forces
 * wait until they are worth it; claims that a deadline forces are sent whatever they cover.
 */
export interface SettlementPolicy {
  /**
   * wei: claim a channel as soon as its stored receipts are worth this much more than what was
   * already claimed. One claim costs about 51k gas whatever it covers, so this amortizes gas.
   */
  claimThreshold: bigint
  /**
   * also claim a channel's latest receipt when a session on it ends, if what it would pay reaches
   * {@link SettlementPolicy.minClaimOnSessionEnd} and {@link SettlementPolicy.sessionEndCostMultiple}
   */
  claimOnSessionEnd: boolean
  /** wei: the least a claim on session end must pay (a fixed floor besides the gas-based one) */
  minClaimOnSessionEnd: bigint
  /**
   * a claim on session end must pay at least this many times its own estimated cost (estimated gas ×
   * `eth_gasPrice`); 1 (the default): never more gas than it brings. Without it a buyer could make
   * the seller spend ~50× what it earns with sessions of one chunk. 0 turns the gas-based floor off.
   */
  sessionEndCostMultiple: number
  /**
   * ms: claim a channel whose oldest unclaimed receipt was stored this long ago, whatever
   * {@link SettlementPolicy.claimThreshold}, so a payer's close request the seller does not see in
   * time (seller down) costs it at most this long's worth of receipts below the threshold.
   */
  maxUnclaimedAgeMs: number
  /**
   * a claim by age must pay at least this many times its own estimated cost: 1 (the default) never
   * sends a claim that costs more gas than it brings; 0 claims by age whatever it pays.
   */
  ageClaimCostMultiple: number
  /**
   * percent added to the claim's gas estimate to form its gas limit (unused gas is not paid). The
   * state can change between the estimate and the block (a signer rotation makes the contract read
   * two more slots), and a claim that runs out of gas still costs its gas.
   */
  claimGasMarginPercent: number
  /** ms between reads of new `CloseRequested`/`SignerChanged` events, and between receipt polls */
  pollIntervalMs: number
  /** ms between full sweeps of every channel with unclaimed receipts (and once at start) */
  sweepIntervalMs: number
  /** blocks per `eth_getLogs` call (public RPCs cap the range) */
  logsPageBlocks: number
  /** backoff of a failed claim: first delay and cap, ms (exponential, factor 2, randomized) */
  retry: { minTimeoutMs: number; maxTimeoutMs: number }
}

/**
 * Default {@link SettlementPolicy}: 0.01 ETH threshold; claims on session end and by age (after 1 h)
 * when they pay at least their own gas; gas limit = estimate + 25 %; 1 s event polls, a sweep a minute.
 */
export const DEFAULT_SETTLEMENT_POLICY: SettlementPolicy = {
  claimThreshold: 10n ** 16n,
  claimOnSessionEnd: true,
  minClaimOnSessionEnd: 0n,
  sessionEndCostMultiple: 1,
  maxUnclaimedAgeMs: 3_600_000,
  ageClaimCostMultiple: 1,
  claimGasMarginPercent: 25,
  pollIntervalMs: 1_000,
  sweepIntervalMs: 60_000,
  logsPageBlocks: 2_000,
  retry: { minTimeoutMs: 500, maxTimeoutMs: 30_000 },
}

/** Why a claim pass was started. */
export type ClaimTrigger =
  | 'threshold'
  | 'session_end'
  | 'close_requested'
  | 'signer_changed'
  | 'age'
  | 'sweep'
  | 'pending'
  | 'manual'

/** What {@link decideClaim} looks at: one channel, as the chain and the store show it now. */
export interface ClaimSituation {
  /** why the pass runs */
  trigger: ClaimTrigger
  /** on-chain status of the channel */
  status: ChannelStatus
  /** unix seconds when the challenge period ends (0 unless closing) */
  closeDeadline: bigint
  /** unix seconds of the latest block */
  chainNow: bigint
  /** wei the latest stored receipt would pay now: `min(amount, deposit) − claimed` (≤ 0: nothing) */
  unclaimed: bigint
  /** whether the latest receipt's signer is no longer the channel's signer or payer (rotated away) */
  signerReplaced: boolean
  /** ms since the epoch when the oldest receipt worth more than `claimed` was stored; undefined if none */
  unclaimedSince: number | undefined
  /** ms since the epoch */
  now: number
  /**
   * wei one claim is expected to cost (estimated gas × gas price). Undefined when not estimated yet:
   * the gas-based floors are then not applied, and a caller about to send must estimate and ask again.
   */
  claimCost: bigint | undefined
}

/** Why a claim is sent. */
export type ClaimReason =
  | 'close_requested'
  | 'signer_changed'
  | 'threshold'
  | 'age'
  | 'session_end'
  | 'manual'

/** Why no claim is sent. */
export type SkipReason =
  /** the challenge period is over or the channel is closed, with receipts still unpaid: lost */
  | 'missed'
  /** the channel is closed (or its challenge period is over) and nothing was left to claim */
  | 'final'
  /** the latest receipt pays nothing more than was claimed */
  | 'nothing_unclaimed'
  /** under the threshold, not old enough, and no session ended */
  | 'below_threshold'
  /** a session ended, but the claim would pay less than the session-end minimum */
  | 'below_session_end_minimum'
  /** old enough, but the claim would cost more gas than the age rule allows */
  | 'below_age_minimum'

/** A decision of {@link decideClaim}. */
export type ClaimDecision =
  | { claim: true; reason: ClaimReason }
  | { claim: false; reason: SkipReason /** wei, for `missed` and the minimums */; minimum?: bigint }

/** `cost × multiple`, in wei; the multiple is rounded to 1/1000. */
function scaled(cost: bigint, multiple: number): bigint {
  return (cost * BigInt(Math.round(multiple * 1000))) / 1000n
}

/**
 * Decides whether the seller claims a channel now, and why. Pure: every input is in `situation`.
 * In order:
 * 1. a channel closed, or closing past its `closeDeadline`, can no longer be claimed: `missed` when
 *    receipts are unpaid (the payer got them back), else `final`;
 * 2. nothing unpaid: no claim;
 * 3. deadline-driven claims, whatever they pay: the channel is closing (claims are accepted while
 *    `block.timestamp < closeDeadline`), or the receipt's signer was replaced (its receipts stay valid
 *    for one challenge period); a `close_requested`, `signer_changed` or `manual` trigger claims too;
 * 4. `threshold`: unpaid ≥ {@link SettlementPolicy.claimThreshold};
 * 5. `age`: the oldest unpaid receipt is ≥ {@link SettlementPolicy.maxUnclaimedAgeMs} old and the
 *    claim pays ≥ {@link SettlementPolicy.ageClaimCostMultiple} × its cost;
 * 6. `session_end` (trigger `session_end`, {@link SettlementPolicy.claimOnSessionEnd}): the claim pays
 *    ≥ max({@link SettlementPolicy.minClaimOnSessionEnd}, {@link SettlementPolicy.sessionEndCostMultiple}
 *    × its cost);
 * 7. otherwise wait.
 *
 * Time windows are half-open as in StreamChannels.sol: a closing channel is claimable while
 * `chainNow < closeDeadline`.
 *
 * @param situation - the channel now (amounts in wei, chain times in s, `now` in ms)
 * @param policy - the seller's settlement policy
 * @returns whether to claim, and the reason
 */
export function decideClaim(situation: ClaimSituation, policy: SettlementPolicy): ClaimDecision {
  const { trigger, status, unclaimed, claimCost } = situation
  const over =
    status === ChannelStatus.closed ||
    status === ChannelStatus.none ||
    (status === ChannelStatus.closing && situation.chainNow >= situation.closeDeadline)
  if (over) {
    return unclaimed > 0n
      ? { claim: false, reason: 'missed', minimum: unclaimed }
      : { claim: false, reason: 'final' }
  }
  if (unclaimed <= 0n) return { claim: false, reason: 'nothing_unclaimed' }
  if (status === ChannelStatus.closing || trigger === 'close_requested') {
    return { claim: true, reason: 'close_requested' }
  }
  if (situation.signerReplaced || trigger === 'signer_changed')
    return { claim: true, reason: 'signer_changed' }
  if (trigger === 'manual') return { claim: true, reason: 'manual' }
  if (unclaimed >= policy.claimThreshold) return { claim: true, reason: 'threshold' }
  let skip: ClaimDecision = { claim: false, reason: 'below_threshold' }
  const since = situation.unclaimedSince
  if (since !== undefined && situation.now - since >= policy.maxUnclaimedAgeMs) {
    const minimum = claimCost === undefined ? 0n : scaled(claimCost, policy.ageClaimCostMultiple)
    if (unclaimed >= minimum) return { claim: true, reason: 'age' }
    skip = { claim: false, reason: 'below_age_minimum', minimum }
  }
  if (trigger === 'session_end' && policy.claimOnSessionEnd) {
    const byGas = claimCost === undefined ? 0n : scaled(claimCost, policy.sessionEndCostMultiple)
    const minimum = byGas > policy.minClaimOnSessionEnd ? byGas : policy.minClaimOnSessionEnd
    if (unclaimed >= minimum) return { claim: true, reason: 'session_end' }
    return { claim: false, reason: 'below_session_end_minimum', minimum }
  }
  return skip
}

/** Whether a decision needs the claim's cost to be final: the age and session-end floors use it. */
export function needsClaimCost(decision: ClaimDecision): boolean {
  return decision.claim && (decision.reason === 'age' || decision.reason === 'session_end')
}
