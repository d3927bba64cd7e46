import { type SigningKey, TypedDataEncoder, verifyTypedData } from 'ethers'
import { Packr } from 'msgpackr'
import { z } from 'zod'
import { TrickleError } from './errors.ts'
import { type Address, fromHex, type Hex, toHex } from './hex.ts'
import { extendAckHash } from './receipt.ts'

/**
 * What a job product offers (descriptor `job`, SPEC.md §Jobs): the runtime, the most one job may
 * use, the price model in units of the descriptor's `pricePerChunk` (Golem's linear model: a start
 * fee, a price per CPU time, a price per output chunk), the datasets a `compute` job may read
 * (compute-to-data), and for an `app` its module and parameters.
 */
export const jobOfferSchema = z.strictObject({
  /** WebAssembly with WASI preview 1, run in the provider's sandbox */
  runtime: z.literal('wasi-preview1'),
  limits: z.strictObject({
    /** linear memory, bytes */
    memoryBytes: z.number().int().positive(),
    /** CPU time, ms */
    cpuMs: z.number().int().positive(),
    /** wall-clock time, ms */
    wallMs: z.number().int().positive(),
    /** the module's size, bytes */
    moduleBytes: z.number().int().positive(),
    /** stdout, stderr and output files together, bytes */
    outputBytes: z.number().int().positive(),
  }),
  /** units charged before the module starts (the start fee is `startUnits × pricePerChunk`) */
  startUnits: z.number().int().min(0).max(1_000_000),
  /** CPU ms per unit (one CPU-second costs `1000 / cpuMsPerUnit × pricePerChunk`) */
  cpuMsPerUnit: z.number().int().min(1).max(3_600_000),
  /** datasets mounted read-only at `/in` by name (compute-to-data: the buyer never gets them) */
  inputs: z
    .array(
      z.strictObject({
        name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
        description: z.string().max(2000),
      }),
    )
    .max(32),
  /** `app` products: the provider's module (SHA-256, hex) and the parameters it takes as arguments */
  app: z
    .strictObject({
      module: z.string().regex(/^0x[0-9a-f]{64}$/),
      parameters: z
        .array(z.strictObject({ name: z.string().min(1).max(64), description: z.string().max(2000) }))
        .max(64),
    })
    .optional(),
})

/** A job product's offer (descriptor `job`). */
export type JobOffer = z.infer<typeof jobOfferSchema>

/**
 * A provider's signed offer to run one job (SPEC.md §Jobs, "Quotes"): the module, arguments and input
 * it is for (by hash), the price, the limits it will hold the job to, and the most it can cost. The
 * quote id is the job's id; a provider runs a quote once.
 */
export interface JobQuote {
  /** the provider: the payee of the channel that pays the job */
  provider: Address
  productId: bigint
  /** 32 random bytes: the quote's and the job's id */
  quoteId: Hex
  /** SHA-256 of the module's bytes */
  moduleHash: Hex
  /** {@link jobArgsHash} of the arguments */
  argsHash: Hex
  /** the dataset mounted at `/in` (a name of the offer's `inputs`), `''` for none */
  input: string
  /** wei per unit: the session's `pricePerChunk` */
  unitPrice: bigint
  /** units charged before the module starts */
  startUnits: number
  /** CPU ms per unit */
  cpuMsPerUnit: number
  /** units the job charges at most, whatever it does: its price is at most `maxUnits × unitPrice` */
  maxUnits: number
  /** CPU ms the job may use */
  cpuMs: number
  /** wall-clock ms the job may run */
  wallMs: number
  /** linear memory, bytes */
  memoryBytes: number
  /** stdout, stderr and files together, bytes */
  outputBytes: number
  /** ms since the epoch: the quote may be run until then */
  expiresAt: number
}

/** A quote with the provider's terms-key signature (EIP-712, {@link signJobQuote}). */
export interface SignedJobQuote {
  quote: JobQuote
  signature: Hex
}

