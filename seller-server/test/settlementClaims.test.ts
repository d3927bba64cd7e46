import type { EventEmitter } from 'node:events'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { channelsAt } from '@trickle/contracts'
import {
  type Deployment,
  deployContracts,
  increaseTime,
  type LocalChain,
  startLocalChain,
} from '@trickle/devnet'
import { type AcceptedReceipt, type Hex, receiptDomainSeparator, signReceipt } from '@trickle/protocol'
import { JsonRpcProvider, SigningKey, Wallet, ZeroAddress } from 'ethers'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { DEFAULT_SETTLEMENT_POLICY, type SettlementPolicy } from '../src/decideClaim.ts'
import { type LocalReceiptStore, openReceiptStore } from '../src/receiptStore.ts'
import {
  type SettlementEvents,
  type SettlementWorker,
  startSettlementWorker,
} from '../src/settlementWorker.ts'
import { startFlakyRpc } from './helpers/flakyRpc.ts'

const PRICE = 1_000_000_000_000n // wei per chunk
const CHALLENGE_PERIOD = 3600
const DEPOSIT = PRICE * 100_000n
const GWEI = 10n ** 9n
/** anvil accounts: 0 deploys, 1 pays, 2 relays; every test's seller (payee) has an account of its own */
const PAYER = 1
const RELAYER = 2

type Logged = { level: number; msg: string; code?: string; cause?: string; channelId?: string }
type Recorded = { [K in keyof SettlementEvents]: SettlementEvents[K][0][] }

/**
 * A settlement worker of its own (payee = anvil account `keyIndex`) on the shared chain, with an
 * in-memory ledger, every log line and every event recorded.
 */
interface Seller {
  worker: SettlementWorker
  store: LocalReceiptStore
  wallet: Wallet
  provider: JsonRpcProvider
  logs: Logged[]
  events: Recorded
  stop(): Promise<void>
}

