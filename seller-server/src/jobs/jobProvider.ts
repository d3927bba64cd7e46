import { createHash, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import { join, relative } from 'node:path'
import {
  type Address,
  encodeJobRecord,
  type Hex,
  hasCode,
  inputHashOf,
  type JobAttestation,
  type JobOffer,
  JobOutputChain,
  type JobQuote,
  type JobRecord,
  type JobRequest,
  JobResultSealer,
  jobArgsHash,
  jobAttestationDigest,
  jobQuoteDigest,
  MAX_SEALED_ARGS_BYTES,
  recoverJobCancelSigner,
  type SignedJobQuote,
  signJobAttestation,
  signJobQuote,
  TrickleError,
  unseal,
} from '@trickle/protocol'
import type { SigningKey } from 'ethers'
import { LRUCache } from 'lru-cache'
import type { Logger } from 'pino'
import { z } from 'zod'
import { fullBucket, type RateLimit, type TokenBucket, takeTokens } from '../connectionLimits.ts'
import type { Feed } from '../mqttSource.ts'
import { decideJobCancel } from './decideJobCancel.ts'
import { ENTRY_BYTES } from './jobMessages.ts'
import type { ModuleStore } from './moduleStore.ts'
import { sha256Of } from './moduleStore.ts'
import { type JobStatus, RecentJobs } from './recentJobs.ts'
import { type JobResult, type RunningJob, startJob } from './startJob.ts'

/** A `compute` or `app` product's job settings (what its descriptor's `job` offers, and more). */
export interface JobSpec {
  /** the most one job may use (SPEC.md §Jobs) */
  limits: JobOffer['limits']
  /** units charged before the module starts */
  startUnits: number
  /** CPU ms per unit */
  cpuMsPerUnit: number
  /** datasets a job may read at `/in` (compute-to-data), each a directory of this machine */
  inputs?: { name: string; description: string; dir: string }[]
  /** `app` products: the provider's module and its parameters */
  app?: { module: Uint8Array; parameters: { name: string; description: string }[] }
}

/**
 * How often partial stdout/stderr is released as a record, ms: how fresh a running job's output is,
 * and the bound of partial records a quote's `maxUnits` must allow for (two per interval of wall time).
 */
export const OUTPUT_FLUSH_MS = 250

/**
 * Bytes of a record's envelope beyond its data, at most: msgpack keys and a file's path (1,100), and
 * for a sealed job the `sealed` envelope, the GCM tag and the first record's sealed result key (200).
 */
const RECORD_OVERHEAD = 1300

/** The offer a descriptor publishes for `spec`. */
export function jobOfferOf(spec: JobSpec): JobOffer {
  return {
    runtime: 'wasi-preview1',
    limits: spec.limits,
    startUnits: spec.startUnits,
    cpuMsPerUnit: spec.cpuMsPerUnit,
    inputs: (spec.inputs ?? []).map((i) => ({ name: i.name, description: i.description })),
    ...(spec.app ? { app: { module: sha256Of(spec.app.module), parameters: spec.app.parameters } } : {}),
  }
}

/**
 * The most units a job can charge under these caps: its start units, its CPU units (the last
 * partial one included), its output records — full ones, one partial per {@link OUTPUT_FLUSH_MS}
 * for stdout and stderr each, and one more per file (at most one per {@link ENTRY_BYTES} of the cap,
 * which charges every file that much) — and its `end` and `attestation` records.
 * @param payloadBytes - data bytes a record carries at most
 */
export function maxJobUnits(
  q: Pick<JobQuote, 'startUnits' | 'cpuMsPerUnit' | 'cpuMs' | 'wallMs' | 'outputBytes'>,
  payloadBytes: number,
): number {
  const full = Math.ceil(q.outputBytes / payloadBytes)
  const partial = 2 * Math.ceil(q.wallMs / OUTPUT_FLUSH_MS)
  const files = Math.ceil(q.outputBytes / ENTRY_BYTES)
  return q.startUnits + Math.ceil(q.cpuMs / q.cpuMsPerUnit) + full + partial + files + 2
}

/** A job's WASI `argv`: the program name first, at most 64 arguments of at most 1,024 characters. */
export const jobArgsSchema = z.array(z.string().max(1024)).min(1).max(64)

/** A request for a quote, as `POST /jobs/quote` reads it (JSON). */
export const quoteRequestSchema = z.strictObject({
  productId: z.string().regex(/^[1-9][0-9]{0,77}$/),
  /** `compute`: the module's SHA-256, uploaded before; `app`: absent */
  module: z
    .string()
    .regex(/^0x[0-9a-fA-F]{64}$/)
    .optional(),
  /** the arguments in the clear; or, instead, */
  args: jobArgsSchema.optional(),
  /** their JSON array text sealed to the provider's terms key (`sealTo`), hex */
  sealedArgs: z
    .string()
    .regex(/^0x(?:[0-9a-fA-F]{2})+$/)
    .max(2 + 2 * MAX_SEALED_ARGS_BYTES)
    .optional(),
  input: z.string().max(64).default(''),
  /** caps the buyer wants below the offer's */
  limits: z
    .strictObject({
      cpuMs: z.number().int().positive().optional(),
      wallMs: z.number().int().positive().optional(),
      memoryBytes: z.number().int().positive().optional(),
      outputBytes: z.number().int().positive().optional(),
    })
    .default({}),
})
export type QuoteRequest = z.infer<typeof quoteRequestSchema>

/**
 * A job's arguments, opened with the provider's terms key when they came sealed (SPEC.md §Jobs,
 * "Sealed jobs").
 * @param from - `args` in the clear, or `sealedArgs` (bytes, or hex as a quote request carries them)
 * @param open - opens bytes sealed to the terms key ({@link JobProvider.unseal})
 * @throws TrickleError `code` when there are none or both, or the sealed ones do not open with the
 *   key or are not a JSON array of at most 64 strings of at most 1,024 characters; `RATE_LIMITED`
 *   (as `JOB_REJECTED` when `code` is) when `open` refuses for the rate of sealed requests
 */
export function openJobArgs(
  from: { args?: string[] | undefined; sealedArgs?: Uint8Array | string | undefined },
  open: (sealed: Uint8Array) => Uint8Array,
  code: 'JOB_REJECTED' | 'INVALID_ARGUMENT',
): string[] {
  if ((from.args === undefined) === (from.sealedArgs === undefined)) {
    throw new TrickleError(code, 'send the arguments either in the clear (args) or sealed (sealedArgs)')
  }
  if (from.args !== undefined) return from.args
  const sealed = from.sealedArgs!
  let parsed: unknown
  try {
    const bytes = typeof sealed === 'string' ? Buffer.from(sealed.slice(2), 'hex') : sealed
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(open(bytes)))
  } catch (err) {
    if (hasCode(err, 'RATE_LIMITED')) {
      throw code === 'JOB_REJECTED' ? new TrickleError(code, (err as TrickleError).shortMessage) : err
    }
    throw new TrickleError(code, 'the sealed arguments do not open with this provider’s terms key')
  }
  const args = jobArgsSchema.safeParse(parsed)
  if (!args.success) {
    throw new TrickleError(code, 'the sealed arguments are not a JSON array of at most 64 strings')
  }
  return args.data
}