/** EIP-712 struct of a {@link JobQuote}. */
export const JOB_QUOTE_TYPES = {
  JobQuote: [
    { name: 'provider', type: 'address' },
    { name: 'productId', type: 'uint256' },
    { name: 'quoteId', type: 'bytes32' },
    { name: 'moduleHash', type: 'bytes32' },
    { name: 'argsHash', type: 'bytes32' },
    { name: 'input', type: 'string' },
    { name: 'unitPrice', type: 'uint256' },
    { name: 'startUnits', type: 'uint32' },
    { name: 'cpuMsPerUnit', type: 'uint32' },
    { name: 'maxUnits', type: 'uint64' },
    { name: 'cpuMs', type: 'uint64' },
    { name: 'wallMs', type: 'uint64' },
    { name: 'memoryBytes', type: 'uint64' },
    { name: 'outputBytes', type: 'uint64' },
    { name: 'expiresAt', type: 'uint64' },
  ],
}

/**
 * What the provider attests when a job ends (SPEC.md §Jobs, "Attestation"), signed with its terms
 * key: which job ran what, over which input, what came out (a hash chain over every record the job
 * sent), how it ended and what it used.
 */
export interface JobAttestation {
  /** the quote id */
  jobId: Hex
  /** the channel that paid for it */
  channelId: Hex
  productId: bigint
  moduleHash: Hex
  argsHash: Hex
  /** SHA-256 of the input's files (see {@link inputHashOf}); zero hash without input */
  inputHash: Hex
  /** {@link JobOutputChain} over the job's records, `start` to `end` */
  outputHash: Hex
  /** records the hash covers */
  records: number
  /** the module's exit code; −1 when the job was stopped */
  exitCode: number
  /** the `TrickleError` code that stopped the job (`JOB_CPU_LIMIT`…), `''` when it exited */
  error: string
  /** CPU ms charged */
  cpuMs: number
  peakMemoryBytes: number
  /** ms since the epoch */
  startedAt: number
  /** ms since the epoch */
  endedAt: number
  /** units the job charged in all, the attestation's own record included */
  units: number
}

/** EIP-712 struct of a {@link JobAttestation}. */
export const JOB_ATTESTATION_TYPES = {
  JobAttestation: [
    { name: 'jobId', type: 'bytes32' },
    { name: 'channelId', type: 'bytes32' },
    { name: 'productId', type: 'uint256' },
    { name: 'moduleHash', type: 'bytes32' },
    { name: 'argsHash', type: 'bytes32' },
    { name: 'inputHash', type: 'bytes32' },
    { name: 'outputHash', type: 'bytes32' },
    { name: 'records', type: 'uint64' },
    { name: 'exitCode', type: 'int32' },
    { name: 'error', type: 'string' },
    { name: 'cpuMs', type: 'uint64' },
    { name: 'peakMemoryBytes', type: 'uint64' },
    { name: 'startedAt', type: 'uint64' },
    { name: 'endedAt', type: 'uint64' },
    { name: 'units', type: 'uint64' },
  ],
}

/**
 * A buyer's request to stop a running job (SPEC.md §Jobs, "Cancel"), sent from anywhere to the
 * provider's `POST /jobs/<jobId>/cancel`: signed (EIP-712, {@link signJobCancel}) by a key of the
 * channel that pays for the job, one whose receipts the provider takes on it (its signer or payer).
 */
export interface JobCancel {
  /** the quote id */
  jobId: Hex
  /** the channel that pays for the job */
  channelId: Hex
}

/** EIP-712 struct of a {@link JobCancel}. */
export const JOB_CANCEL_TYPES = {
  JobCancel: [
    { name: 'jobId', type: 'bytes32' },
    { name: 'channelId', type: 'bytes32' },
  ],
}

/** The EIP-712 domain of quotes, attestations and cancels: `Trickle Jobs` v1 on the chain's StreamChannels. */
export function jobDomain(chainId: number, channels: Address) {
  return { name: 'Trickle Jobs', version: '1', chainId, verifyingContract: channels }
}

/** The EIP-712 digest of a quote. */
export function jobQuoteDigest(chainId: number, channels: Address, quote: JobQuote): Hex {
  return TypedDataEncoder.hash(jobDomain(chainId, channels), JOB_QUOTE_TYPES, quote) as Hex
}

/** Signs a quote with the provider's terms key. @returns 65-byte signature */
export function signJobQuote(key: SigningKey, chainId: number, channels: Address, quote: JobQuote): Hex {
  return key.sign(jobQuoteDigest(chainId, channels, quote)).serialized as Hex
}

/**
 * Recovers the key that signed a quote.
 * @throws Error from ethers when the signature does not recover
 */
