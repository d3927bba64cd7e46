// Issue 14, "Proof of execution on-chain": a provider anchors each finished job's attestation in
// JobAttestations, and a buyer verifies it against the chain and the records it received — anvil, a
// provider with a compute product, the buyer SDK and a real WASI module built from C.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { attestationsAt } from '@trickle/contracts'
import { type LocalMarketplace, startLocalMarketplace } from '@trickle/devnet'
import {
  type Hex,
  hasCode,
  type JobAttestation,
  type JobRecord,
  jobAttestationDigest,
  type SignedJobQuote,
  signJobAttestation,
} from '@trickle/protocol'
import { type BuyerClient, type CatalogProduct, verifyJobOnChain } from '@trickle/sdk'
import { type JsonRpcProvider, SigningKey, Wallet } from 'ethers'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildJobModules } from '../modules/build.ts'
import { type SellerServer, startSellerServer } from '../src/index.ts'
import type { JobStatus } from '../src/jobs/recentJobs.ts'
import { buyerFor } from './helpers/buyer.ts'

const UNIT_PRICE = 10_000_000_000n // wei per unit
const PROVIDER_KEY_INDEX = 6

describe('job attestations: anchored by the provider, verified by the buyer (anvil, provider, SDK)', () => {
  let market: LocalMarketplace
  let provider: SellerServer
  let buyer: BuyerClient
  let rpc: JsonRpcProvider
  let root: string
  let attack: Uint8Array
  let compute: CatalogProduct

  beforeAll(async () => {
    attack = await readFile((await buildJobModules()).attack)
    root = await mkdtemp(join(tmpdir(), 'trickle-job-anchor-'))
    market = await startLocalMarketplace({ rowsPerSecond: 0, logger: pino({ level: 'silent' }) })
    expect(market.deployment.attestations).toBeDefined()
    provider = await startSellerServer({
      rpcUrl: market.rpcUrl,
      chainId: market.chainId,
      registry: market.deployment.registry as Hex,
      channels: market.deployment.channels as Hex,
      attestations: market.deployment.attestations as Hex,
      sellerKey: market.buyerKeys[PROVIDER_KEY_INDEX]!,
      brokerUrl: market.brokerUrl,
      dataDir: join(root, 'provider'),
      jobSlots: 2,
      // Claims only when the test asks (`settlement.settle`), so an anchor can be seen before its claim.
      settlement: { claimOnSessionEnd: false },
      products: [
        {
          key: 'wasm-compute',
          name: 'Compute',
          description: 'Your WASI module',
          kind: 'compute',
          topics: [],
          fields: [],
          tags: ['jobs'],
          pricePerChunk: UNIT_PRICE,
          source: { title: 'none', licence: 'CC0', attribution: 'none' },
          policy: { maxChunkBytes: 16 * 1024 },
          job: {
            limits: {
              memoryBytes: 64 * 1024 ** 2,
              cpuMs: 20_000,
              wallMs: 30_000,
              moduleBytes: 4 * 1024 ** 2,
              outputBytes: 1024 ** 2,
            },
            startUnits: 1,
            cpuMsPerUnit: 50,
          },
        },
      ],
      logger: pino({ level: 'silent' }),
    })
    ;({ buyer, provider: rpc } = await buyerFor(market, { gateway: provider.httpUrl, keyIndex: 2 }))
    compute = await buyer.product(provider.products[0]!.productId)
  }, 180_000)

  afterAll(async () => {
    await buyer?.close()
    rpc?.destroy()
    await provider?.close()
    await market?.stop()
    if (root) await rm(root, { recursive: true, force: true })
  })

  const context = () => ({
    provider: rpc,
    chainId: market.chainId,
    registry: market.deployment.registry as Hex,
    channels: market.deployment.channels as Hex,
    attestations: market.deployment.attestations as Hex,
    deployBlock: market.deployment.deployBlock,
  })

  const statusOf = async (jobId: Hex): Promise<{ status: number; body: JobStatus }> => {
    const res = await fetch(`${provider.httpUrl}/jobs/${jobId}`)
    return { status: res.status, body: (await res.json()) as JobStatus }
  }

  /** Polls `GET /jobs/<jobId>` until the job is anchored (or its anchor failed or was skipped). */
  async function anchoredStatus(jobId: Hex): Promise<JobStatus> {
    let body: JobStatus | undefined
    for (let i = 0; i < 400; i++) {
      ;({ body } = await statusOf(jobId))
      if (body.state === 'anchored' || body.anchor === 'failed' || body.anchor === 'skipped') return body
      await new Promise((r) => setTimeout(r, 25))
    }
    throw new Error(`job ${jobId} was not anchored in 10 s: ${JSON.stringify(body)}`)
  }

  /** Quotes and runs `attack ticks <n>` on a fresh channel; the records as received. */
  async function run(ticks: number, onRecord?: (record: JobRecord, jobId: Hex) => Promise<void>) {
    const args = ['attack', 'ticks', String(ticks)]
    const signed = (await buyer.quoteJob(compute, { module: attack, args })) as SignedJobQuote
    const most = BigInt(signed.quote.maxUnits) * signed.quote.unitPrice
    const { channelId } = await buyer.openChannel(compute.descriptor!.seller as Hex, most)
    const job = await buyer.runJob(compute, signed, { channelId, args })
    const records: JobRecord[] = []
    for await (const record of job) {
      records.push(record)
      await onRecord?.(record, signed.quote.quoteId)
    }
    const outcome = await job.finished
    const { attestation, signature } = outcome.attestation!
    // The records as received (output sealed to the session key): what the attestation covers.
    const payloads = job.payloads
    return { jobId: signed.quote.quoteId, channelId, records, payloads, attestation, signature, outcome }
  }

  it('reports a running job, anchors it once its session ended paid, and the buyer verifies the anchor and the output; the claim then covers it', async () => {
    let seenRunning: JobStatus | undefined
    const { jobId, channelId, records, payloads, attestation, signature, outcome } = await run(
      20,
      async (record, id) => {
        if (record.k === 'out' && !seenRunning) seenRunning = (await statusOf(id)).body
      },
    )
    expect(seenRunning).toMatchObject({ state: 'running', jobId, channelId })
    expect(seenRunning!.records).toBeGreaterThan(0)

    const status = await anchoredStatus(jobId)
    expect(status).toMatchObject({ state: 'anchored', exitCode: 0, error: '', records: records.length })
    const anchored = status.anchored!
    // The anchor names the channel's latest durable receipt amount: every record paid.
    expect(BigInt(anchored.cumulativeAmount)).toBe(outcome.summary.paid)
    expect(BigInt(anchored.cumulativeAmount)).toBe(BigInt(records.length) * UNIT_PRICE)
    expect(status.attestationHash).toBe(
      jobAttestationDigest(market.chainId, market.deployment.channels as Hex, attestation),
    )
    // Anchoring gas: the bench's figure for an event-only attest is 43,037.
    const mined = await rpc.getTransactionReceipt(anchored.txHash)
    expect(mined?.gasUsed).toBe(BigInt(anchored.gasUsed))
    expect(Number(anchored.gasUsed)).toBeGreaterThan(40_000)
    expect(Number(anchored.gasUsed)).toBeLessThan(46_000)
    console.info(`JobAttestations.attest gas used by the provider's anchor: ${anchored.gasUsed}`)

    const before = await verifyJobOnChain(context(), attestation, signature, payloads)
    expect(before).toMatchObject({
      signer: provider.address,
      payee: provider.address,
      anchored: { txHash: anchored.txHash, cumulativeAmount: BigInt(anchored.cumulativeAmount) },
      claimed: 0n,
      claimedCovers: false,
      outputMatches: true,
    })
    // The buyer client does the same with its config (which carries the JobAttestations address).
    expect(await buyer.verifyJob(attestation, signature)).toMatchObject({
      anchored: { txHash: anchored.txHash },
      outputMatches: undefined,
    })

    const claim = await provider.settlement.settle(channelId)
    expect(claim?.cumulativeAmount).toBe(BigInt(anchored.cumulativeAmount))
    const after = await verifyJobOnChain(context(), attestation, signature, payloads)
    expect(after).toMatchObject({ claimed: BigInt(anchored.cumulativeAmount), claimedCovers: true })

    const metrics = await (await fetch(`${provider.httpUrl}/metrics`)).text()
    expect(metrics).toMatch(/^trickle_seller_job_anchors_mined_total [1-9]/m)
    expect(metrics).toMatch(/^trickle_seller_job_anchor_gas_used_total [1-9]/m)
    expect((await statusOf(`0x${'ab'.repeat(32)}`)).status).toBe(404)
  }, 120_000)

  it('anchors while a claim of the same account is sent at once: both are mined, the claim covers the anchor', async () => {
    const { jobId, channelId, attestation, signature } = await run(3)
    // The session just ended: its anchor is being decided or sent while this claim starts.
    const [claim, status] = await Promise.all([provider.settlement.settle(channelId), anchoredStatus(jobId)])
    expect(status.state).toBe('anchored')
    expect(claim?.status).toBe('mined')
    const report = await verifyJobOnChain(context(), attestation, signature)
    expect(report.anchored?.cumulativeAmount).toBe(claim?.cumulativeAmount)
    expect(report.claimedCovers).toBe(true)
  }, 120_000)

  it('refuses a tampered record or attestation field with JOB_ATTESTATION_INVALID', async () => {
    const { jobId, records, payloads, attestation, signature } = await run(5)
    await anchoredStatus(jobId)
    const flipped = payloads.map((p) => new Uint8Array(p))
    const out = records.findIndex((r) => r.k === 'out')
    flipped[out]![flipped[out]!.length - 1]! ^= 1
    const invalid = (err: unknown) => hasCode(err, 'JOB_ATTESTATION_INVALID')
    await expect(verifyJobOnChain(context(), attestation, signature, flipped)).rejects.toSatisfy(invalid)
    await expect(verifyJobOnChain(context(), attestation, signature, payloads.slice(1))).rejects.toSatisfy(
      invalid,
    )
    for (const change of [
      { exitCode: 1 },
      { cpuMs: attestation.cpuMs + 1 },
      { units: attestation.units - 1 },
    ]) {
      const forged: JobAttestation = { ...attestation, ...change }
      await expect(verifyJobOnChain(context(), forged, signature)).rejects.toSatisfy(invalid)
    }
    // Signed by someone else than the payee's registered key.
    const stranger = new SigningKey(Wallet.createRandom().privateKey)
    const resigned = signJobAttestation(
      stranger,
      market.chainId,
      market.deployment.channels as Hex,
      attestation,
    )
    await expect(verifyJobOnChain(context(), attestation, resigned as Hex)).rejects.toSatisfy(invalid)
  }, 120_000)

  it('does not accept an anchor by another account: only the payee anchors for its channel, and an anchor on another channel is not this one', async () => {
    const { channelId, attestation } = await run(3)
    // An attestation the provider signed but never anchored (a later `endedAt`).
    const unanchored: JobAttestation = { ...attestation, endedAt: attestation.endedAt + 1 }
    const channels = market.deployment.channels as Hex
    const providerKey = new SigningKey(market.buyerKeys[PROVIDER_KEY_INDEX]!)
    const signature = signJobAttestation(providerKey, market.chainId, channels, unanchored) as Hex
    const digest = jobAttestationDigest(market.chainId, channels, unanchored)

    // Another account is the payee of a channel of its own, and anchors the digest there.
    const mallory = new Wallet(market.buyerKeys[4]!, rpc)
    const { channelId: malloryChannel } = await buyer.openChannel(mallory.address as Hex, 1_000_000n)
    const contract = attestationsAt(market.deployment.attestations!, mallory)
    await expect(contract.attest(channelId, digest, 1n)).rejects.toThrow()
    await (await contract.attest(malloryChannel, digest, 1n)).wait()
    expect(
      await contract.findAttestation(digest, { fromBlock: market.deployment.deployBlock }),
    ).toMatchObject({
      channelId: malloryChannel,
      payee: mallory.address,
    })

    const report = await verifyJobOnChain(context(), unanchored, signature)
    expect(report.signer).toBe(provider.address)
    expect(report.anchored).toBeUndefined()
    expect(report.claimedCovers).toBe(false)
  }, 120_000)
})