/** A product a {@link JobProvider} runs jobs for. */
export interface JobProduct {
  productId: bigint
  key: string
  kind: 'compute' | 'app'
  /** wei per unit */
  unitPrice: bigint
  /** the largest chunk payload of its sessions, bytes */
  maxChunkBytes: number
  spec: JobSpec
}

/** Why a provider declines to quote. */
export type QuoteDecline = {
  reason: 'at_capacity' | 'unknown_module' | 'unknown_input' | 'limits'
  message: string
}

/** A job admitted to a session: its quote, module, arguments (opened) and input. */
export interface AdmittedJob {
  product: JobProduct
  quote: JobQuote
  module: Uint8Array
  args: string[]
  inputDir: string | undefined
  /** its `out`, `err` and `file` records are sealed to the session's `accept` key */
  sealResults: boolean
}

/**
 * A session's admitted job, holding its quote reserved (no slot): `start` takes a slot and runs it
 * once the buyer accepted the terms; `cancel` releases the quote of a job that never started, which
 * may then be run again until it expires (idempotent, nothing after `start`).
 */
export interface JobTicket {
  readonly job: AdmittedJob
  /**
   * Takes a job slot, uses the quote up and runs the job as a paced feed of records (see
   * {@link JobProvider.admit}).
   * @param wake - called when records are ready to pull
   * @param signers - the keys whose receipts count on the channel (its signer, payer, previous signer
   *   still valid): the keys that may cancel the job ({@link JobProvider.cancel})
   * @param acceptKey - the public key that signed the session's `accept` (hex): a job that seals its
   *   results seals them to it
   * @throws TrickleError `JOB_REJECTED` when every job slot runs a job (nothing was started or
   *   queued: the session ends before any record, the quote stays reserved until `cancel`);
   *   `INTERNAL` when the job seals its results and `acceptKey` is missing or not a public key (the
   *   driver recovers it from a checked signature, so this is a bug)
   */
  start(
    channelId: Hex,
    listener: (payload: Uint8Array, position: number) => void,
    wake: () => void,
    signers: readonly Address[],
    acceptKey?: Hex,
  ): Feed
  cancel(): void
}

/** What a provider's jobs are doing, for `/health` and `/metrics`. */
export interface JobStats {
  /** jobs started and not yet ended: each holds a slot (sessions before `accept` hold none) */
  running: number
  slots: number
  started: number
  finished: number
}

/** A job's attestation as its session sent it: what the provider anchors once the session ends. */
export interface AttestedJob {
  jobId: Hex
  productId: bigint
  /** the channel that paid for the job */
  channelId: Hex
  attestation: JobAttestation
  /** the terms key's signature (65 bytes) */
  signature: Hex
  /** `jobAttestationDigest(chainId, channels, attestation)`: the hash anchored on-chain */
  digest: Hex
}