export function recoverJobQuoteSigner(chainId: number, channels: Address, signed: SignedJobQuote): Address {
  return verifyTypedData(
    jobDomain(chainId, channels),
    JOB_QUOTE_TYPES,
    signed.quote,
    signed.signature,
  ) as Address
}

/** The EIP-712 digest of an attestation: what is anchored on-chain. */
export function jobAttestationDigest(chainId: number, channels: Address, attestation: JobAttestation): Hex {
  return TypedDataEncoder.hash(jobDomain(chainId, channels), JOB_ATTESTATION_TYPES, attestation) as Hex
}

/** Signs an attestation with the provider's terms key. @returns 65-byte signature */
export function signJobAttestation(
  key: SigningKey,
  chainId: number,
  channels: Address,
  attestation: JobAttestation,
): Hex {
  return key.sign(jobAttestationDigest(chainId, channels, attestation)).serialized as Hex
}

/**
 * Recovers the key that signed an attestation.
 * @throws Error from ethers when the signature does not recover
 */
export function recoverJobAttestationSigner(
  chainId: number,
  channels: Address,
  attestation: JobAttestation,
  signature: Hex,
): Address {
  return verifyTypedData(
    jobDomain(chainId, channels),
    JOB_ATTESTATION_TYPES,
    attestation,
    signature,
  ) as Address
}

/** The EIP-712 digest of a cancel. */
export function jobCancelDigest(chainId: number, channels: Address, cancel: JobCancel): Hex {
  return TypedDataEncoder.hash(jobDomain(chainId, channels), JOB_CANCEL_TYPES, cancel) as Hex
}

/**
 * Signs a cancel with a key of the job's channel (the session key that signs its receipts, or the
 * payer's). @returns 65-byte signature
 */
export function signJobCancel(key: SigningKey, chainId: number, channels: Address, cancel: JobCancel): Hex {
  return key.sign(jobCancelDigest(chainId, channels, cancel)).serialized as Hex
}

/**
 * Recovers the key that signed a cancel.
 * @throws Error from ethers when the signature does not recover
 */
export function recoverJobCancelSigner(
  chainId: number,
  channels: Address,
  cancel: JobCancel,
  signature: Hex,
): Address {
  return verifyTypedData(jobDomain(chainId, channels), JOB_CANCEL_TYPES, cancel, signature) as Address
}

/** SHA-256 (WebCrypto) of bytes, as hex. */
export async function sha256Hex(bytes: Uint8Array): Promise<Hex> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)
  return toHex(new Uint8Array(digest))
}

/**
 * The hash of a job's arguments: SHA-256 of their JSON array text (UTF-8), e.g. `["report",
 * "--field","CO(GT)"]`, the program name first.
 */
export function jobArgsHash(args: readonly string[]): Promise<Hex> {
  return sha256Hex(new TextEncoder().encode(JSON.stringify(args)))
}

/**
 * The hash of a job's input: SHA-256 over its files in path order, each as `path NUL sha256(bytes)`
 * (UTF-8 lines joined by `\n`); the zero hash without input.
 * @param files - path relative to `/in` and the file's SHA-256 (hex)
 */
export function inputHashOf(files: readonly { path: string; sha256: Hex }[]): Promise<Hex> {
  if (files.length === 0) return Promise.resolve(`0x${'00'.repeat(32)}` as Hex)
  const lines = [...files]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((f) => `${f.path}\0${f.sha256}`)
  return sha256Hex(new TextEncoder().encode(lines.join('\n')))
}

/**
 * One record of a job's output stream: the payload of one chunk of a job session (msgpack map,
 * SPEC.md §Jobs, "Records"). Every record is one unit.
 */
export type JobRecord =
  | { k: 'start'; jobId: Hex; n: number }
  | { k: 'cpu'; cpuMs: number; wallMs: number; memoryBytes: number }
  | { k: 'out'; data: Uint8Array }
  | { k: 'err'; data: Uint8Array }
  | { k: 'file'; path: string; data: Uint8Array; last: boolean }
  | { k: 'end'; exitCode: number; error: string; cpuMs: number; wallMs: number; peakMemoryBytes: number }
  | { k: 'attestation'; attestation: JobAttestation; signature: Hex }
  /**
   * an `out`, `err` or `file` record of a sealed job, encrypted to the buyer (`JobResultSealer`); the
   * job's first sealed record carries its result key, sealed to the session's `accept` key
   */
  | { k: 'sealed'; key?: Uint8Array; data: Uint8Array }

