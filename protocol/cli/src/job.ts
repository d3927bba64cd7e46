import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { basename, dirname, join, normalize } from 'node:path'
import {
  type Address,
  type Hex,
  type JobAttestation,
  type JobRecord,
  type SignedJobQuote,
  TrickleError,
} from '@trickle/protocol'
import {
  type BuyerClient,
  type CatalogProduct,
  httpBaseOf,
  type JobQuoteDecline,
  readBounded,
} from '@trickle/sdk'
import type { Connection } from './connect.ts'
import { type AmountFormat, formatAmount } from './formatAmount.ts'

/** What to run: a WebAssembly file (for every `compute` product), or an `app` product by id. */
export type JobTarget = { module: Uint8Array; name: string } | { appId: bigint }

/** What `trickle job quote` and `job run` ask the providers for. */
export interface JobAsk {
  target: JobTarget
  /** the module's arguments after its program name */
  args: string[]
  /** a dataset of the offer mounted at `/in` */
  input?: string
  /** CPU ms the job may use at most (below the offers') */
  cpuMs?: number
  /** only these products (default: every matching one) */
  productIds?: bigint[]
  /**
   * send the module and arguments sealed to each provider's registered key and take the output back
   * sealed to the session key (default true; SPEC.md §Jobs, "Sealed jobs")
   */
  seal?: boolean
}

/** One provider's answer. */
export interface QuoteRow {
  product: CatalogProduct
  quote?: SignedJobQuote
  decline?: JobQuoteDecline
  /** the request failed (unreachable provider, invalid answer): its code and message */
  failure?: { code: string; message: string }
  /** wei at most: `maxUnits × unitPrice` */
  maxPrice?: bigint
}

/**
 * Reads `job`'s target argument: a path to a `.wasm` file, or an app product id.
 * @throws TrickleError `INVALID_ARGUMENT` (neither a readable file nor a product id)
 */
export async function readJobTarget(target: string): Promise<JobTarget> {
  if (/^[1-9][0-9]{0,77}$/.test(target)) return { appId: BigInt(target) }
  try {
    return { module: new Uint8Array(await readFile(target)), name: basename(target).replace(/\.wasm$/, '') }
  } catch (cause) {
    throw new TrickleError(
      'INVALID_ARGUMENT',
      `${target} is neither a readable .wasm file nor an app product id`,
      {
        cause,
      },
    )
  }
}

/**
 * Asks every matching provider for a quote (SPEC.md §Jobs, "Quotes"): for a module, every `compute`
 * product (with the input, when asked); for an app id, that product. Answers come in parallel; each
 * is checked by `BuyerClient.quoteJob`.
 * @returns the quotes, cheapest most first, then declines and failures
 * @throws TrickleError `PRODUCT_NOT_FOUND` (the app id), `INVALID_ARGUMENT` (it is not an app)
 */
export async function quoteAll(client: BuyerClient, ask: JobAsk): Promise<QuoteRow[]> {
  let products: CatalogProduct[]
  let argv: string[]
  if ('appId' in ask.target) {
    const app = await client.product(ask.target.appId)
    if (app.descriptor?.kind !== 'app') {
      throw new TrickleError('INVALID_ARGUMENT', `product ${ask.target.appId} is not an app`)
    }
    products = [app]
    argv = [app.descriptor.name.replace(/\s+/g, '-').toLowerCase(), ...ask.args]
  } else {
    products = (await client.products()).filter(
      (p) =>
        p.active &&
        p.descriptor?.kind === 'compute' &&
        p.descriptor.job !== undefined &&
        (ask.input === undefined || p.descriptor.job.inputs.some((i) => i.name === ask.input)) &&
        (ask.productIds === undefined || ask.productIds.includes(p.productId)),
    )
    argv = [ask.target.name, ...ask.args]
  }
  const module = 'module' in ask.target ? ask.target.module : undefined
  const rows = await Promise.all(
    products.map(async (product): Promise<QuoteRow> => {
      try {
        const answer = await client.quoteJob(product, {
          ...(module ? { module } : {}),
          args: argv,
          ...(ask.input !== undefined ? { input: ask.input } : {}),
          ...(ask.cpuMs !== undefined ? { limits: { cpuMs: ask.cpuMs } } : {}),
          seal: ask.seal !== false,
        })
        if ('decline' in answer) return { product, decline: answer.decline }
        return { product, quote: answer, maxPrice: BigInt(answer.quote.maxUnits) * answer.quote.unitPrice }
      } catch (err) {
        const e = err as { code?: string; shortMessage?: string; message?: string }
        return {
          product,
          failure: { code: e.code ?? 'INTERNAL', message: e.shortMessage ?? e.message ?? '' },
        }
      }
    }),
  )
  const rank = (r: QuoteRow) => (r.quote ? 0 : r.decline ? 1 : 2)
  return rows.sort((a, b) =>
    rank(a) !== rank(b)
      ? rank(a) - rank(b)
      : a.maxPrice! < b.maxPrice!
        ? -1
        : a.maxPrice! > b.maxPrice!
          ? 1
          : 0,
  )
}