/** Options of {@link JobProvider}. */
export interface JobProviderOptions {
  modules: ModuleStore
  /** the terms key: signs quotes and attestations */
  termsKey: SigningKey
  chainId: number
  channels: Address
  payee: Address
  /** jobs run at once at most; quotes beyond are declined `at_capacity` (default 2) */
  slots?: number
  /** how many sealed requests are opened (default {@link DEFAULT_SEALED_OPEN_LIMITS}) */
  sealedOpens?: SealedOpenLimits
  /** ms a quote may be run (default 300,000) */
  quoteTtlMs?: number
  /** the status of recent jobs, for `GET /jobs/<jobId>` (default: a new one of 1,024 jobs) */
  recent?: RecentJobs
  /**
   * called when a job's attestation record is handed to its session (once per job; jobs whose session
   * ended before they did have none, jobs stopped by a signed cancel have one). Without it, jobs' anchors are reported `off` in {@link RecentJobs}
   */
  onAttested?: (attested: AttestedJob) => void
  log: Logger
}

/** How many requests sealed to the terms key a provider opens ({@link JobProvider.unseal}). */
export interface SealedOpenLimits {
  /** opens of one client (IP, or IPv6 /64) */
  perClient: RateLimit
  /** opens of the whole provider */
  total: RateLimit
}

/**
 * Default {@link SealedOpenLimits}: 4 per second per client (burst 8), 20 per second in all (burst
 * 40) — at about 18 ms each, at most about a third of one core however many clients ask.
 */
export const DEFAULT_SEALED_OPEN_LIMITS: SealedOpenLimits = {
  perClient: { perSecond: 4, burst: 8 },
  total: { perSecond: 20, burst: 40 },
}

/**
 * Open quotes (issued, not reserved by a session, not yet run or expired) a provider keeps at most:
 * a new quote beyond evicts the oldest of the client holding the most (see {@link quoteToEvict}).
 */
export const MAX_OPEN_QUOTES = 1024

/**
 * Open quotes one client (IP address, an IPv6 one by its /64: `clientKey`) holds at most: a new
 * quote beyond evicts that client's own oldest, so that a flood from one address cannot evict
 * another buyer's quote.
 */
export const MAX_OPEN_QUOTES_PER_CLIENT = 32

/** A quote a provider issued and keeps until it runs, expires or is evicted. */
interface OpenQuote {
  quote: JobQuote
  digest: Hex
  product: JobProduct
  /** the client that asked for it (`clientKey` of its address) */
  client: string
  /** whether a session admitted it and has not started or released it (then it is not evicted) */
  reserved: boolean
}

/**
 * Which open quote to evict before a new one of `client` is kept, if any: the client's own oldest
 * when it holds {@link MAX_OPEN_QUOTES_PER_CLIENT}, else, when the provider holds
 * {@link MAX_OPEN_QUOTES}, the oldest of the client holding the most (the one whose oldest is oldest
 * on a tie). Reserved quotes are neither counted nor evicted: a session holds each, and sessions
 * are bounded by the connection limits.
 * @param open - the open quotes by quote id, oldest first
 * @param client - the `clientKey` of the new quote's client
 * @returns the quote id to evict, or undefined when there is room
 */
export function quoteToEvict(
  open: ReadonlyMap<Hex, Pick<OpenQuote, 'client' | 'reserved'>>,
  client: string,
  caps: { total: number; perClient: number } = {
    total: MAX_OPEN_QUOTES,
    perClient: MAX_OPEN_QUOTES_PER_CLIENT,
  },
): Hex | undefined {
  const byClient = new Map<string, { count: number; oldest: Hex }>()
  let total = 0
  for (const [id, q] of open) {
    if (q.reserved) continue
    total++
    const held = byClient.get(q.client)
    if (held) held.count++
    else byClient.set(q.client, { count: 1, oldest: id })
  }
  const own = byClient.get(client)
  if (own && own.count >= caps.perClient) return own.oldest
  if (total < caps.total) return undefined
  let most: { count: number; oldest: Hex } | undefined
  for (const held of byClient.values()) if (!most || held.count > most.count) most = held
  return most?.oldest
}

/**
 * The provider side of jobs (SPEC.md §Jobs): quotes (signed, at most {@link MAX_OPEN_QUOTES} open
 * and {@link MAX_OPEN_QUOTES_PER_CLIENT} per client, each runnable once), admission of a session's
 * job (its quote reserved at `hello`, a slot taken at `accept`), and the job itself as a paced
 * {@link Feed} of records, ending with the signed attestation; a cancel signed by a key of the job's
 * channel stops it ({@link JobProvider.cancel}).
 */
export class JobProvider {
  /** the open quotes by id, oldest first */
  private readonly quotes = new Map<Hex, OpenQuote>()
  /** the running jobs' feeds, by lowercase job id */
  private readonly feeds = new Map<string, JobFeed>()
  /** who may cancel each started job (its channel's receipt signers), by lowercase job id */
  private readonly cancellers = new Map<string, { channelId: Hex; signers: readonly Address[] }>()
  private readonly options: JobProviderOptions
  readonly stats: JobStats
  /** the status of recent jobs: running, cancelled, ended, anchored */
  readonly recent: RecentJobs
  /** the sealed-open bucket of each recent client, and of the provider */
  private readonly openBuckets = new LRUCache<string, TokenBucket>({ max: 4096 })
  private readonly openBucket: TokenBucket