describe('settlement worker claims (anvil)', () => {
  let chain: LocalChain
  let deployment: Deployment
  let payer: Wallet
  let separator: Hex
  const sellers: Seller[] = []

  beforeAll(async () => {
    chain = await startLocalChain()
    const deployer = new Wallet(chain.privateKeys[0]!, chain.provider)
    deployment = await deployContracts(deployer, { challengePeriodSeconds: BigInt(CHALLENGE_PERIOD) })
    payer = new Wallet(chain.privateKeys[PAYER]!, chain.provider)
    separator = receiptDomainSeparator({ chainId: chain.chainId, channels: deployment.channels as Hex })
  })
  afterAll(async () => {
    for (const seller of sellers) await seller.stop()
    await chain?.stop()
  })

  /** Opens a native channel from the payer to `payee` whose receipts `signer` signs. */
  async function openChannel(payee: string, signer: SigningKey): Promise<Hex> {
    const channels = channelsAt(deployment.channels, payer)
    const signerAddress = new Wallet(signer).address
    const mined = await (
      await channels.open(payee, ZeroAddress, DEPOSIT, signerAddress, { value: DEPOSIT })
    ).wait()
    for (const log of mined!.logs) {
      const event = channels.interface.parseLog(log)
      if (event?.name === 'ChannelOpened') return event.args.getValue('channelId') as Hex
    }
    throw new Error('no ChannelOpened event')
  }

  /** A receipt for `chunks` chunks, signed by `key`, as the seller session would store it. */
  function receipt(
    channelId: Hex,
    chunks: number,
    key: SigningKey,
    amount = PRICE * BigInt(chunks),
  ): AcceptedReceipt {
    const value = {
      channelId,
      amount,
      seq: chunks,
      ackHash: `0x${chunks.toString(16).padStart(64, '0')}` as Hex,
    }
    return {
      ...value,
      productId: 1n,
      signature: signReceipt(key, separator, value),
      signer: new Wallet(key).address as Hex,
    }
  }

  async function startSeller(
    keyIndex: number,
    policy: Partial<SettlementPolicy> = {},
    options: { rpcUrl?: string; store?: LocalReceiptStore } = {},
  ): Promise<Seller> {
    const provider = new JsonRpcProvider(options.rpcUrl ?? chain.rpcUrl, chain.chainId, {
      staticNetwork: true,
      pollingInterval: 100,
      cacheTimeout: -1,
    })
    const wallet = new Wallet(chain.privateKeys[keyIndex]!, provider)
    const store = options.store ?? openReceiptStore(':memory:')
    const logs: Logged[] = []
    const log = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) })
    const worker = startSettlementWorker(
      { provider, wallet, channels: channelsAt(deployment.channels, provider), store, fees: 'eip1559' },
      {
        ...DEFAULT_SETTLEMENT_POLICY,
        pollIntervalMs: 100,
        retry: { minTimeoutMs: 50, maxTimeoutMs: 200 },
        ...policy,
      },
      log,
    )
    const events: Recorded = {
      claimSent: [],
      claimed: [],
      claimFailed: [],
      claimDeferred: [],
      claimMissed: [],
      closeRequested: [],
    }
    for (const name of Object.keys(events) as (keyof SettlementEvents)[]) {
      const record = (event: unknown) => void (events[name] as unknown[]).push(event)
      ;(worker.events as EventEmitter).on(name, record)
    }
    const seller: Seller = {
      worker,
      store,
      wallet,
      provider,
      logs,
      events,
      async stop() {
        await worker.stop()
        await store.close()
        provider.destroy()
      },
    }
    sellers.push(seller)
    return seller
  }

  /** Hashes of the pending transactions `from` sent (anvil's txpool). */
  async function pooled(from: string): Promise<string[]> {
    const pool = (await chain.provider.send('txpool_content', [])) as {
      pending: Record<string, Record<string, { hash: string }>>
    }
    const mine = Object.entries(pool.pending).find(([sender]) => sender.toLowerCase() === from.toLowerCase())
    return Object.values(mine?.[1] ?? {}).map((tx) => tx.hash)
  }

  /**
   * With blocks mined by hand: lets `seller` put its claim of `channelId` in the mempool, has `front`
   * send a transaction with a higher tip, then mines both in one block (the tip orders them).
   */
  async function raceClaim(seller: Seller, channelId: Hex, front: () => Promise<unknown>) {
    await chain.provider.send('evm_setAutomine', [false])
    try {
      const settled = seller.worker.settle(channelId).then(
        (claim) => ({ claim }),
        (error: Error) => ({ error }),
      )
      await vi.waitFor(async () => expect(await pooled(seller.wallet.address)).toHaveLength(1), {
        timeout: 20_000,
      })
      const [claimTx] = await pooled(seller.wallet.address)
      const pending = (await chain.provider.getTransaction(claimTx!))!
      // What the claim needs on the state it was signed for (before the front-runner).
      const estimate = BigInt(
        await chain.provider.send('eth_estimateGas', [
          { to: pending.to, data: pending.data, from: pending.from },
          'latest',
        ]),
      )
      await front()
      await chain.provider.send('evm_mine', [])
      const mined = (await chain.provider.getTransactionReceipt(claimTx!))!
      return { settled, claimTx: claimTx!, mined, estimate }
    } finally {
      await chain.provider.send('evm_setAutomine', [true])
    }
  }

  /** Mines a block now and then (a retry sent while automine was off waits in the mempool) until `done`. */
  async function mineUntil<T>(done: Promise<T>): Promise<T> {
    let finished = false
    const result = done.finally(() => {
      finished = true
    })
    await vi.waitFor(
      async () => {
        if (!finished) await chain.provider.send('evm_mine', [])
        expect(finished).toBe(true)
      },
      { timeout: 30_000, interval: 250 },
    )
    return result
  }

  describe('finding 13: claims on session end only when they are worth their gas', () => {
    it('defers the claim of a 1-chunk session (it would cost ~50× what it pays) and claims once the channel is worth its gas', async () => {
      const seller = await startSeller(3)
      const key = new SigningKey(Wallet.createRandom().privateKey)
      const channelId = await openChannel(seller.wallet.address, key)
      await seller.store.save(receipt(channelId, 1, key))
      seller.worker.sessionEnded(channelId)
      await vi.waitFor(() => expect(seller.events.claimDeferred).toHaveLength(1), { timeout: 20_000 })
      await seller.worker.idle()
      const [deferred] = seller.events.claimDeferred
      expect(deferred).toMatchObject({
        channelId: channelId.toLowerCase(),
        trigger: 'session_end',
        reason: 'below_session_end_minimum',
        unclaimed: PRICE,
      })
      // A ~49k-gas claim at anvil's gas price (1–2 gwei): ~5–8 × 10^13 wei, 50–80 chunks.
      expect(deferred!.minimum).toBeGreaterThan(40n * PRICE)
      console.log(
        `finding 13: 1-chunk session pays ${PRICE} wei; session-end minimum ${deferred!.minimum} wei (its claim's cost): deferred`,
      )
      expect(seller.events.claimSent).toEqual([])
      expect(seller.worker.stats).toMatchObject({ claimsSent: 0, claimsDeferred: 1 })
      expect((await channelsAt(deployment.channels, chain.provider).getChannel(channelId)).claimed).toBe(0n)

      // A later session brings the channel over the minimum: its end claims everything.
      const chunks = Number((deferred!.minimum * 3n) / PRICE)
      await seller.store.save(receipt(channelId, chunks, key))
      const claim = await seller.worker.settle(channelId, 'session_end')
      expect(claim).toMatchObject({ status: 'mined', paid: PRICE * BigInt(chunks) })
      const [sent] = seller.events.claimSent
      expect(sent).toMatchObject({ trigger: 'session_end', reason: 'session_end' })
      const mined = (await chain.provider.getTransactionReceipt(sent!.txHash))!
      const gasCost = mined.gasUsed * mined.gasPrice
      console.log(
        `finding 13: ${chunks}-chunk session pays ${claim!.paid} wei; its claim cost ${gasCost} wei (${mined.gasUsed} gas)`,
      )
      expect(claim!.paid).toBeGreaterThanOrEqual(2n * gasCost)
      expect(seller.worker.stats).toMatchObject({ claimsSent: 1, claimsMined: 1, paidWei: claim!.paid })
      expect(seller.worker.stats.gasSpentWei).toBe(gasCost)
    })
  })

  describe('finding 14: claim gas limit with a margin; reverted claims reported with their cause', () => {
    it('claims with a gas limit 25 % over the estimate, so a signer rotation mined just before the claim does not run it out of gas', async () => {
      const seller = await startSeller(4)
      const key = new SigningKey(Wallet.createRandom().privateKey)
      const channelId = await openChannel(seller.wallet.address, key)
      await seller.store.save(receipt(channelId, 12, key))
      const channels = channelsAt(deployment.channels, payer)
      const { settled, claimTx, mined, estimate } = await raceClaim(seller, channelId, async () => {
        // The payer rotates the signer, outbidding the claim: the claim's receipt now verifies
        // through the previous-signer branch, which reads two more storage slots.
        await channels.setSigner(channelId, ZeroAddress, {
          maxPriorityFeePerGas: 50n * GWEI,
          maxFeePerGas: 100n * GWEI,
        })
      })
      const tx = (await chain.provider.getTransaction(claimTx))!
      console.log(
        `finding 14: claim gas estimate ${estimate}, gas limit ${tx.gasLimit}, gas used after the rotation ${mined.gasUsed}, status ${mined.status}`,
      )
      expect(mined.status).toBe(1)
      expect(tx.gasLimit).toBe(estimate + (estimate * 25n) / 100n)
      expect(seller.events.claimSent[0]?.gasLimit).toBe(tx.gasLimit)
      expect(await mineUntil(settled)).toMatchObject({ claim: { status: 'mined', paid: 12n * PRICE } })
      expect(seller.events.claimFailed).toEqual([])
      expect((await channels.getChannel(channelId)).claimed).toBe(12n * PRICE)
    })

    it('reports a claim that ran out of gas (gas used = its limit) in claimFailed and the log, then claims again', async () => {
      const seller = await startSeller(5, { claimGasMarginPercent: 0 })
      const key = new SigningKey(Wallet.createRandom().privateKey)
      const channelId = await openChannel(seller.wallet.address, key)
      await seller.store.save(receipt(channelId, 12, key))
      const channels = channelsAt(deployment.channels, payer)
      const { settled, claimTx, mined, estimate } = await raceClaim(seller, channelId, async () => {
        await channels.setSigner(channelId, ZeroAddress, {
          maxPriorityFeePerGas: 50n * GWEI,
          maxFeePerGas: 100n * GWEI,
        })
      })
      const tx = (await chain.provider.getTransaction(claimTx))!
      console.log(
        `finding 14: without a margin the claim's gas limit is ${tx.gasLimit}; after the rotation it ${mined.status === 1 ? 'succeeded' : `reverted, gas used ${mined.gasUsed}`}`,
      )
      expect(tx.gasLimit).toBe(estimate)
      expect(mined.status).toBe(0) // what issue 10 saw: the seller paid the gas, nothing was claimed
      expect(mined.gasUsed).toBe(tx.gasLimit)
      const outcome = await mineUntil(settled)
      const [failure] = seller.events.claimFailed
      expect(failure).toMatchObject({
        channelId: channelId.toLowerCase(),
        txHash: claimTx,
        willRetry: true,
        error: { code: 'TRANSACTION_REVERTED' },
        revert: { cause: 'out_of_gas', gasUsed: mined.gasUsed, gasLimit: tx.gasLimit },
      })
      expect(failure!.error.message).toContain('out of gas')
      expect(seller.logs.filter((l) => l.code === 'TRANSACTION_REVERTED')).toMatchObject([
        { level: 50, cause: 'out_of_gas', channelId: channelId.toLowerCase() },
      ])
      // The next attempt estimates on the rotated channel and is mined.
      expect(outcome).toMatchObject({ claim: { status: 'mined', paid: 12n * PRICE } })
      expect(seller.worker.stats).toMatchObject({ claimsSent: 2, claimsReverted: 1, claimsMined: 1 })
      expect(seller.worker.stats.gasSpentWei).toBeGreaterThan(mined.gasUsed * mined.gasPrice)
      expect((await channels.getChannel(channelId)).claimed).toBe(12n * PRICE)
    })

    it('decodes the contract error of a reverted claim (another sender claimed the receipt first)', async () => {
      const seller = await startSeller(6)
      const key = new SigningKey(Wallet.createRandom().privateKey)
      const channelId = await openChannel(seller.wallet.address, key)
      const stored = receipt(channelId, 20, key)
      await seller.store.save(stored)
      const relayer = channelsAt(deployment.channels, new Wallet(chain.privateKeys[RELAYER]!, chain.provider))
      const { settled, mined } = await raceClaim(seller, channelId, async () => {
        // Anyone may submit a receipt; the payee is paid either way, and the seller's claim is stale.
        await relayer.claim(channelId, stored.amount, stored.seq, stored.ackHash, stored.signature, {
          gasLimit: 200_000n, // not estimated: the pending state already holds the seller's claim
          maxPriorityFeePerGas: 50n * GWEI,
          maxFeePerGas: 100n * GWEI,
        })
      })
      expect(mined.status).toBe(0)
      expect(await mineUntil(settled)).toEqual({ claim: undefined }) // nothing left to claim
      expect(seller.events.claimFailed).toMatchObject([
        {
          error: { code: 'TRANSACTION_REVERTED' },
          revert: { cause: 'contract', error: 'StaleReceipt' },
          willRetry: true,
        },
      ])
      expect(seller.logs.find((l) => l.code === 'TRANSACTION_REVERTED')).toMatchObject({
        level: 50,
        cause: 'contract',
      })
      expect(seller.worker.stats).toMatchObject({ claimsSent: 1, claimsReverted: 1, claimsMined: 0 })
    })
  })

  describe('finding 15: missed challenge periods and claims by age', () => {
    it('reports CLAIM_MISSED once for a seller back after the deadline (log, event, counters) and never reads the channel again', async () => {
      const payeeIndex = 7
      const payee = new Wallet(chain.privateKeys[payeeIndex]!).address
      const key = new SigningKey(Wallet.createRandom().privateKey)
      const [finalized, expired] = [await openChannel(payee, key), await openChannel(payee, key)]
      // The seller stored receipts and read events up to here, then went down.
      const store = openReceiptStore(':memory:')
      await store.save(receipt(finalized, 30, key))
      await store.save(receipt(expired, 40, key))
      await store.setMeta('settlement.logsCursor', String(await chain.provider.getBlockNumber()))
      const channels = channelsAt(deployment.channels, payer)
      for (const id of [finalized, expired]) await (await channels.requestClose(id)).wait()
      await increaseTime(chain.provider, CHALLENGE_PERIOD + 1)
      const closed = await (await channels.finalize(finalized)).wait()
      expect(channels.interface.parseLog(closed!.logs[0]!)!.args.getValue('refundedToPayer')).toBe(DEPOSIT)

      const rpc = await startFlakyRpc(chain.rpcUrl)
      try {
        const seller = await startSeller(payeeIndex, { sweepIntervalMs: 100 }, { rpcUrl: rpc.url, store })
        await vi.waitFor(() => expect(seller.events.claimMissed).toHaveLength(2), { timeout: 20_000 })
        expect(seller.events.claimMissed).toEqual(
          expect.arrayContaining([
            expect.objectContaining({
              channelId: finalized.toLowerCase(),
              unclaimed: 30n * PRICE,
              status: 3,
            }),
            expect.objectContaining({ channelId: expired.toLowerCase(), unclaimed: 40n * PRICE, status: 2 }),
          ]),
        )
        expect(
          seller.logs.filter((l) => l.code === 'CLAIM_MISSED').map((l) => [l.level, l.channelId]),
        ).toEqual(
          expect.arrayContaining([
            [50, finalized.toLowerCase()],
            [50, expired.toLowerCase()],
          ]),
        )
        expect(seller.worker.stats).toMatchObject({ claimsMissed: 2, missedWei: 70n * PRICE, claimsSent: 0 })
        for (const id of [finalized, expired]) {
          expect(JSON.parse((await store.getMeta(`settlement.final.${id.toLowerCase()}`))!)).toMatchObject({
            missedWei: String(id === finalized ? 30n * PRICE : 40n * PRICE),
          })
        }

        // Later sweeps skip both channels: no more reports, no more channel reads.
        await seller.worker.idle()
        const sweeps = seller.worker.stats.sweeps
        await vi.waitFor(() => expect(seller.worker.stats.sweeps).toBeGreaterThanOrEqual(sweeps + 2), {
          timeout: 20_000,
        })
        const reads = rpc.calls.filter((m) => m === 'eth_call').length
        await vi.waitFor(() => expect(seller.worker.stats.sweeps).toBeGreaterThanOrEqual(sweeps + 5), {
          timeout: 20_000,
        })
        expect(rpc.calls.filter((m) => m === 'eth_call').length).toBe(reads)
        expect(seller.events.claimMissed).toHaveLength(2)
        expect(seller.worker.stats).toMatchObject({ claimsMissed: 2, unclaimedWei: 0n })
      } finally {
        await rpc.close()
      }
    })

    it('claims receipts older than maxUnclaimedAgeMs whatever the threshold, unless the claim would cost more than it pays', async () => {
      const maxUnclaimedAgeMs = 1_500
      const seller = await startSeller(8, {
        claimThreshold: 10n ** 30n,
        claimOnSessionEnd: false,
        maxUnclaimedAgeMs,
        sweepIntervalMs: 200,
      })
      const key = new SigningKey(Wallet.createRandom().privateKey)
      const [worth, dust] = [
        await openChannel(seller.wallet.address, key),
        await openChannel(seller.wallet.address, key),
      ]
      await seller.store.save(receipt(worth, 500, key))
      await seller.store.save(receipt(dust, 1, key))
      const stored = (await seller.store.latest(worth))!

      await vi.waitFor(() => expect(seller.events.claimed).toHaveLength(1), { timeout: 20_000 })
      const [sent] = seller.events.claimSent
      expect(sent).toMatchObject({ channelId: worth.toLowerCase(), trigger: 'age', reason: 'age' })
      expect(sent!.sentAt - stored.storedAt).toBeGreaterThanOrEqual(maxUnclaimedAgeMs)
      expect(seller.events.claimed[0]).toMatchObject({ paid: 500n * PRICE })

      // The 1-chunk channel is as old, but its claim would cost ~50× what it pays: deferred.
      await vi.waitFor(
        () =>
          expect(seller.events.claimDeferred.find((d) => d.channelId === dust.toLowerCase())).toMatchObject({
            reason: 'below_age_minimum',
            unclaimed: PRICE,
          }),
        { timeout: 20_000 },
      )
      const sweeps = seller.worker.stats.sweeps
      await vi.waitFor(() => expect(seller.worker.stats.sweeps).toBeGreaterThan(sweeps), { timeout: 20_000 })
      expect(seller.worker.stats).toMatchObject({ claimsSent: 1, claimsMined: 1, unclaimedWei: PRICE })
    })
  })

  describe('issue 11: failures keep their codes', () => {
    it('reports a claim whose outcome the store cannot record as STORE_FAILED (SQLite’s error its cause), not CHAIN_UNAVAILABLE, and records that same claim once the store is back', async () => {
      const path = join(mkdtempSync(join(tmpdir(), 'trickle-claims-')), 'r.sqlite')
      const store = openReceiptStore(path)
      const seller = await startSeller(9, { claimThreshold: 10n ** 30n, claimOnSessionEnd: false }, { store })
      const key = new SigningKey(Wallet.createRandom().privateKey)
      const channelId = await openChannel(seller.wallet.address, key)
      await store.save(receipt(channelId, 20, key))
      // The database refuses to record claim outcomes, as a full disk would.
      const raw = new DatabaseSync(path)
      raw.exec(`CREATE TRIGGER refuse_outcome BEFORE UPDATE ON claims
                BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`)
      try {
        const settled = seller.worker.settle(channelId)
        await vi.waitFor(() => expect(seller.events.claimFailed.length).toBeGreaterThanOrEqual(2), {
          timeout: 20_000,
        })
        for (const failure of seller.events.claimFailed) {
          expect(failure).toMatchObject({ willRetry: true, error: { code: 'STORE_FAILED' } })
          expect(failure.error.cause).toMatchObject({ message: expect.stringContaining('disk I/O error') })
        }
        raw.exec('DROP TRIGGER refuse_outcome')
        expect(await settled).toMatchObject({ status: 'mined', paid: 20n * PRICE })
      } finally {
        raw.close()
      }
      // One claim transaction, followed until its outcome could be written.
      expect((await store.claims(channelId)).map((c) => c.status)).toEqual(['mined'])
      expect(seller.events.claimSent).toHaveLength(1)
    })
  })
})