/** The arguments a quote was asked with (the program name first), to run it with. */
export function argvOf(ask: JobAsk, row: QuoteRow): string[] {
  const name =
    'appId' in ask.target ? row.product.descriptor!.name.replace(/\s+/g, '-').toLowerCase() : ask.target.name
  return [name, ...ask.args]
}

/**
 * The cheapest quote that meets the buyer's limits: its most within `maxPrice` (wei; any when
 * absent) and, when the buyer asked for CPU time, at least that much (a provider quotes its own cap
 * when it offers less).
 */
export function pickQuote(
  rows: readonly QuoteRow[],
  maxPrice?: bigint,
  cpuMs?: number,
): QuoteRow | undefined {
  return rows.find(
    (r) =>
      r.quote &&
      (maxPrice === undefined || r.maxPrice! <= maxPrice) &&
      (cpuMs === undefined || r.quote.quote.cpuMs >= cpuMs),
  )
}

/** The quote table `trickle job quote` prints. */
export function formatQuoteRows(rows: readonly QuoteRow[], format: AmountFormat, picked?: QuoteRow): string {
  const f = (wei: bigint) => formatAmount(wei, format)
  const lines = rows.map((r) => {
    const head = `${r === picked ? '→' : ' '} product ${r.product.productId} ${r.product.descriptor?.name ?? ''} (${r.product.descriptor?.seller ?? '?'})`
    if (r.quote) {
      const q = r.quote.quote
      const perCpuSecond = (q.unitPrice * 1000n) / BigInt(q.cpuMsPerUnit)
      return [
        head,
        `    at most ${f(r.maxPrice!)} (${q.maxUnits} units × ${f(q.unitPrice)})`,
        `    start ${f(BigInt(q.startUnits) * q.unitPrice)}, ${f(perCpuSecond)} per CPU-second, ${f(q.unitPrice)} per output record`,
        `    limits: ${q.cpuMs} ms CPU, ${q.wallMs} ms wall, ${Math.round(q.memoryBytes / 1024 / 1024)} MiB memory, ${q.outputBytes} bytes output; expires ${new Date(q.expiresAt).toISOString()}`,
      ].join('\n')
    }
    if (r.decline) return `${head}\n    declined: ${r.decline.reason}: ${r.decline.message}`
    return `${head}\n    failed: ${r.failure!.code}: ${r.failure!.message}`
  })
  return `${lines.join('\n')}\n`
}

/** What `trickle job run` writes in its output directory, and prints. */
export interface JobRunReport {
  jobId: Hex
  productId: string
  channelId: Hex
  /** records received (each one unit) */
  units: number
  /** wei paid */
  paidWei: string
  exitCode: number | null
  error: string | null
  cpuMs: number | null
  out: string
  attested: boolean
  reason: string | null
}

/** Length-prefixed (4-byte big-endian) record payloads: what `job verify` recomputes the output hash from. */
export const RECORDS_FILE = 'records.bin'
/** The attestation with its signature and context, JSON. */
export const ATTESTATION_FILE = 'attestation.json'

/**
 * Runs a job under a checked quote on a channel and writes what comes back to `dir`: `stdout`,
 * `stderr`, `files/<path>` for the module's `/out` files, {@link RECORDS_FILE} and
 * {@link ATTESTATION_FILE}; reports progress to `onProgress`.
 * @param stop - resolves when the run should be cancelled (Ctrl-C)
 */
export async function runJobTo(
  conn: Connection,
  row: QuoteRow,
  argv: string[],
  options: {
    channelId: Hex
    dir: string
    /** as quoted (default true) */
    seal?: boolean
    onProgress?: (units: number, cpuMs: number, outBytes: number) => void
  },
  stop: Promise<void>,
): Promise<JobRunReport> {
  const { client } = conn
  const { dir } = options
  await mkdir(join(dir, 'files'), { recursive: true })
  const job = await client.runJob(row.product, row.quote!, {
    channelId: options.channelId,
    args: argv,
    seal: options.seal !== false,
  })
  void stop.then(() => job.cancel())
  const stdout: Uint8Array[] = []
  const stderr: Uint8Array[] = []
  const files = new Map<string, Uint8Array[]>()
  let units = 0
  let cpuMs = 0
  let outBytes = 0
  let attestation: { attestation: JobAttestation; signature: Hex } | undefined
  let end: Extract<JobRecord, { k: 'end' }> | undefined
  let failure: unknown
  try {
    for await (const record of job) {
      units++
      if (record.k === 'out') stdout.push(record.data)
      if (record.k === 'err') stderr.push(record.data)
      if (record.k === 'file') files.set(record.path, [...(files.get(record.path) ?? []), record.data])
      if (record.k === 'out' || record.k === 'err' || record.k === 'file') outBytes += record.data.byteLength
      if (record.k === 'cpu') cpuMs = record.cpuMs
      if (record.k === 'end') end = record
      if (record.k === 'attestation')
        attestation = { attestation: record.attestation, signature: record.signature }
      options.onProgress?.(units, cpuMs, outBytes)
    }
  } catch (err) {
    failure = err
  }
  // What was received is the buyer's, paid for: kept even when the run failed.
  await writeFile(join(dir, 'stdout'), Buffer.concat(stdout))
  await writeFile(join(dir, 'stderr'), Buffer.concat(stderr))
  for (const [path, parts] of files) {
    const target = normalize(join(dir, 'files', path))
    if (!target.startsWith(join(dir, 'files'))) continue // a provider's path never leaves the directory
    await mkdir(dirname(target), { recursive: true })
    await writeFile(target, Buffer.concat(parts))
  }
  const outcome = await job.finished.catch(() => undefined)
  if (attestation) {
    await writeFile(
      join(dir, ATTESTATION_FILE),
      `${JSON.stringify(
        {
          ...attestation,
          attestation: {
            ...attestation.attestation,
            productId: attestation.attestation.productId.toString(),
          },
          provider: row.product.descriptor!.seller as Address,
        },
        null,
        2,
      )}\n`,
    )
  }
  await writeFile(join(dir, RECORDS_FILE), lengthPrefixed(job.payloads))
  if (failure) throw failure
  return {
    jobId: row.quote!.quote.quoteId,
    productId: row.product.productId.toString(),
    channelId: options.channelId,
    units,
    paidWei: (outcome?.summary.paid ?? 0n).toString(),
    exitCode: end?.exitCode ?? null,
    error: end ? end.error || null : null,
    cpuMs: end?.cpuMs ?? null,
    out: dir,
    attested: attestation !== undefined,
    reason: outcome?.summary.reason ?? null,
  }
}