  constructor(options: JobProviderOptions) {
    this.options = options
    this.openBucket = fullBucket((options.sealedOpens ?? DEFAULT_SEALED_OPEN_LIMITS).total, performance.now())
    this.recent = options.recent ?? new RecentJobs()
    this.stats = { running: 0, slots: options.slots ?? 2, started: 0, finished: 0 }
  }

  /**
   * The terms key's public key (uncompressed, 65 bytes, hex): what buyers seal modules and arguments
   * to (SPEC.md §Jobs, "Sealed jobs"); its address is the provider's `DataRegistry.sellerKey`.
   */
  get sealingKey(): Hex {
    return this.options.termsKey.publicKey as Hex
  }

  /**
   * Opens bytes sealed to the terms key. Each open costs two ECDHs (about 18 ms of this process's CPU
   * on the reference machine, bench `jobSealing`) and anyone can ask for one, so opens are rate
   * limited per client and in total ({@link SealedOpenLimits}).
   * @param client - the requester's `clientKey` (its IP, or IPv6 /64), for its own bucket
   * @throws TrickleError `RATE_LIMITED` when the client's or the provider's bucket is empty (nothing
   *   was opened); `INVALID_ARGUMENT` when they were not sealed to it, or were altered
   */
  unseal(sealed: Uint8Array, client?: string): Uint8Array {
    const limits = this.options.sealedOpens ?? DEFAULT_SEALED_OPEN_LIMITS
    const now = performance.now()
    let bucket = client === undefined ? undefined : this.openBuckets.get(client)
    if (client !== undefined && !bucket) {
      bucket = fullBucket(limits.perClient, now)
      this.openBuckets.set(client, bucket)
    }
    if (
      (bucket && !takeTokens(bucket, limits.perClient, 1, now)) ||
      !takeTokens(this.openBucket, limits.total, 1, now)
    ) {
      throw new TrickleError('RATE_LIMITED', 'too many sealed requests: try again in a second')
    }
    return unseal(this.options.termsKey.privateKey as Hex, sealed)
  }

  /**
   * Quotes a job, or declines it (`at_capacity` when every slot runs a job). The quote is kept open
   * until it runs or expires, or is evicted to keep the open quotes within
   * {@link MAX_OPEN_QUOTES_PER_CLIENT} for `client` and {@link MAX_OPEN_QUOTES} in all (see
   * {@link quoteToEvict}); an evicted quote is refused at `hello` as unknown.
   * @param now - ms since the Unix epoch
   * @param client - who asks: `clientKey` of the request's address (IPv4, or an IPv6 /64)
   *   (also charged for opening sealed arguments)
   * @throws TrickleError `INVALID_ARGUMENT` (parameters that do not fit the product), `RATE_LIMITED`
   *   (sealed arguments beyond the rate of sealed opens)
   */
  async quote(
    product: JobProduct,
    request: QuoteRequest,
    now: number,
    client: string,
  ): Promise<SignedJobQuote | QuoteDecline> {
    if (this.stats.running >= this.stats.slots) {
      return { reason: 'at_capacity', message: `all ${this.stats.slots} job slots are busy: ask again later` }
    }
    const spec = product.spec
    let moduleHash: Hex
    if (product.kind === 'app') {
      if (request.module !== undefined) {
        throw new TrickleError('INVALID_ARGUMENT', 'an app runs its own module: send no module')
      }
      moduleHash = sha256Of(spec.app!.module)
    } else {
      if (request.module === undefined)
        throw new TrickleError('INVALID_ARGUMENT', 'a compute job needs a module')
      moduleHash = request.module.toLowerCase() as Hex
      const module = this.options.modules.get(moduleHash)
      if (!module)
        return { reason: 'unknown_module', message: 'upload the module first (PUT /jobs/modules/<sha256>)' }
      if (module.byteLength > spec.limits.moduleBytes) {
        return { reason: 'limits', message: `the module is above ${spec.limits.moduleBytes} bytes` }
      }
    }
    if (request.input !== '' && !spec.inputs?.some((i) => i.name === request.input)) {
      return { reason: 'unknown_input', message: `no input ${JSON.stringify(request.input)}` }
    }
    const want = request.limits
    const cap = (asked: number | undefined, offered: number) => Math.min(asked ?? offered, offered)
    const base = {
      startUnits: spec.startUnits,
      cpuMsPerUnit: spec.cpuMsPerUnit,
      cpuMs: cap(want.cpuMs, spec.limits.cpuMs),
      wallMs: cap(want.wallMs, spec.limits.wallMs),
      memoryBytes: cap(want.memoryBytes, spec.limits.memoryBytes),
      outputBytes: cap(want.outputBytes, spec.limits.outputBytes),
    }
    const quote: JobQuote = {
      provider: this.options.payee,
      productId: product.productId,
      quoteId: `0x${randomBytes(32).toString('hex')}` as Hex,
      moduleHash,
      argsHash: await jobArgsHash(openJobArgs(request, (b) => this.unseal(b, client), 'INVALID_ARGUMENT')),
      input: request.input,
      unitPrice: product.unitPrice,
      ...base,
      maxUnits: maxJobUnits(base, payloadBytesOf(product)),
      expiresAt: now + (this.options.quoteTtlMs ?? 300_000),
    }
    const { chainId, channels, termsKey } = this.options
    for (const [id, open] of this.quotes)
      if (open.quote.expiresAt <= now && !open.reserved) this.quotes.delete(id)
    for (let id = quoteToEvict(this.quotes, client); id; id = quoteToEvict(this.quotes, client))
      this.quotes.delete(id)
    const digest = jobQuoteDigest(chainId, channels, quote)
    this.quotes.set(quote.quoteId, { quote, digest, product, client, reserved: false })
    return { quote, signature: signJobQuote(termsKey, chainId, channels, quote) }
  }