const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  variableMapSize: true,
  int64AsType: 'number',
})

/**
 * Encodes a job record as a chunk payload. Attestation numbers above 2^32 − 1 are written as
 * 64-bit integers, the product id and hashes as bytes.
 */
export function encodeJobRecord(record: JobRecord): Uint8Array {
  if (record.k === 'attestation') {
    const a = record.attestation
    return packr.pack({
      k: 'attestation',
      attestation: { ...a, productId: a.productId.toString() },
      signature: record.signature,
    })
  }
  return packr.pack(record)
}

const hex32 = z.string().regex(/^0x[0-9a-f]{64}$/)
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)
const bytes = z.instanceof(Uint8Array)
const recordSchema = z.discriminatedUnion('k', [
  z.strictObject({ k: z.literal('start'), jobId: hex32, n: count }),
  z.strictObject({ k: z.literal('cpu'), cpuMs: count, wallMs: count, memoryBytes: count }),
  z.strictObject({ k: z.literal('out'), data: bytes }),
  z.strictObject({ k: z.literal('err'), data: bytes }),
  z.strictObject({ k: z.literal('file'), path: z.string().min(1).max(1024), data: bytes, last: z.boolean() }),
  z.strictObject({ k: z.literal('sealed'), key: bytes.optional(), data: bytes }),
  z.strictObject({
    k: z.literal('end'),
    exitCode: z.number().int().min(-1).max(0x7fff_ffff),
    error: z.string().max(64),
    cpuMs: count,
    wallMs: count,
    peakMemoryBytes: count,
  }),
  z.strictObject({
    k: z.literal('attestation'),
    attestation: z.strictObject({
      jobId: hex32,
      channelId: hex32,
      productId: z.string().regex(/^[0-9]{1,78}$/),
      moduleHash: hex32,
      argsHash: hex32,
      inputHash: hex32,
      outputHash: hex32,
      records: count,
      exitCode: z.number().int().min(-1).max(0x7fff_ffff),
      error: z.string().max(64),
      cpuMs: count,
      peakMemoryBytes: count,
      startedAt: count,
      endedAt: count,
      units: count,
    }),
    signature: z.string().regex(/^0x[0-9a-f]{130}$/),
  }),
])

/**
 * Decodes an untrusted chunk payload of a job session.
 * @throws TrickleError `JOB_RECORD_INVALID` for anything that is not a valid record
 */
export function decodeJobRecord(payload: Uint8Array): JobRecord {
  let value: unknown
  try {
    value = packr.unpack(payload)
  } catch (cause) {
    throw new TrickleError('JOB_RECORD_INVALID', 'a job record is not msgpack', { cause })
  }
  const parsed = recordSchema.safeParse(value)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new TrickleError(
      'JOB_RECORD_INVALID',
      `job record field ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
    )
  }
  const record = parsed.data
  if (record.k === 'attestation') {
    return {
      k: 'attestation',
      attestation: {
        ...(record.attestation as Omit<JobAttestation, 'productId'> & { productId: string }),
        productId: BigInt(record.attestation.productId),
      } as JobAttestation,
      signature: record.signature as Hex,
    }
  }
  return record as JobRecord
}

/**
 * The output hash chain of a job: `h₀ = 0³²`, `hᵢ = SHA-256(hᵢ₋₁ ‖ payloadᵢ)` over the payloads of
 * its records from `start` to `end` (the rolling hash of receipts, SPEC.md §Rolling ack hash, from
 * zero rather than from the channel's base).
 */
export class JobOutputChain {
  private hash: Uint8Array = new Uint8Array(32)
  private n = 0
  /** Adds one record's payload. */
  add(payload: Uint8Array): void {
    this.hash = extendAckHash(this.hash, payload)
    this.n++
  }
  get value(): Hex {
    return toHex(this.hash)
  }
  get records(): number {
    return this.n
  }
}

/** Zero bytes32, for hashes of nothing. */
export const ZERO_HASH32: Hex = toHex(new Uint8Array(32))

/** Whether `a` and `b` are equal hex strings, case aside. */
export function sameHex(a: string, b: string): boolean {
  return fromHex(a as Hex).length === fromHex(b as Hex).length && a.toLowerCase() === b.toLowerCase()
}
