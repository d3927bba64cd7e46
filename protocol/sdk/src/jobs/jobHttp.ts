import {
  type Address,
  type Hex,
  type JobQuote,
  type SignedJobQuote,
  sealTo,
  TrickleError,
} from '@trickle/protocol'
import { computeAddress } from 'ethers'
import { httpBaseOf } from '../http/httpBaseOf.ts'
import { readBounded } from '../http/readBounded.ts'

/** A request for a job quote (SPEC.md §Jobs, "Quotes"). */
export interface JobQuoteRequest {
  /** `compute`: the module's SHA-256 (uploaded first); `app`: absent */
  module?: Hex
  /** WASI `argv`, the program name first; or, instead, */
  args?: string[]
  /** their JSON array text sealed to the provider's terms key (`sealTo`), hex */
  sealedArgs?: Hex
  /** the dataset to mount at `/in` (a name of the offer's `inputs`) */
  input?: string
  /** caps below the offer's: CPU and wall ms, memory and output bytes */
  limits?: { cpuMs?: number; wallMs?: number; memoryBytes?: number; outputBytes?: number }
}

/** A provider's refusal to quote. */
export interface JobQuoteDecline {
  reason: string
  message: string
}

/** Largest answer read from a provider, bytes. */
const MAX_ANSWER_BYTES = 64 * 1024

async function call(
  url: string,
  init: RequestInit,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<{ status: number; body: unknown }> {
  const deadline = AbortSignal.timeout(timeoutMs)
  const abort = signal ? AbortSignal.any([signal, deadline]) : deadline
  try {
    const response = await globalThis.fetch(url, { ...init, signal: abort })
    const bytes = await readBounded(response, MAX_ANSWER_BYTES)
    const text = new TextDecoder().decode(bytes)
    return { status: response.status, body: text === '' ? undefined : JSON.parse(text) }
  } catch (cause) {
    if (signal?.aborted) throw new TrickleError('ABORTED', `${url} was aborted`, { cause })
    throw new TrickleError('CONNECTION_FAILED', `the provider did not answer ${url}`, { cause })
  }
}

/**
 * Reads the key a provider opens sealed modules and arguments with (`GET /jobs/key`, SPEC.md §Jobs,
 * "Sealed jobs") and checks it is its registered terms key.
 * @param sellerKey - the provider's `DataRegistry.sellerKey`
 * @returns the public key (uncompressed, hex) to seal to
 * @throws TrickleError `JOB_REJECTED` (no key, or another key than the registered one: a relay may be
 *   in the way), `CONNECTION_FAILED`, `ABORTED`
 */
export async function fetchJobSealingKey(
  endpoint: string,
  sellerKey: Address,
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<Hex> {
  const { status, body } = await call(
    `${httpBaseOf(endpoint)}/jobs/key`,
    {},
    options.timeoutMs ?? 10_000,
    options.signal,
  )
  const publicKey = (body as { publicKey?: unknown } | undefined)?.publicKey
  if (status !== 200 || typeof publicKey !== 'string' || !/^0x04[0-9a-fA-F]{128}$/.test(publicKey)) {
    throw new TrickleError('JOB_REJECTED', `the provider names no key to seal to (HTTP ${status})`)
  }
  if (computeAddress(publicKey).toLowerCase() !== sellerKey.toLowerCase()) {
    throw new TrickleError('JOB_REJECTED', 'the provider’s key to seal to is not its registered key')
  }
  return publicKey as Hex
}

/**
 * Uploads a `compute` module to a provider (`PUT /jobs/modules/<sha256>`), idempotent; sealed to
 * `sealTo` when given, so the upload (and the provider's copy at rest) reveals nothing without its
 * terms key.
 * @param moduleHash - the module's SHA-256
 * @param options - `sealTo`: the provider's key from {@link fetchJobSealingKey}
 * @throws TrickleError `JOB_MODULE_INVALID` (above the provider's cap), `CONNECTION_FAILED`, `ABORTED`
 */
export async function uploadJobModule(
  endpoint: string,
  moduleHash: Hex,
  module: Uint8Array,
  options: { timeoutMs?: number; signal?: AbortSignal; sealTo?: Hex } = {},
): Promise<void> {
  const sealed = options.sealTo !== undefined
  const { status, body } = await call(
    `${httpBaseOf(endpoint)}/jobs/modules/${moduleHash}`,
    {
      method: 'PUT',
      body: (sealed ? sealTo(options.sealTo!, module) : module) as Uint8Array<ArrayBuffer>,
      headers: { 'content-type': sealed ? 'application/vnd.trickle.sealed' : 'application/wasm' },
    },
    options.timeoutMs ?? 60_000,
    options.signal,
  )
  if (status === 204) return
  const message = messageOf(body) ?? `HTTP ${status}`
  throw new TrickleError(
    status === 413 ? 'JOB_MODULE_INVALID' : 'CONNECTION_FAILED',
    `upload refused: ${message}`,
  )
}

/**
 * Asks a provider for a quote (`POST /jobs/quote`). The answer is untrusted: check it with
 * `checkJobQuote` before running it.
 * @returns the signed quote as sent, or the provider's decline (e.g. `at_capacity`)
 * @throws TrickleError `INVALID_ARGUMENT` (the provider refused the request as malformed),
 *   `CONNECTION_FAILED` (no valid answer), `ABORTED`
 */
export async function requestJobQuote(
  endpoint: string,
  productId: bigint,
  request: JobQuoteRequest,
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<SignedJobQuote | { decline: JobQuoteDecline }> {
  const { status, body } = await call(
    `${httpBaseOf(endpoint)}/jobs/quote`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ productId: productId.toString(), ...request }),
    },
    options.timeoutMs ?? 10_000,
    options.signal,
  )
  const answer = (body ?? {}) as Record<string, unknown>
  if (status === 409 && typeof answer.decline === 'object' && answer.decline !== null) {
    const d = answer.decline as Record<string, unknown>
    return {
      decline: { reason: String(d.reason).slice(0, 64), message: String(d.message ?? '').slice(0, 500) },
    }
  }
  if (status === 400 || status === 404) {
    throw new TrickleError(
      'INVALID_ARGUMENT',
      `the provider refused the request: ${messageOf(body) ?? status}`,
    )
  }
  if (status !== 200) throw new TrickleError('CONNECTION_FAILED', `the provider answered HTTP ${status}`)
  return quoteFromJson(answer)
}