  /**
   * Admits the job of a session's `hello`: a quote this provider issued for this product, not run
   * yet, not expired, not reserved by another session, for these arguments, whose module is held.
   * The quote is reserved for the session (no slot is taken: a buyer that never accepts holds none);
   * the ticket's `start`, after `accept`, takes a slot until the job ends and uses the quote up;
   * `cancel` before that releases the quote. The job runs as a paced feed of records (SPEC.md §Jobs,
   * "Records"): its start units, then its output and CPU units as they come, then `end` and the
   * signed attestation; it is paused while 64 records wait for the session and resumed below 16, and
   * closing the feed kills it.
   * @param now - ms since the Unix epoch
   * @param client - the session's `clientKey`, charged for opening sealed arguments
   * @throws TrickleError `JOB_REJECTED` (an unknown, evicted, used, expired, reserved or other
   *   quote, other arguments, a module no longer held; sealed arguments that do not open, or beyond
   *   the rate of sealed opens)
   */
  async admit(productId: bigint, job: JobRequest, now: number, client?: string): Promise<JobTicket> {
    const open = this.quotes.get(job.quote.quoteId)
    const { chainId, channels } = this.options
    if (!open || open.product.productId !== productId) {
      throw new TrickleError(
        'JOB_REJECTED',
        'unknown quote: ask for a new one (quotes do not outlive a restart)',
      )
    }
    if (jobQuoteDigest(chainId, channels, job.quote) !== open.digest) {
      throw new TrickleError('JOB_REJECTED', 'the quote differs from the one this provider issued')
    }
    if (open.quote.expiresAt <= now)
      throw new TrickleError('JOB_REJECTED', 'the quote expired: ask for a new one')
    const args = openJobArgs(job, (b) => this.unseal(b, client), 'JOB_REJECTED')
    if ((await jobArgsHash(args)) !== open.quote.argsHash) {
      throw new TrickleError('JOB_REJECTED', 'the arguments are not the ones quoted')
    }
    // Checked after the await above: two sessions of one quote cannot both pass.
    if (open.reserved || this.quotes.get(job.quote.quoteId) !== open) {
      throw new TrickleError('JOB_REJECTED', 'the quote is in use by another session')
    }
    const spec = open.product.spec
    const module =
      open.product.kind === 'app' ? spec.app!.module : this.options.modules.get(open.quote.moduleHash)
    if (!module) throw new TrickleError('JOB_REJECTED', 'the module is no longer held: upload it again')
    open.reserved = true
    const inputDir = spec.inputs?.find((i) => i.name === open.quote.input)?.dir
    const admitted: AdmittedJob = {
      product: open.product,
      quote: open.quote,
      module,
      args,
      inputDir,
      sealResults: job.sealResults === true,
    }
    let state: 'admitted' | 'started' | 'cancelled' = 'admitted'
    return {
      job: admitted,
      start: (channelId, listener, wake, signers, acceptKey) => {
        if (state !== 'admitted') throw new TrickleError('INTERNAL', 'a job ticket starts once')
        if (this.stats.running >= this.stats.slots) {
          throw new TrickleError(
            'JOB_REJECTED',
            `all ${this.stats.slots} job slots are busy: ask again later`,
          )
        }
        // Sealed to the key that signed the accept, or not run at all: never in the clear by mistake.
        let sealer: JobResultSealer | undefined
        try {
          if (admitted.sealResults) sealer = new JobResultSealer(acceptKey ?? ('0x' as Hex))
        } catch (cause) {
          throw new TrickleError('INTERNAL', 'no accept key to seal the job’s results to', { cause })
        }
        state = 'started'
        this.quotes.delete(open.quote.quoteId)
        this.stats.running++
        this.stats.started++
        const id = admitted.quote.quoteId.toLowerCase()
        this.allowCancel(id, channelId, signers)
        const feed = new JobFeed(
          admitted,
          channelId,
          sealer,
          listener,
          wake,
          this.options,
          this.recent,
          () => {
            this.stats.running--
            this.stats.finished++
            this.feeds.delete(id)
          },
        )
        this.feeds.set(id, feed)
        return feed
      },
      cancel: () => {
        if (state !== 'admitted') return
        state = 'cancelled'
        // Usable again until it expires (an expired one goes at the next quote's sweep).
        open.reserved = false
      },
    }
  }

