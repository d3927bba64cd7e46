import type { IncomingMessage, ServerResponse } from 'node:http'
import { type Hex, hasCode, SEAL_OVERHEAD_BYTES, TrickleError } from '@trickle/protocol'
import { z } from 'zod'
import type { JobProduct, JobProvider } from './jobProvider.ts'
import { quoteRequestSchema } from './jobProvider.ts'
import type { ModuleStore } from './moduleStore.ts'

/** What the job endpoints need from the server. */
export interface JobHttpContext {
  provider: JobProvider
  modules: ModuleStore
  /** the job products by id */
  products: ReadonlyMap<bigint, JobProduct>
  /** admits a request that reads or writes the provider's state (charged like a `hello`) */
  admit(req: IncomingMessage): boolean
  /** the client a request comes from, as the rate limits count it (`clientKey` of its address) */
  clientOf(req: IncomingMessage): string
}

/** Largest quote request body, bytes (sealed arguments of 96 KiB in hex fit). */
const MAX_QUOTE_BODY = 256 * 1024

/** The media type of a body sealed to the provider's terms key (SPEC.md §Jobs, "Sealed jobs"). */
export const SEALED_MEDIA_TYPE = 'application/vnd.trickle.sealed'
/** Largest cancel body, bytes (`{"signature":"0x…"}` is 147). */
const MAX_CANCEL_BODY = 1024

/**
 * Serves the job endpoints of a provider (SPEC.md §Jobs), CORS-open like the rest:
 * - `GET /jobs/key`: `{ publicKey }`, the terms key's public key (uncompressed, hex) that modules
 *   and arguments are sealed to; its address is the provider's registered `sellerKey`;
 * - `PUT /jobs/modules/<sha256>`: uploads a `compute` module (at most the products' largest
 *   `moduleBytes`), in the clear or, with `content-type: application/vnd.trickle.sealed`, sealed to
 *   the terms key (kept sealed at rest; `<sha256>` names the opened module); 204, 400 when the bytes
 *   do not hash to the name or do not open, 413 above the cap;
 * - `POST /jobs/quote` (JSON `{ productId, module?, args | sealedArgs, input?, limits? }`): 200 `{ quote,
 *   signature }` (bigints as decimal strings), or 409 `{ decline: { reason, message } }` (e.g.
 *   `at_capacity`), 400 for a bad request, 404 for a product that runs no jobs; the quotes open
 *   per client address are bounded (`JobProvider.quote`);
 * - `GET /jobs`: the provider's job slots and counts;
 * - `GET /jobs/<jobId>` (the quote id, 0x + 64 hex): the job as the provider sees it, a
 *   `JobStatus` (`running` with CPU ms and records so far, `cancelled`, `ended` with its exit code,
 *   attestation hash and `anchor` state, `anchored` with the transaction and the cumulative amount;
 *   bigints as decimal strings), kept for the provider's recent jobs (LRU); 404 otherwise;
 * - `POST /jobs/<jobId>/cancel` (JSON `{ signature }`, the EIP-712 `JobCancel { jobId, channelId }`
 *   signed by a key of the job's channel, see `JobProvider.cancel`): 200 `{ state: 'cancelled' }`
 *   (again for a job already cancelled), 404 for a job unknown or ended on its own, 403 for any other
 *   signer, 400 for a malformed job id or body, 413 above 1 KiB.
 * Requests that write (upload, quote, cancel) are rate-limited: a flood is answered 429 (the `hello`
 * rate limit, and for sealed uploads and arguments the rate of sealed opens, `SealedOpenLimits`).
 * @returns whether the request was a job request (answered)
 */
