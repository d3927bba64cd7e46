import { decodeRevert, type FeeMode, type StreamChannelsContract } from '@trickle/contracts'
import { type Hex, TrickleError } from '@trickle/protocol'
import { feeOverrides } from '@trickle/sdk'
import {
  type JsonRpcProvider,
  Transaction,
  type TransactionReceipt,
  type TransactionRequest,
  type Wallet,
} from 'ethers'
import { followTransaction } from './followTransaction.ts'
import type { ClaimRecord, ReceiptStore, StoredReceipt } from './receiptStore.ts'

/** What claim transactions need: the payee's wallet (connected), the contract, the ledger. */
export interface ClaimSender {
  provider: JsonRpcProvider
  /** the payee, connected to `provider`; the only sender of claims for its address */
  wallet: Wallet
  channels: StreamChannelsContract
  store: ReceiptStore
  /** `legacy`: type-0 transactions at exactly `eth_gasPrice` (IOTA EVM); `eip1559`: ethers' defaults */
  fees: FeeMode
}

/** A claim transaction before it is signed: its call, gas limit, fees, and what it should cost. */
export interface ClaimEstimate {
  /** the receipt it claims */
  receipt: StoredReceipt
  /** `to` and `data` of the `claim` call */
  call: { to: string; data: string }
  /** gas units `eth_estimateGas` reports for the claim now */
  gas: bigint
  /** gas units the transaction may use: `gas` plus the margin */
  gasLimit: bigint
  /** fee fields of the transaction (legacy `gasPrice`, or EIP-1559 `maxFeePerGas` and tip) */
  fees: Pick<TransactionRequest, 'type' | 'gasPrice' | 'maxFeePerGas' | 'maxPriorityFeePerGas'>
  /** wei per gas the claim is expected to pay: `eth_gasPrice` (exactly what a legacy transaction pays) */
  gasPrice: bigint
  /** wei the claim is expected to cost: `gas × gasPrice` (the margin is a limit, not a cost) */
  cost: bigint
}

/** Why a mined claim reverted, as far as the chain tells. */
export interface ClaimRevert {
  /**
   * `out_of_gas`: the claim used (nearly) its whole gas limit; `contract`: StreamChannels refused it
   * (`error` names the custom error, e.g. `StaleReceipt`); `unknown`: neither could be told
   */
  cause: 'out_of_gas' | 'contract' | 'unknown'
  /** the contract's custom error, for `contract` */
  error?: string
  /** gas units the transaction used */
  gasUsed: bigint
  /** gas units it was allowed */
  gasLimit: bigint
}

/** A claim record as {@link trackClaim} returns it: with the gas it cost, and why it reverted. */
export type TrackedClaim = ClaimRecord & {
  /** wei the transaction cost its sender (gas used × effective gas price), once included */
  gasCost?: bigint
  /** gas units the transaction used, once included */
  gasUsed?: bigint
  /** for a `reverted` claim */
  revert?: ClaimRevert
}

/**
 * Prepares a claim of `receipt`: its calldata, its gas (estimated from the payee's address, at the
 * latest block) with `marginPercent` added for the limit, its fees and its expected cost.
 *
 * @param marginPercent - percent added to the gas estimate to form the gas limit (≥ 0)
 * @returns the estimate {@link sendClaim} signs
 * @throws TrickleError `CLAIM_REJECTED` when the contract would revert (gas estimation fails with a
 *   decoded StreamChannels error: stale, over, wrong signer…), `CHAIN_UNAVAILABLE` when the RPC fails
 */