/** Payloads as 4-byte big-endian lengths each followed by its bytes. */
export function lengthPrefixed(payloads: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(payloads.reduce((n, p) => n + 4 + p.byteLength, 0))
  const view = new DataView(out.buffer)
  let at = 0
  for (const p of payloads) {
    view.setUint32(at, p.byteLength)
    out.set(p, at + 4)
    at += 4 + p.byteLength
  }
  return out
}

/**
 * The payloads of a {@link lengthPrefixed} file.
 * @throws TrickleError `INVALID_ARGUMENT` for a truncated file
 */
export function readLengthPrefixed(bytes: Uint8Array): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const payloads: Uint8Array[] = []
  for (let at = 0; at < bytes.byteLength; ) {
    if (at + 4 > bytes.byteLength) throw new TrickleError('INVALID_ARGUMENT', 'the records file is truncated')
    const n = view.getUint32(at)
    if (at + 4 + n > bytes.byteLength)
      throw new TrickleError('INVALID_ARGUMENT', 'the records file is truncated')
    payloads.push(bytes.subarray(at + 4, at + 4 + n))
    at += 4 + n
  }
  return payloads
}

/**
 * What a `job run` directory holds for `job verify`: the attestation, its signature and the record
 * payloads received.
 * @throws TrickleError `INVALID_ARGUMENT` (no attestation: the job did not finish; unreadable files)
 */
export async function readJobRun(
  dir: string,
): Promise<{ attestation: JobAttestation; signature: Hex; records: Uint8Array[] }> {
  let saved: { attestation: Record<string, unknown>; signature: Hex }
  try {
    saved = JSON.parse(await readFile(join(dir, ATTESTATION_FILE), 'utf8'))
  } catch (cause) {
    throw new TrickleError(
      'INVALID_ARGUMENT',
      `${join(dir, ATTESTATION_FILE)} cannot be read: did the job finish?`,
      {
        cause,
      },
    )
  }
  const attestation = {
    ...saved.attestation,
    productId: BigInt(String(saved.attestation.productId)),
  } as JobAttestation
  const records = readLengthPrefixed(new Uint8Array(await readFile(join(dir, RECORDS_FILE))))
  return { attestation, signature: saved.signature, records }
}

/**
 * A job's state from its provider (`GET /jobs/<jobId>`).
 * @throws TrickleError `INVALID_ARGUMENT` (the provider does not know the job), `CONNECTION_FAILED`
 */
export async function fetchJobStatus(product: CatalogProduct, jobId: Hex): Promise<unknown> {
  const endpoint = product.descriptor?.endpoint
  if (!endpoint)
    throw new TrickleError('DESCRIPTOR_INVALID', `product ${product.productId} has no valid descriptor`)
  let response: Response
  try {
    response = await fetch(`${httpBaseOf(endpoint)}/jobs/${jobId}`, { signal: AbortSignal.timeout(10_000) })
  } catch (cause) {
    throw new TrickleError(
      'CONNECTION_FAILED',
      `the provider of product ${product.productId} did not answer`,
      {
        cause,
      },
    )
  }
  if (response.status === 404) {
    throw new TrickleError(
      'INVALID_ARGUMENT',
      `the provider knows no job ${jobId} (it keeps its recent jobs only)`,
    )
  }
  if (!response.ok)
    throw new TrickleError('CONNECTION_FAILED', `the provider answered HTTP ${response.status}`)
  return JSON.parse(new TextDecoder().decode(await readBounded(response, 64 * 1024)))
}