  /**
   * Cancels a running job at the request of a key of its channel (SPEC.md §Jobs, "Cancel"): the
   * cancel is `JobCancel { jobId, channelId }` (EIP-712, domain `Trickle Jobs`) signed by one of the
   * channel's receipt signers when the job's session started. The module's process is killed; the
   * records it made before still go to the session, then `end` (error `JOB_CANCELLED`) and the signed
   * attestation, so the buyer pays for what it receives and no more. Idempotent.
   * @param jobId - the quote id
   * @param signature - 65-byte signature of the cancel
   * @returns `cancelled` (now or before), `ended` (it ended on its own first), `unknown` (not among
   *   the recent jobs), `forbidden` (not signed by a key of the job's channel)
   */
  cancel(jobId: Hex, signature: Hex): 'cancelled' | 'ended' | 'unknown' | 'forbidden' {
    const id = jobId.toLowerCase()
    const canceller = this.cancellers.get(id)
    const status = this.recent.get(id)
    let signer: Address | undefined
    if (canceller && status) {
      const { chainId, channels } = this.options
      try {
        signer = recoverJobCancelSigner(
          chainId,
          channels,
          { jobId: status.jobId, channelId: canceller.channelId },
          signature,
        )
      } catch {
        signer = undefined
      }
    }
    const decision = decideJobCancel(
      canceller && status ? { status, signers: canceller.signers } : undefined,
      signer,
    )
    if (decision !== 'cancel') return decision
    if (!this.feeds.get(id)?.cancel()) return 'ended'
    this.options.log.info({ jobId: status!.jobId, signer }, 'job cancelled by its buyer')
    return 'cancelled'
  }

  /**
   * Notes who may cancel a job, for as many jobs as {@link recent} keeps (the oldest dropped first,
   * never a running one).
   */
  private allowCancel(id: string, channelId: Hex, signers: readonly Address[]): void {
    this.cancellers.set(id, { channelId, signers: [...signers] })
    for (const old of this.cancellers.keys()) {
      if (this.cancellers.size <= this.recent.capacity) break
      if (!this.feeds.has(old)) this.cancellers.delete(old)
    }
  }
}

/** Data bytes one record carries at most for a product. */
function payloadBytesOf(product: JobProduct): number {
  return Math.max(256, product.maxChunkBytes - RECORD_OVERHEAD)
}

/** Records waiting for the session beyond which the job is paused, and below which it resumes. */
const PAUSE_AT = 64
const RESUME_BELOW = 16

/** The job of one session, as a paced feed of its records. */
class JobFeed implements Feed {
  private readonly pending: Uint8Array[] = []
  private readonly chain = new JobOutputChain()
  private units = 0
  private cpuUnits = 0
  private outputBytes = 0
  private readonly buffers = { out: [] as Uint8Array[], err: [] as Uint8Array[] }
  private readonly buffered = { out: 0, err: 0 }
  private running: RunningJob | undefined
  private paused = false
  private finished = false
  /** the `end` record is queued: the job can no longer be cancelled */
  private ending = false
  private closed = false
  private released = false
  private readonly abort = new AbortController()
  private stopCode = ''
  private readonly flushTimer: NodeJS.Timeout
  private readonly payloadBytes: number
  private readonly startedAt = Date.now()
  /** the job's entry in the provider's recent jobs, updated in place while it runs */
  private readonly status: JobStatus
  /** the attestation record's position in the feed (1-based) and what it attests, once made */
  private attested: { position: number; job: AttestedJob } | undefined

  private readonly job: AdmittedJob
  private readonly channelId: Hex
  /** seals `out`, `err` and `file` records when the job's results are sealed */
  private readonly sealer: JobResultSealer | undefined
  private readonly listener: (payload: Uint8Array, position: number) => void
  private readonly wake: () => void
  private readonly options: JobProviderOptions
  private readonly recent: RecentJobs
  private readonly onDone: () => void

  constructor(
    job: AdmittedJob,
    channelId: Hex,
    sealer: JobResultSealer | undefined,
    listener: (payload: Uint8Array, position: number) => void,
    wake: () => void,
    options: JobProviderOptions,
    recent: RecentJobs,
    onDone: () => void,
  ) {
    this.job = job
    this.channelId = channelId
    this.sealer = sealer
    this.listener = listener
    this.wake = wake
    this.options = options
    this.recent = recent
    this.onDone = onDone
    this.payloadBytes = payloadBytesOf(job.product)
    this.status = {
      jobId: job.quote.quoteId,
      productId: job.quote.productId,
      channelId,
      state: 'running',
      startedAt: this.startedAt,
      cpuMs: 0,
      records: 0,
    }
    recent.set(this.status)
    for (let n = 0; n < job.quote.startUnits; n++) this.push({ k: 'start', jobId: job.quote.quoteId, n })
    this.flushTimer = setInterval(() => this.flush(), OUTPUT_FLUSH_MS)
    this.flushTimer.unref()
    void this.run()
  }

  get caughtUp(): boolean {
    return this.finished && this.pending.length === 0
  }