export async function estimateClaim(
  sender: ClaimSender,
  receipt: StoredReceipt,
  marginPercent: number,
): Promise<ClaimEstimate> {
  const { provider, wallet, channels } = sender
  try {
    const populated = await channels.claim.populateTransaction(
      receipt.channelId,
      receipt.amount,
      receipt.seq,
      receipt.ackHash,
      receipt.signature,
    )
    const call = { to: populated.to, data: populated.data }
    const [gas, { fees, gasPrice }] = await Promise.all([
      provider.estimateGas({ ...call, from: wallet.address }),
      claimFees(sender),
    ])
    const gasLimit = gas + (gas * BigInt(Math.ceil(marginPercent * 100))) / 10_000n
    return { receipt, call, gas, gasLimit, fees, gasPrice, cost: gas * gasPrice }
  } catch (cause) {
    const revert = decodeRevert(cause)
    if (revert) {
      throw new TrickleError('CLAIM_REJECTED', `the contract refuses the claim: ${revert.name}`, {
        cause,
        details: revert.name,
      })
    }
    if (cause instanceof TrickleError) throw cause
    throw new TrickleError('CHAIN_UNAVAILABLE', 'could not estimate the claim transaction', { cause })
  }
}

/**
 * The claim's fee fields and expected wei per gas. Legacy: the node's exact `eth_gasPrice`, which is
 * what the claim pays. EIP-1559: ethers' fee data (`maxFeePerGas` = 2 × base fee + tip), set on the
 * transaction so it is read once; the expected price is `eth_gasPrice` (base fee + suggested tip).
 */
async function claimFees(sender: ClaimSender): Promise<Pick<ClaimEstimate, 'fees' | 'gasPrice'>> {
  const legacy = await feeOverrides(sender.provider, sender.fees)
  if (legacy.gasPrice !== undefined) return { fees: legacy, gasPrice: legacy.gasPrice }
  const data = await sender.provider.getFeeData()
  const gasPrice = data.gasPrice ?? data.maxFeePerGas
  if (gasPrice === null) throw new TrickleError('CHAIN_UNAVAILABLE', 'the node reports no gas price')
  const fees =
    data.maxFeePerGas !== null && data.maxPriorityFeePerGas !== null
      ? { maxFeePerGas: data.maxFeePerGas, maxPriorityFeePerGas: data.maxPriorityFeePerGas }
      : {}
  return { fees, gasPrice }
}

/**
 * Signs the claim {@link estimateClaim} prepared (with its gas limit), records it in the ledger
 * (status `pending`) and only then broadcasts it. The nonce is the larger of the node's pending count
 * and one past the highest nonce this ledger has pending, so concurrent channels never reuse a nonce.
 * Callers must serialize calls per sender.
 *
 * A broadcast that fails is not an error here: the transaction is in the ledger, and
 * {@link trackClaim} rebroadcasts the same bytes until it is mined or its nonce is taken.
 *
 * @returns the pending claim record
 * @throws TrickleError `CHAIN_UNAVAILABLE` when the RPC fails before the claim is recorded,
 *   `STORE_FAILED`
 */
export async function sendClaim(sender: ClaimSender, estimate: ClaimEstimate): Promise<ClaimRecord> {
  const { provider, wallet, store } = sender
  const { receipt } = estimate
  // A store failure is STORE_FAILED, not a chain failure: read the ledger outside the RPC's try.
  const pending = await store.pendingClaims()
  let signed: string
  let nonce: number
  try {
    const nodeNonce = await provider.getTransactionCount(wallet.address, 'pending')
    nonce = Math.max(nodeNonce, ...pending.map((c) => c.nonce + 1))
    const request: TransactionRequest = {
      ...estimate.call,
      nonce,
      gasLimit: estimate.gasLimit,
      ...estimate.fees,
    }
    signed = await wallet.signTransaction(await wallet.populateTransaction(request))
  } catch (cause) {
    throw new TrickleError('CHAIN_UNAVAILABLE', 'could not prepare the claim transaction', { cause })
  }
  const record: ClaimRecord = {
    channelId: receipt.channelId,
    cumulativeAmount: receipt.amount,
    seq: receipt.seq,
    txHash: Transaction.from(signed).hash as Hex,
    nonce,
    rawTx: signed as Hex,
    status: 'pending',
    paid: 0n,
    sentAt: Date.now(),
  }
  await store.recordClaim(record)
  await provider.broadcastTransaction(signed).catch(() => undefined)
  return record
}

