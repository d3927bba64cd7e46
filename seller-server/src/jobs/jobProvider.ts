import { createHash, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import { join, relative } from 'node:path'
import {
  type Address,
  encodeJobRecord,
  type Hex,
  inputHashOf,
  type JobAttestation,
  type JobOffer,
  JobOutputChain,
  type JobQuote,
  type JobRecord,
  type JobRequest,
  jobArgsHash,
  jobAttestationDigest,
  jobQuoteDigest,
  type SignedJobQuote,
  signJobAttestation,
  signJobQuote,
  TrickleError,
} from '@trickle/protocol'
import type { SigningKey } from 'ethers'
import type { Logger } from 'pino'
import { z } from 'zod'
import type { Feed } from '../mqttSource.ts'
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

/** How often partial stdout/stderr is released as a record, ms: the bound of partial records. */
export const OUTPUT_FLUSH_MS = 100

/** Bytes of a record's envelope beyond its data, at most (msgpack keys, path). */
const RECORD_OVERHEAD = 1100

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
 * for stdout and stderr each, and the files' (at most one per 512 bytes of the cap, which charges
 * every file that much) — and its `end` and `attestation` records.
 * @param payloadBytes - data bytes a record carries at most
 */
export function maxJobUnits(
  q: Pick<JobQuote, 'startUnits' | 'cpuMsPerUnit' | 'cpuMs' | 'wallMs' | 'outputBytes'>,
  payloadBytes: number,
): number {
  const full = Math.ceil(q.outputBytes / payloadBytes)
  const partial = 2 * Math.ceil(q.wallMs / OUTPUT_FLUSH_MS)
  const files = Math.ceil(q.outputBytes / 512)
  return q.startUnits + Math.ceil(q.cpuMs / q.cpuMsPerUnit) + full + partial + files + 2
}

/** A request for a quote, as `POST /jobs/quote` reads it (JSON). */
export const quoteRequestSchema = z.strictObject({
  productId: z.string().regex(/^[1-9][0-9]{0,77}$/),
  /** `compute`: the module's SHA-256, uploaded before; `app`: absent */
  module: z
    .string()
    .regex(/^0x[0-9a-fA-F]{64}$/)
    .optional(),
  args: z.array(z.string().max(1024)).min(1).max(64),
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

/** A job admitted to a session: its quote, module, arguments and input. */
export interface AdmittedJob {
  product: JobProduct
  quote: JobQuote
  module: Uint8Array
  args: string[]
  inputDir: string | undefined
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
   * @throws TrickleError `JOB_REJECTED` when every job slot runs a job (nothing was started or
   *   queued: the session ends before any record, the quote stays reserved until `cancel`)
   */
  start(channelId: Hex, listener: (payload: Uint8Array, position: number) => void, wake: () => void): Feed
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
  /** ms a quote may be run (default 300,000) */
  quoteTtlMs?: number
  /** the status of recent jobs, for `GET /jobs/<jobId>` (default: a new one of 1,024 jobs) */
  recent?: RecentJobs
  /**
   * called when a job's attestation record is handed to its session (once per job; jobs cancelled
   * before they end have none). Without it, jobs' anchors are reported `off` in {@link RecentJobs}
   */
  onAttested?: (attested: AttestedJob) => void
  log: Logger
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
 * {@link Feed} of records, ending with the signed attestation.
 */
export class JobProvider {
  /** the open quotes by id, oldest first */
  private readonly quotes = new Map<Hex, OpenQuote>()
  private readonly options: JobProviderOptions
  readonly stats: JobStats
  /** the status of recent jobs: running, cancelled, ended, anchored */
  readonly recent: RecentJobs

  constructor(options: JobProviderOptions) {
    this.options = options
    this.recent = options.recent ?? new RecentJobs()
    this.stats = { running: 0, slots: options.slots ?? 2, started: 0, finished: 0 }
  }

  /**
   * Quotes a job, or declines it (`at_capacity` when every slot runs a job). The quote is kept open
   * until it runs or expires, or is evicted to keep the open quotes within
   * {@link MAX_OPEN_QUOTES_PER_CLIENT} for `client` and {@link MAX_OPEN_QUOTES} in all (see
   * {@link quoteToEvict}); an evicted quote is refused at `hello` as unknown.
   * @param now - ms since the Unix epoch
   * @param client - who asks: `clientKey` of the request's address (IPv4, or an IPv6 /64)
   * @throws TrickleError `INVALID_ARGUMENT` (parameters that do not fit the product)
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
      argsHash: await jobArgsHash(request.args),
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
   * @throws TrickleError `JOB_REJECTED` (an unknown, evicted, used, expired, reserved or other
   *   quote, other arguments, a module no longer held)
   */
  async admit(productId: bigint, job: JobRequest, now: number): Promise<JobTicket> {
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
    if ((await jobArgsHash(job.args)) !== open.quote.argsHash) {
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
      args: job.args,
      inputDir,
    }
    let state: 'admitted' | 'started' | 'cancelled' = 'admitted'
    return {
      job: admitted,
      start: (channelId, listener, wake) => {
        if (state !== 'admitted') throw new TrickleError('INTERNAL', 'a job ticket starts once')
        if (this.stats.running >= this.stats.slots) {
          throw new TrickleError(
            'JOB_REJECTED',
            `all ${this.stats.slots} job slots are busy: ask again later`,
          )
        }
        state = 'started'
        this.quotes.delete(open.quote.quoteId)
        this.stats.running++
        this.stats.started++
        return new JobFeed(admitted, channelId, listener, wake, this.options, this.recent, () => {
          this.stats.running--
          this.stats.finished++
        })
      },
      cancel: () => {
        if (state !== 'admitted') return
        state = 'cancelled'
        // Usable again until it expires (an expired one goes at the next quote's sweep).
        open.reserved = false
      },
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
  private readonly listener: (payload: Uint8Array, position: number) => void
  private readonly wake: () => void
  private readonly options: JobProviderOptions
  private readonly recent: RecentJobs
  private readonly onDone: () => void

  constructor(
    job: AdmittedJob,
    channelId: Hex,
    listener: (payload: Uint8Array, position: number) => void,
    wake: () => void,
    options: JobProviderOptions,
    recent: RecentJobs,
    onDone: () => void,
  ) {
    this.job = job
    this.channelId = channelId
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
      state: 'ended',
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
    const payload = encodeJobRecord(record)
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