  pull(max: number): number {
    let n = 0
    while (n < max && this.pending.length > 0 && !this.closed) {
      const payload = this.pending.shift()!
      const position = this.units - this.pending.length
      this.listener(payload, position)
      n++
      if (position === this.attested?.position) this.options.onAttested?.(this.attested.job)
    }
    if (this.paused && this.pending.length < RESUME_BELOW) {
      this.paused = false
      this.running?.resume()
    }
    return n
  }

  /**
   * Stops the job at its buyer's request ({@link JobProvider.cancel}): kills the module's process; the
   * job ends with `end` (`JOB_CANCELLED`) and its attestation, as any stopped job.
   * @returns whether the job is cancelled (now or before); false when it was ending already
   */
  cancel(): boolean {
    if (this.stopCode === 'JOB_CANCELLED') return true
    if (this.ending || this.stopCode || this.closed) return false
    this.stopCode = 'JOB_CANCELLED'
    this.abort.abort()
    // In place: the feed goes on counting records into this status until the job's end.
    this.status.state = 'cancelled'
    this.recent.set(this.status)
    return true
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    clearInterval(this.flushTimer)
    if (!this.finished) {
      this.abort.abort()
      this.recent.update(this.status.jobId, { state: 'cancelled', endedAt: Date.now() })
    }
    this.release()
  }

  private release(): void {
    if (this.released) return
    this.released = true
    this.onDone()
  }

  private async run(): Promise<void> {
    const q = this.job.quote
    let result: JobResult | undefined
    let error: TrickleError | undefined
    try {
      this.running = startJob(this.job.module, {
        args: this.job.args,
        env: {},
        ...(this.job.inputDir ? { inputDir: this.job.inputDir } : {}),
        limits: {
          memoryBytes: q.memoryBytes,
          cpuMs: q.cpuMs,
          wallMs: q.wallMs,
          outputBytes: q.outputBytes,
          stdoutBytes: q.outputBytes,
          stderrBytes: Math.min(q.outputBytes, 64 * 1024),
          moduleBytes: this.job.product.spec.limits.moduleBytes,
        },
        signal: this.abort.signal,
        onOutput: (stream, chunk, path) => this.output(stream, chunk, path),
        onProgress: (usage) => this.meter(usage.cpuMs, usage.wallMs, usage.peakMemoryBytes, false),
      })
      result = await this.running.result
    } catch (err) {
      error =
        err instanceof TrickleError ? err : new TrickleError('JOB_FAILED', 'the job failed', { cause: err })
    }
    clearInterval(this.flushTimer)
    if (this.closed) return this.release()
    this.flush()
    if (result) this.meter(result.cpuMs, result.wallMs, result.peakMemoryBytes, true)
    const code = this.stopCode || (error ? error.code : '')
    const end: JobRecord = {
      k: 'end',
      exitCode: result ? result.exitCode : -1,
      error: code,
      cpuMs: Math.round(result?.cpuMs ?? this.cpuUnits * q.cpuMsPerUnit),
      wallMs: Math.round(result?.wallMs ?? Date.now() - this.startedAt),
      peakMemoryBytes: Math.round(result?.peakMemoryBytes ?? 0),
    }
    this.ending = true
    this.push(end, true)
    const attestation: JobAttestation = {
      jobId: q.quoteId,
      channelId: this.channelId,
      productId: q.productId,
      moduleHash: q.moduleHash,
      argsHash: q.argsHash,
      inputHash: await this.inputHash(),
      outputHash: this.chain.value,
      records: this.chain.records,
      exitCode: end.exitCode,
      error: end.error,
      cpuMs: end.cpuMs,
      peakMemoryBytes: end.peakMemoryBytes,
      startedAt: this.startedAt,
      endedAt: Date.now(),
      units: this.units + 1,
    }
    const { termsKey, chainId, channels } = this.options
    const signature = signJobAttestation(termsKey, chainId, channels, attestation)
    const digest = jobAttestationDigest(chainId, channels, attestation)
    // Closed while the attestation was made: the session is gone, nothing is sent.
    if (this.closed) return this.release()
    // Set before the push: the session may pull the record at once (the push wakes it).
    this.attested = {
      position: this.units + 1,
      job: {
        jobId: q.quoteId,
        productId: q.productId,
        channelId: this.channelId,
        attestation,
        signature,
        digest,
      },
    }
    this.recent.update(q.quoteId, {
      state: this.stopCode === 'JOB_CANCELLED' ? 'cancelled' : 'ended',
      cpuMs: end.cpuMs,
      records: this.units + 1,
      endedAt: attestation.endedAt,
      exitCode: end.exitCode,
      error: end.error,
      attestationHash: digest,
      anchor: this.options.onAttested ? 'pending' : 'off',
    })
    this.push({ k: 'attestation', attestation, signature }, true)
    if (error && !this.stopCode) this.options.log.info({ jobId: q.quoteId, code: error.code }, 'job stopped')
    this.finished = true
    this.release()
    this.wake()
  }

