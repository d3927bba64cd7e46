import { open } from 'node:fs/promises'
import type { Address, Hex } from '@trickle/protocol'
import { type ErrorCode, isErrorCode, TrickleError } from '@trickle/protocol'
import type { SessionSummary } from '@trickle/sdk'
import { toChunkRecord } from './chunkRecord.ts'
import type { Connection } from './connect.ts'
import { createProgress } from './progress.ts'

/** What `trickle buy` was asked to do. */
export interface BuyOptions {
  productId: bigint
  /** chunks to receive */
  chunks: number
  /** wei this purchase may spend at most */
  maxSpend: bigint
  /** NDJSON file the chunks are written to (truncated first) */
  out: string
  /** wei to deposit into a new channel; `maxSpend` when absent */
  deposit?: bigint
  /** an existing channel to stream on instead of opening one */
  channel?: Hex
}

/** The JSON line `trickle buy` prints to stdout when the session has ended. */
export interface BuySummary {
  /** decimal product id */
  productId: string
  channelId: Hex
  /** chunks received and written */
  chunks: number
  /** wei signed for in this session, decimal string */
  paidWei: string
  /** the output file */
  out: string
  /** why the session ended (`done` when all chunks arrived) */
  reason: SessionSummary['reason'] | null
}

/** Where `trickle buy` reports: progress and notes to `stderr`, the summary to `stdout`. */
export interface BuyIo {
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WriteStream
  /** called once with a function that ends the session early (e.g. on SIGINT) */
  onInterrupt?: (stop: () => void) => void
}

/**
 * Buys `chunks` chunks of a product: looks it up in the catalog, opens a channel to the product's
 * seller funded with `deposit` (unless `channel` names one), streams with `{ maxChunks, maxSpend }`
 * while paying per chunk, and writes one `{"seq":k,"reading":…}` line per chunk to `out`.
 *
 * The payer key is the session key (see {@link connect}). Terms priced above the descriptor's
 * `pricePerChunk` are refused. A `maxSpend` below one chunk's price fails before any channel is
 * opened, so no deposit is locked for nothing.
 *
 * @returns the summary (also printed to stdout as one JSON line once a session ran)
 * @throws TrickleError `PRODUCT_NOT_FOUND`, `DESCRIPTOR_*`, `SPENDING_CAP_REACHED` (cap below one
 *   chunk, or the cap or the channel's deposit ran out before `chunks` arrived), `CHAIN_UNAVAILABLE`
 *   (channel could not be opened), `CONNECTION_FAILED`, `SESSION_CLOSED` (the session ended early
 *   without an error) or the session's own error code (e.g. `TERMS_SIGNER_MISMATCH`)
 */
export async function buy(conn: Connection, options: BuyOptions, io: BuyIo): Promise<BuySummary> {
  const { client } = conn
  const product = await client.product(options.productId)
  const descriptor = product.descriptor!
  const price = BigInt(descriptor.pricePerChunk)
  if (options.maxSpend < price) {
    throw new TrickleError(
      'SPENDING_CAP_REACHED',
      `--max-spend ${options.maxSpend} wei is below one chunk of product ${options.productId} (${price} wei)`,
    )
  }
  const label = `product ${options.productId}`
  const file = await open(options.out, 'w')
  try {
    let channelId = options.channel
    if (channelId === undefined) {
      const deposit = options.deposit ?? options.maxSpend
      try {
        channelId = (await client.openChannel(descriptor.seller as Address, deposit)).channelId
      } catch (cause) {
        if (cause instanceof TrickleError) throw cause
        const reason = (cause as { shortMessage?: string }).shortMessage ?? (cause as Error).message
        throw new TrickleError('CHAIN_UNAVAILABLE', `could not open a channel: ${reason}`, { cause })
      }
      io.stderr.write(`opened channel ${channelId} to ${descriptor.seller} with ${deposit} wei\n`)
    }
    const stream = await client.stream(product, {
      channelId,
      maxSpend: options.maxSpend,
      maxChunks: options.chunks,
      maxPricePerChunk: price,
    })
    io.onInterrupt?.(() => void stream.close())
    const progress = createProgress(io.stderr, options.chunks, label)
    let written = 0
    let failure: unknown
    try {
      for await (const chunk of stream) {
        await file.write(`${JSON.stringify(toChunkRecord(chunk))}\n`)
        written++
        progress.update(written)
      }
    } catch (err) {
      failure = err
    } finally {
      progress.stop()
    }
    const summary = await stream.finished
    const result: BuySummary = {
      productId: options.productId.toString(),
      channelId,
      chunks: written,
      paidWei: summary.paid.toString(),
      out: options.out,
      reason: summary.reason ?? null,
    }
    io.stdout.write(`${JSON.stringify(result)}\n`)
    if (failure !== undefined) throw failure
    if (summary.error) throw new TrickleError(asCode(summary.error.code), summary.error.message)
    if (written < options.chunks) {
      if (summary.reason === 'spending_cap') {
        throw new TrickleError(
          'SPENDING_CAP_REACHED',
          `--max-spend ${options.maxSpend} wei paid for ${written} of ${options.chunks} chunks`,
        )
      }
      if (summary.reason === 'deposit_exhausted') {
        throw new TrickleError(
          'SPENDING_CAP_REACHED',
          `the channel's deposit ran out after ${written} of ${options.chunks} chunks`,
        )
      }
      throw new TrickleError(
        'SESSION_CLOSED',
        `session ended (${summary.reason ?? 'connection lost'}) after ${written} of ${options.chunks} chunks`,
      )
    }
    return result
  } finally {
    await file.close()
  }
}

function asCode(code: string): ErrorCode {
  return isErrorCode(code) ? code : 'INTERNAL'
}