/**
 * Tells why a mined claim reverted. Out of gas when it used at least 63/64 of its limit: a frame
 * that runs out of gas consumes all it was given, and a call that ran out leaves its caller only
 * 1/64 (EIP-150). Otherwise the call is replayed (`eth_call`, same sender, data and gas) on the
 * state after its block and the revert data is decoded against StreamChannels' errors; a replay
 * that succeeds (the state changed again) or fails without data gives `unknown`.
 *
 * @param mined - the claim's transaction receipt (status 0)
 * @returns the cause; never throws (RPC failures give `unknown`)
 */
export async function explainRevert(
  sender: ClaimSender,
  claim: ClaimRecord,
  mined: TransactionReceipt,
): Promise<ClaimRevert> {
  const tx = Transaction.from(claim.rawTx)
  const { gasLimit } = tx
  const { gasUsed } = mined
  if (gasUsed * 64n >= gasLimit * 63n) return { cause: 'out_of_gas', gasUsed, gasLimit }
  try {
    await sender.provider.call({
      from: sender.wallet.address,
      to: tx.to,
      data: tx.data,
      gasLimit,
      blockTag: mined.blockNumber,
    })
  } catch (err) {
    const revert = decodeRevert(err)
    if (revert) return { cause: 'contract', error: revert.name, gasUsed, gasLimit }
  }
  return { cause: 'unknown', gasUsed, gasLimit }
}

/**
 * Follows a pending claim until it leaves `pending`: returns once it is mined (status and the paid
 * amount from its `Claimed` event written to the ledger), reverted (with its cause, see
 * {@link explainRevert}), or dropped (its nonce was used by another transaction, so it can never be
 * mined). A transaction the node does not know is rebroadcast unchanged, so a restart or a node that
 * lost its mempool never leads to a second, different claim.
 *
 * @param pollMs - ms between receipt polls
 * @param signal - aborts the wait (the claim stays `pending` in the ledger)
 * @returns the updated record, with the gas it cost once included
 * @throws TrickleError `CHAIN_UNAVAILABLE` when the RPC fails, `STORE_FAILED` when the outcome cannot
 *   be recorded (retry later either way: the claim stays `pending`, nothing is lost), or the signal's
 *   reason when aborted
 */
export async function trackClaim(
  sender: ClaimSender,
  claim: ClaimRecord,
  pollMs: number,
  signal: AbortSignal,
): Promise<TrackedClaim> {
  const { provider, channels, store } = sender
  try {
    const mined = await followTransaction(provider, claim, pollMs, signal)
    if (mined === 'dropped') {
      await store.settleClaim(claim.txHash, { status: 'dropped' })
      return { ...claim, status: 'dropped', settledAt: Date.now() }
    }
    let paid = 0n
    for (const log of mined.logs) {
      if (log.address.toLowerCase() !== (channels.target as string).toLowerCase()) continue
      const event = channels.interface.parseLog(log)
      if (event?.name === 'Claimed') paid = event.args.getValue('paid') as bigint
    }
    const status = mined.status === 1 ? 'mined' : 'reverted'
    await store.settleClaim(claim.txHash, { status, paid, blockNumber: mined.blockNumber })
    const tracked: TrackedClaim = {
      ...claim,
      status,
      paid,
      blockNumber: mined.blockNumber,
      settledAt: Date.now(),
      gasCost: mined.gasUsed * mined.gasPrice,
      gasUsed: mined.gasUsed,
    }
    if (status === 'reverted') tracked.revert = await explainRevert(sender, claim, mined)
    return tracked
  } catch (cause) {
    if (signal.aborted) throw signal.reason
    if (cause instanceof TrickleError) throw cause
    throw new TrickleError('CHAIN_UNAVAILABLE', `could not follow claim ${claim.txHash}`, { cause })
  }
}