  /** Adds the CPU units `cpuMs` has reached (the last partial one too once the job ended). */
  private meter(cpuMs: number, wallMs: number, memoryBytes: number, final: boolean): void {
    const per = this.job.quote.cpuMsPerUnit
    const due = final ? Math.ceil(cpuMs / per) : Math.floor(cpuMs / per)
    if (cpuMs > this.status.cpuMs) this.status.cpuMs = Math.round(cpuMs)
    while (this.cpuUnits < due && !this.closed) {
      this.cpuUnits++
      this.push({
        k: 'cpu',
        cpuMs: Math.round(Math.min(cpuMs, this.cpuUnits * per)),
        wallMs: Math.round(wallMs),
        memoryBytes: Math.round(memoryBytes),
      })
    }
  }

  private output(stream: 'stdout' | 'stderr' | 'file', chunk: Uint8Array, path?: string): void {
    this.outputBytes += chunk.byteLength
    if (stream === 'file') {
      for (let at = 0; at < chunk.byteLength || at === 0; at += this.payloadBytes) {
        const data = chunk.subarray(at, at + this.payloadBytes)
        this.push({ k: 'file', path: path ?? '', data, last: at + this.payloadBytes >= chunk.byteLength })
        if (chunk.byteLength === 0) break
      }
      return
    }
    const which = stream === 'stdout' ? 'out' : 'err'
    this.buffers[which].push(chunk)
    this.buffered[which] += chunk.byteLength
    while (this.buffered[which] >= this.payloadBytes) this.release1(which, this.payloadBytes)
  }

  /** Releases the partial stdout and stderr as records (every {@link OUTPUT_FLUSH_MS}, and at the end). */
  private flush(): void {
    for (const which of ['out', 'err'] as const)
      if (this.buffered[which] > 0) this.release1(which, this.buffered[which])
  }

  /** Takes `bytes` of a stream's buffer into one record. */
  private release1(which: 'out' | 'err', bytes: number): void {
    const all = concat(this.buffers[which])
    this.push({ k: which, data: all.subarray(0, bytes) })
    const rest = all.subarray(bytes)
    this.buffers[which] = rest.byteLength > 0 ? [rest] : []
    this.buffered[which] = rest.byteLength
  }

  /**
   * Queues a record for the session, in the output hash chain up to `end`. A job about to pass its
   * quote's `maxUnits` (two kept for `end` and the attestation) is stopped with `JOB_OUTPUT_LIMIT`.
   */
  private push(record: JobRecord, closing = false): void {
    if (this.closed) return
    if (!closing && this.units >= this.job.quote.maxUnits - 2) {
      if (!this.stopCode) {
        this.stopCode = 'JOB_OUTPUT_LIMIT'
        this.abort.abort()
      }
      return
    }
    const sealed = record.k === 'out' || record.k === 'err' || record.k === 'file'
    const payload = encodeJobRecord(sealed && this.sealer ? this.sealer.seal(record) : record)
    // The chain covers the records as sent (sealed ones sealed): what the receipts paid for.
    if (record.k !== 'attestation') this.chain.add(payload)
    this.units++
    this.status.records = this.units
    this.pending.push(payload)
    if (!this.paused && this.pending.length >= PAUSE_AT && this.running) {
      this.paused = true
      this.running.pause()
    }
    this.wake()
  }

  /** {@link inputHashOf} of the input directory's regular files. */
  private async inputHash(): Promise<Hex> {
    return this.job.inputDir ? inputHashOfDir(this.job.inputDir) : inputHashOf([])
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.byteLength
  }
  return out
}

/** SHA-256 of input files by path, kept while their size and modification time stay the same. */
const fileHashes = new Map<string, { size: number; mtimeMs: number; sha256: Hex }>()
/** Files whose hashes {@link fileHashes} keeps at most. */
const MAX_FILE_HASHES = 4096

/**
 * {@link inputHashOf} of a directory's regular files (symbolic links left out, as the sandbox leaves
 * them out of `/in`), read off the event loop and each file hashed again only when it changed.
 */
async function inputHashOfDir(dir: string): Promise<Hex> {
  const files: { path: string; sha256: Hex }[] = []
  const walk = async (at: string, depth: number): Promise<void> => {
    if (depth > 32) return
    for (const entry of await readdir(at, { withFileTypes: true })) {
      const path = join(at, entry.name)
      if (entry.isDirectory()) await walk(path, depth + 1)
      else if (entry.isFile()) files.push({ path: relative(dir, path), sha256: await fileHash(path) })
    }
  }
  await walk(dir, 0)
  return inputHashOf(files)
}

async function fileHash(path: string): Promise<Hex> {
  const { size, mtimeMs } = await stat(path)
  const known = fileHashes.get(path)
  if (known && known.size === size && known.mtimeMs === mtimeMs) return known.sha256
  const hash = createHash('sha256')
  for await (const part of createReadStream(path)) hash.update(part as Buffer)
  const sha256 = `0x${hash.digest('hex')}` as Hex
  if (fileHashes.size >= MAX_FILE_HASHES) fileHashes.delete(fileHashes.keys().next().value!)
  fileHashes.set(path, { size, mtimeMs, sha256 })
  return sha256
}