export async function handleJobRequest(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  ctx: JobHttpContext,
): Promise<boolean> {
  if (!path.startsWith('/jobs')) return false
  res.setHeader('access-control-allow-origin', '*')
  const json = (status: number, body: unknown) =>
    res
      .writeHead(status, { 'content-type': 'application/json' })
      .end(JSON.stringify(body, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)))
  if (path === '/jobs' && (req.method === 'GET' || req.method === 'HEAD')) {
    json(200, ctx.provider.stats)
    return true
  }
  if (path === '/jobs/key' && (req.method === 'GET' || req.method === 'HEAD')) {
    json(200, { publicKey: ctx.provider.sealingKey })
    return true
  }
  const status = /^\/jobs\/(0x[0-9a-fA-F]{64})$/.exec(path)
  if (status && (req.method === 'GET' || req.method === 'HEAD')) {
    const job = ctx.provider.recent.get(status[1]!)
    if (job) json(200, job)
    else json(404, { code: 'UNKNOWN_JOB', message: 'no such job among this provider’s recent jobs' })
    return true
  }
  const upload = /^\/jobs\/modules\/(0x[0-9a-fA-F]{64})$/.exec(path)
  if (upload && req.method === 'PUT') {
    if (!ctx.admit(req)) return tooMany(res)
    const cap = Math.max(0, ...[...ctx.products.values()].map((p) => p.spec.limits.moduleBytes))
    const sealed = req.headers['content-type'] === SEALED_MEDIA_TYPE
    const body = await readBody(req, sealed ? cap + SEAL_OVERHEAD_BYTES : cap)
    if (body === undefined) {
      json(413, { code: 'JOB_MODULE_INVALID', message: `a module is at most ${cap} bytes here` })
      return true
    }
    try {
      if (sealed) ctx.modules.put(upload[1] as Hex, ctx.provider.unseal(body, ctx.clientOf(req)), body)
      else ctx.modules.put(upload[1] as Hex, body)
    } catch (err) {
      if (hasCode(err, 'RATE_LIMITED')) return tooMany(res)
      json(400, { code: 'INVALID_ARGUMENT', message: (err as TrickleError).shortMessage ?? 'bad module' })
      return true
    }
    res.writeHead(204).end()
    return true
  }
  const cancel = /^\/jobs\/([^/]+)\/cancel$/.exec(path)
  if (cancel && req.method === 'POST') {
    if (!ctx.admit(req)) return tooMany(res)
    const body = await readBody(req, MAX_CANCEL_BODY)
    if (body === undefined) {
      json(413, { code: 'INVALID_ARGUMENT', message: `a cancel is at most ${MAX_CANCEL_BODY} bytes` })
      return true
    }
    const jobId = cancel[1]!
    let signature: Hex
    try {
      if (!/^0x[0-9a-fA-F]{64}$/.test(jobId)) throw new Error('the job id is not 0x + 64 hex digits')
      const parsed = cancelSchema.safeParse(JSON.parse(body.toString('utf8')))
      if (!parsed.success) throw new Error('the body is not { signature: 0x + 130 hex digits }')
      signature = parsed.data.signature as Hex
    } catch (err) {
      json(400, { code: 'INVALID_ARGUMENT', message: `bad cancel: ${(err as Error).message}` })
      return true
    }
    const answer = ctx.provider.cancel(jobId as Hex, signature)
    if (answer === 'cancelled') json(200, { state: 'cancelled' })
    else if (answer === 'forbidden') {
      json(403, { code: 'AUTH_FAILED', message: 'the cancel is not signed by a key of the job’s channel' })
    } else {
      json(404, {
        code: 'UNKNOWN_JOB',
        message:
          answer === 'ended'
            ? 'the job ended before the cancel: nothing to cancel'
            : 'no such job among this provider’s recent jobs',
      })
    }
    return true
  }
  if (path === '/jobs/quote' && req.method === 'POST') {
    if (!ctx.admit(req)) return tooMany(res)
    const body = await readBody(req, MAX_QUOTE_BODY)
    if (body === undefined) {
      json(413, { code: 'INVALID_ARGUMENT', message: `a quote request is at most ${MAX_QUOTE_BODY} bytes` })
      return true
    }
    let request: ReturnType<typeof quoteRequestSchema.parse>
    try {
      const parsed = quoteRequestSchema.safeParse(JSON.parse(body.toString('utf8')))
      if (!parsed.success) {
        const issue = parsed.error.issues[0]
        throw new Error(`${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`)
      }
      request = parsed.data
    } catch (err) {
      json(400, { code: 'INVALID_ARGUMENT', message: `bad quote request: ${(err as Error).message}` })
      return true
    }
    const product = ctx.products.get(BigInt(request.productId))
    if (!product) {
      json(404, { code: 'UNKNOWN_PRODUCT', message: `product ${request.productId} runs no jobs here` })
      return true
    }
    try {
      const answer = await ctx.provider.quote(product, request, Date.now(), ctx.clientOf(req))
      if ('reason' in answer) json(409, { decline: answer })
      else json(200, answer)
    } catch (err) {
      if (hasCode(err, 'RATE_LIMITED')) return tooMany(res)
      if (!(err instanceof TrickleError) || err.code !== 'INVALID_ARGUMENT') throw err
      json(400, { code: err.code, message: err.shortMessage })
    }
    return true
  }
  res.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
  return true
}

/** A cancel's body: the signature of `JobCancel { jobId, channelId }`, 65 bytes. */
const cancelSchema = z.strictObject({ signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/) })

function tooMany(res: ServerResponse): true {
  res
    .writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' })
    .end(JSON.stringify({ code: 'RATE_LIMITED', message: 'too many requests: slow down' }))
  return true
}

/** The request body, or undefined once it passes `maxBytes` (the rest is not read). */
async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length'] ?? '0')
  if (declared > maxBytes) return undefined
  const parts: Buffer[] = []
  let size = 0
  for await (const part of req as AsyncIterable<Buffer>) {
    size += part.byteLength
    if (size > maxBytes) {
      req.destroy()
      return undefined
    }
    parts.push(part)
  }
  return Buffer.concat(parts)
}