/**
 * Asks a job's provider to cancel it (`POST /jobs/<jobId>/cancel`, SPEC.md §Jobs, "Cancel") with a
 * signed `JobCancel` (`signJobCancel` of `@trickle/protocol`). Idempotent: a job already cancelled is
 * answered `cancelled` again.
 * @param signature - 65 bytes, by a key of the job's channel
 * @returns the job's state: `cancelled`
 * @throws TrickleError `INVALID_ARGUMENT` (the provider knows no running job of that id: unknown, or
 *   it ended on its own; or it refused the request as malformed), `AUTH_FAILED` (the provider does
 *   not take the signer as a key of the job's channel), `RATE_LIMITED`, `CONNECTION_FAILED`, `ABORTED`
 */
export async function requestJobCancel(
  endpoint: string,
  jobId: Hex,
  signature: Hex,
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<{ state: 'cancelled' }> {
  const { status, body } = await call(
    `${httpBaseOf(endpoint)}/jobs/${jobId}/cancel`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ signature }),
    },
    options.timeoutMs ?? 10_000,
    options.signal,
  )
  const told = messageOf(body) ?? `HTTP ${status}`
  if (status === 200 && (body as { state?: unknown } | undefined)?.state === 'cancelled') {
    return { state: 'cancelled' }
  }
  if (status === 404) throw new TrickleError('INVALID_ARGUMENT', `job ${jobId} cannot be cancelled: ${told}`)
  if (status === 400 || status === 413) {
    throw new TrickleError('INVALID_ARGUMENT', `the provider refused the cancel: ${told}`)
  }
  if (status === 403) throw new TrickleError('AUTH_FAILED', `the provider refused the cancel: ${told}`)
  if (status === 429) throw new TrickleError('RATE_LIMITED', 'the provider is rate-limiting: try again')
  throw new TrickleError('CONNECTION_FAILED', `the provider answered the cancel with HTTP ${status}`)
}

function messageOf(body: unknown): string | undefined {
  const m = (body as { message?: unknown } | undefined)?.message
  return typeof m === 'string' ? m.slice(0, 500) : undefined
}

/**
 * A quote from its JSON form (bigints as decimal strings).
 * @throws TrickleError `CONNECTION_FAILED` when it is not one
 */
function quoteFromJson(answer: Record<string, unknown>): SignedJobQuote {
  const q = answer.quote as Record<string, unknown> | undefined
  const bad = () => new TrickleError('CONNECTION_FAILED', 'the provider sent no valid quote')
  if (!q || typeof q !== 'object' || typeof answer.signature !== 'string') throw bad()
  const hex = (v: unknown, bytes: number) => {
    if (typeof v !== 'string' || !new RegExp(`^0x[0-9a-fA-F]{${bytes * 2}}$`).test(v)) throw bad()
    return v as Hex
  }
  const int = (v: unknown) => {
    if (!Number.isSafeInteger(v) || (v as number) < 0) throw bad()
    return v as number
  }
  const wei = (v: unknown) => {
    if (typeof v !== 'string' || !/^(0|[1-9][0-9]{0,77})$/.test(v)) throw bad()
    return BigInt(v)
  }
  if (typeof q.input !== 'string' || q.input.length > 64) throw bad()
  const quote: JobQuote = {
    provider: hex(q.provider, 20) as Address,
    productId: wei(q.productId),
    quoteId: hex(q.quoteId, 32),
    moduleHash: hex(q.moduleHash, 32),
    argsHash: hex(q.argsHash, 32),
    input: q.input,
    unitPrice: wei(q.unitPrice),
    startUnits: int(q.startUnits),
    cpuMsPerUnit: int(q.cpuMsPerUnit),
    maxUnits: int(q.maxUnits),
    cpuMs: int(q.cpuMs),
    wallMs: int(q.wallMs),
    memoryBytes: int(q.memoryBytes),
    outputBytes: int(q.outputBytes),
    expiresAt: int(q.expiresAt),
  }
  return { quote, signature: hex(answer.signature, 65) }
}
