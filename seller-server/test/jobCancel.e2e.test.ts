// Issue 14, "Cancel mid-job: the job is killed, the buyer paid only for output and CPU received, the
// rest refunded after the challenge period" — anvil, the provider as its own process, two buyer
// clients (the one that runs the job, and one elsewhere that cancels it) and a real WASI module.
import { execFileSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { increaseTime, type LocalMarketplace, startLocalMarketplace } from '@trickle/devnet'
import {
  type Address,
  type Hex,
  hasCode,
  type JobCancel,
  type JobRecord,
  type SignedJobQuote,
  signJobCancel,
} from '@trickle/protocol'
import type { BuyerClient, CatalogProduct, PaidJob } from '@trickle/sdk'
import { type JsonRpcProvider, SigningKey } from 'ethers'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { buildJobModules } from '../modules/build.ts'
import type { JobSpec } from '../src/jobs/jobProvider.ts'
import type { JobStatus } from '../src/jobs/recentJobs.ts'
import { buyerFor } from './helpers/buyer.ts'
import { freePort, ledgerIn, type SellerProcess, spawnMarketSeller } from './helpers/spawnSeller.ts'

const UNIT_PRICE = 10_000_000_000n // wei per unit
const CHALLENGE_PERIOD = 3600 // s
const PROVIDER_KEY_INDEX = 8 // anvil account 8: a provider of its own, apart from the marketplace's
const PAYER_KEY_INDEX = 3
/** Minutes of CPU and wall time: the job runs until it is cancelled. */
const JOB: JobSpec = {
  limits: {
    memoryBytes: 64 * 1024 ** 2,
    cpuMs: 120_000,
    wallMs: 180_000,
    moduleBytes: 4 * 1024 ** 2,
    outputBytes: 1024 ** 2,
  },
  startUnits: 2,
  cpuMsPerUnit: 50,
}
/** Burns CPU and prints a line every few ms, forever (attack.c). */
const CHURN = ['attack', 'churn']

describe('job cancel: a signed cancel from anywhere stops a running job (anvil, provider process, SDK)', () => {
  let market: LocalMarketplace
  let seller: SellerProcess
  let dataDir: string
  let attack: Uint8Array
  /** runs the jobs */
  let buyer: BuyerClient
  /** the same payer in another process: holds no session key of the channel, signs as the payer */
  let elsewhere: BuyerClient
  /** another payer */
  let stranger: BuyerClient
  let rpc: JsonRpcProvider
  const rpcs: JsonRpcProvider[] = []
  let compute: CatalogProduct
  let payerKey: SigningKey

  beforeAll(async () => {
    attack = await readFile((await buildJobModules()).attack)
    market = await startLocalMarketplace({
      rowsPerSecond: 0,
      challengePeriodSeconds: BigInt(CHALLENGE_PERIOD),
      logger: pino({ level: 'silent' }),
    })
    dataDir = mkdtempSync(join(tmpdir(), 'trickle-job-cancel-'))
    seller = await spawnMarketSeller(market, {
      keyIndex: PROVIDER_KEY_INDEX,
      dataDir,
      port: await freePort(),
      price: UNIT_PRICE,
      compute: { price: UNIT_PRICE, job: JOB },
    })
    const client = async (keyIndex: number) => {
      const made = await buyerFor(market, { gateway: seller.httpUrl, keyIndex })
      rpcs.push(made.provider)
      return made
    }
    ;({ buyer, provider: rpc } = await client(PAYER_KEY_INDEX))
    ;({ buyer: elsewhere } = await client(PAYER_KEY_INDEX))
    ;({ buyer: stranger } = await client(PAYER_KEY_INDEX + 1))
    compute = await buyer.product(seller.products.at(-1)!)
    payerKey = new SigningKey(market.buyerKeys[PAYER_KEY_INDEX]!)
  }, 180_000)

  afterAll(async () => {
    for (const client of [buyer, elsewhere, stranger]) await client?.close()
    for (const provider of rpcs) provider.destroy()
    await seller?.kill()
    await market?.stop()
    if (dataDir) await rm(dataDir, { recursive: true, force: true })
  })

  /** The provider process's job sandboxes: its descendant processes that run the job runner. */
  function sandboxes(): number[] {
    const rows = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' })
      .split('\n')
      .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line))
      .filter((m) => m !== null)
      .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3]! }))
    const family = new Set([seller.child.pid!])
    for (let grew = true; grew; ) {
      grew = false
      for (const row of rows) {
        if (family.has(row.ppid) && !family.has(row.pid)) {
          family.add(row.pid)
          grew = true
        }
      }
    }
    return rows.filter((r) => family.has(r.pid) && r.args.includes('jobRunner')).map((r) => r.pid)
  }

  const runningJobs = async () =>
    ((await (await fetch(`${seller.httpUrl}/health`)).json()) as { jobs: { running: number } }).jobs.running

  const statusOf = async (jobId: Hex) =>
    (await (await fetch(`${seller.httpUrl}/jobs/${jobId}`)).json()) as JobStatus

  const post = (jobId: string, body: string) =>
    fetch(`${seller.httpUrl}/jobs/${jobId}/cancel`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    })

  const signed = (cancel: JobCancel, chainId = market.chainId) =>
    JSON.stringify({
      signature: signJobCancel(payerKey, chainId, market.deployment.channels as Address, cancel),
    })

  /** Quotes the churning job, opens a channel worth its most and starts it, collecting its records. */
  async function startChurn(signal?: AbortSignal) {
    const answer = (await buyer.quoteJob(compute, { module: attack, args: CHURN })) as SignedJobQuote
    const deposit = BigInt(answer.quote.maxUnits) * UNIT_PRICE
    const { channelId } = await buyer.openChannel(seller.address as Address, deposit)
    const job: PaidJob = await buyer.runJob(compute, answer, {
      channelId,
      args: CHURN,
      ...(signal ? { signal } : {}),
    })
    const records: JobRecord[] = []
    const consuming = (async () => {
      for await (const record of job) records.push(record)
    })()
    consuming.catch(() => {}) // awaited by the test
    // Running: output and CPU time arrive, paid as they come.
    await vi.waitFor(
      () => {
        expect(records.filter((r) => r.k === 'out').length).toBeGreaterThanOrEqual(3)
        expect(records.filter((r) => r.k === 'cpu').length).toBeGreaterThanOrEqual(3)
      },
      { timeout: 30_000, interval: 20 },
    )
    return { jobId: answer.quote.quoteId, channelId, deposit, job, records, consuming }
  }

  /** Waits until the provider runs no job and no sandbox process is left. */
  async function expectNoJobLeft() {
    await vi.waitFor(
      async () => {
        expect(sandboxes()).toEqual([])
        expect(await runningJobs()).toBe(0)
      },
      { timeout: 10_000, interval: 50 },
    )
  }

  it('kills the job on a cancel from another client: paid exactly for the records received, the rest refunded after the challenge period', async () => {
    const { jobId, channelId, deposit, job, records, consuming } = await startChurn()
    expect(sandboxes()).toHaveLength(1)
    expect(await runningJobs()).toBe(1)
    expect(await statusOf(jobId)).toMatchObject({ state: 'running', channelId })

    expect(await elsewhere.cancelJob(compute, { jobId, channelId })).toEqual({ state: 'cancelled' })
    const atCancel = await statusOf(jobId)
    expect(atCancel.state).toBe('cancelled')
    // Idempotent: the same cancel again is answered the same.
    expect(await elsewhere.cancelJob(compute, { jobId, channelId })).toEqual({ state: 'cancelled' })

    // The module is killed and its records stop: the session ends after `end` and the attestation.
    await consuming
    const outcome = await job.finished
    await expectNoJobLeft()
    expect(records.at(-2)).toMatchObject({ k: 'end', exitCode: -1, error: 'JOB_CANCELLED' })
    expect(records.at(-1)?.k).toBe('attestation')
    expect(outcome.attestation?.attestation).toMatchObject({
      jobId,
      channelId,
      exitCode: -1,
      error: 'JOB_CANCELLED',
      units: records.length,
    })
    expect(outcome.summary.reason).toBe('product_ended')
    const final = await statusOf(jobId)
    expect(final).toMatchObject({ state: 'cancelled', exitCode: -1, error: 'JOB_CANCELLED' })
    expect(final.records).toBe(records.length)
    // After the cancel: at most the partial output it held, a CPU unit in flight, `end` and the attestation.
    expect(final.records - atCancel.records).toBeLessThanOrEqual(5)

    // Paid exactly for what arrived, and the provider holds that receipt.
    const paid = BigInt(records.length) * UNIT_PRICE
    expect(outcome.summary.paid).toBe(paid)
    expect(outcome.summary.cumulativeAmount).toBe(paid)
    const ledger = ledgerIn(dataDir)
    await vi.waitFor(async () => expect((await ledger.latest(channelId))?.amount).toBe(paid))

    // Close: the provider claims that receipt; after the challenge period the rest comes back.
    await buyer.requestClose(channelId)
    await vi.waitFor(
      async () =>
        expect((await ledger.claims(channelId)).map((c) => [c.status, c.paid])).toEqual([['mined', paid]]),
      { timeout: 15_000, interval: 100 },
    )
    await expect(buyer.finalize(channelId)).rejects.toSatisfy((err: unknown) =>
      hasCode(err, 'CHALLENGE_PERIOD_NOT_OVER'),
    )
    await increaseTime(rpc, CHALLENGE_PERIOD + 1)
    const finalized = await buyer.finalize(channelId)
    expect(finalized.paidToPayee).toBe(paid)
    expect(finalized.refund).toBe(deposit - paid)
    await ledger.close()
  }, 180_000)

  it('refuses every cancel not signed by a key of the job’s channel, or malformed, and the job runs on', async () => {
    const { jobId, channelId, records, consuming } = await startChurn()
    const other = `0x${'ab'.repeat(32)}` as Hex

    // Another payer's client.
    await expect(stranger.cancelJob(compute, { jobId, channelId })).rejects.toSatisfy((err: unknown) =>
      hasCode(err, 'AUTH_FAILED'),
    )
    // The payer's own key, over another channel, another job (a replayed cancel) or another chain.
    for (const body of [
      signed({ jobId, channelId: other }),
      signed({ jobId: other, channelId }),
      signed({ jobId, channelId }, market.chainId + 1),
    ]) {
      const res = await post(jobId, body)
      expect(res.status).toBe(403)
      expect(await res.json()).toMatchObject({ code: 'AUTH_FAILED' })
    }
    // Malformed: not JSON, no signature, a short one, extra fields, a bad job id; too large.
    for (const [id, body] of [
      [jobId, 'not json'],
      [jobId, '{}'],
      [jobId, JSON.stringify({ signature: '0x1234' })],
      [jobId, JSON.stringify({ ...JSON.parse(signed({ jobId, channelId })), more: 1 })],
      ['0x1234', signed({ jobId, channelId })],
    ] as const) {
      const res = await post(id, body)
      expect(res.status, body).toBe(400)
      expect(await res.json()).toMatchObject({ code: 'INVALID_ARGUMENT' })
    }
    expect((await post(jobId, 'x'.repeat(2048))).status).toBe(413)
    // A job the provider does not know, however well signed.
    const unknown = await post(other, signed({ jobId: other, channelId }))
    expect(unknown.status).toBe(404)
    await expect(elsewhere.cancelJob(compute, { jobId: other, channelId })).rejects.toSatisfy(
      (err: unknown) => hasCode(err, 'INVALID_ARGUMENT'),
    )

    // None of it stopped the job: it still runs, and its records still come.
    const before = records.length
    await vi.waitFor(() => expect(records.length).toBeGreaterThan(before + 5), { timeout: 10_000 })
    expect(await statusOf(jobId)).toMatchObject({ state: 'running' })
    expect(sandboxes()).toHaveLength(1)

    // The payer's key signs a cancel that holds.
    const res = await post(jobId, signed({ jobId, channelId }))
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ state: 'cancelled' })
    await consuming
    await expectNoJobLeft()
  }, 120_000)

  it('has nothing to cancel of a job that ended on its own', async () => {
    const args = ['attack', 'ticks', '2']
    const answer = (await buyer.quoteJob(compute, { module: attack, args })) as SignedJobQuote
    const { channelId } = await buyer.openChannel(
      seller.address as Address,
      BigInt(answer.quote.maxUnits) * UNIT_PRICE,
    )
    const job = await buyer.runJob(compute, answer, { channelId, args })
    for await (const _ of job) {
      // the whole job
    }
    expect((await job.finished).end).toMatchObject({ exitCode: 0, error: '' })
    const jobId = answer.quote.quoteId
    await expect(elsewhere.cancelJob(compute, { jobId, channelId })).rejects.toSatisfy(
      (err: unknown) =>
        hasCode(err, 'INVALID_ARGUMENT') &&
        /ended before the cancel/.test(String((err as { message?: unknown }).message)),
    )
    // A stranger learns nothing about it either way.
    await expect(stranger.cancelJob(compute, { jobId, channelId })).rejects.toSatisfy((err: unknown) =>
      hasCode(err, 'AUTH_FAILED'),
    )
    expect((await statusOf(jobId)).state).not.toBe('cancelled')
  }, 120_000)

  it('aborting runJob’s signal mid-job closes the session paid for what arrived, and the job is killed', async () => {
    const abort = new AbortController()
    const { jobId, channelId, job, consuming } = await startChurn(abort.signal)
    abort.abort()
    await expect(consuming).rejects.toSatisfy((err: unknown) => hasCode(err, 'ABORTED'))
    const outcome = await job.finished
    expect(outcome.attestation).toBeUndefined()
    const received = outcome.summary.chunks + outcome.summary.afterClose
    expect(outcome.summary.paid).toBe(BigInt(received) * UNIT_PRICE)
    await expectNoJobLeft()
    expect(await statusOf(jobId)).toMatchObject({ state: 'cancelled' })
    const ledger = ledgerIn(dataDir)
    await vi.waitFor(async () =>
      expect((await ledger.latest(channelId))?.amount).toBe(outcome.summary.cumulativeAmount),
    )
    await ledger.close()
  }, 120_000)
})
