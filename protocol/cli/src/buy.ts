import { channelsAt } from '@trickle/contracts'
import type { Address, Hex } from '@trickle/protocol'
import { type ErrorCode, isErrorCode, TrickleError } from '@trickle/protocol'
import type { PaidStream, SessionSummary, StreamRange } from '@trickle/sdk'
import { toChunkRecord } from './chunkRecord.ts'
import type { Connection } from './connect.ts'
import { type AmountFormat, formatAmount } from './formatAmount.ts'
import { formatStopReport, type StopState } from './formatStopReport.ts'
import { openOutput } from './openOutput.ts'
import { previewCost } from './previewCost.ts'
import { createProgress } from './progress.ts'

/** What `trickle buy` was asked to do. */
export interface BuyOptions {
  productId: bigint
  /** chunks to receive; for a finite `range`, at most (default: all its readings) */
  chunks?: number
  /** buy recorded history instead of live readings (SPEC.md §History); `chunks` is needed with `live` */
  range?: StreamRange
  /** wei this purchase may spend at most */
  maxSpend: bigint
  /**
   * NDJSON output: `-` for stdout, else a file replaced once a chunk has arrived (see `openOutput`)
   */
  out: string
  /** wei to deposit into a new channel; `maxSpend` when absent */
  deposit?: bigint
  /** an existing channel to stream on instead of opening one */
  channel?: Hex
  /** how amounts are printed for people */
  format?: AmountFormat
  /** the global flags as given, repeated in the commands printed to resume or refund */
  globalArgs?: readonly string[]
}

/** The JSON line `trickle buy` prints when the session has ended (to stderr with `--out -`). */
export interface BuySummary {
  /** decimal product id */
  productId: string
  channelId: Hex
  /** chunks received and written */
  chunks: number
  /** wei signed for in this session, decimal string */
  paidWei: string
  /** the output file, `-` for stdout */
  out: string
  /** for recorded history: what the seller said the range holds (ms since the epoch) */
  range?: { count: number; from: number; to: number; live: boolean }
  /** why the session ended (`done` when all chunks arrived, `buyer_closed` after Ctrl-C) */
  reason: SessionSummary['reason'] | null
  /** true when an interrupt (Ctrl-C) ended the purchase */
  interrupted?: true
  /**
   * for a product whose descriptor lists signing devices: how many chunks were `verified`,
   * `unsigned` and `invalid` (SPEC.md §Device signatures)
   */
  signatures?: { verified: number; unsigned: number; invalid: number }
}

/** Where `trickle buy` reports: progress, preview and notes to `stderr`, the summary to `stdout`. */
export interface BuyIo {
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WriteStream
  /**
   * called once, before anything else, with a function that stops the purchase (e.g. on SIGINT): a
   * running session ends with a final receipt; a channel being opened is still opened, then reported
   */
  onInterrupt?: (stop: () => void) => void
}

/**
 * Buys `chunks` chunks of a product: looks it up in the catalog, prints the cost preview, opens a
 * channel to the product's seller funded with `deposit` (unless `channel` names one), streams with
 * `{ maxChunks, maxSpend }` while paying per chunk, and writes one `{"seq":k,"reading":…}` line per
 * chunk to `out`. Once a channel exists, it ends by printing what was paid, what stays locked in the
 * channel and the commands to resume or get the refund ({@link formatStopReport}).
 *
 * The payer key is the session key (see {@link connect}). Terms priced above the descriptor's
 * `pricePerChunk` are refused. A `maxSpend` below one chunk's price fails before any channel is
 * opened, so no deposit is locked for nothing. An interrupt is a normal stop: the result has
 * `interrupted: true` and nothing is thrown.
 *
 * @returns the summary (also printed as one JSON line once a session ran)
 * With a `range` it buys recorded history (SPEC.md §History): it asks the seller what the range holds
 * (`BuyerClient.history`) before any channel is opened, previews that count, and streams exactly
 * those readings — the range is fixed to the recording times of the previewed first and last, so a
 * `last` range does not slide while the channel opens (the first `chunks` of them when given; with
 * `live`, the range as asked, then live readings up to `chunks`).
 *
 * @throws TrickleError `PRODUCT_NOT_FOUND`, `DESCRIPTOR_*`, `RANGE_UNAVAILABLE` (the seller holds no
 *   reading in the range, or sells no history; nothing was paid), `INVALID_ARGUMENT` (a `range` without
 *   an end and no `chunks`), `SPENDING_CAP_REACHED` (cap below one
 *   chunk, or the cap or the channel's deposit ran out before `chunks` arrived), `INSUFFICIENT_FUNDS`,
 *   `CHAIN_UNAVAILABLE` (channel could not be opened), `CONNECTION_FAILED`, `SESSION_CLOSED` (the
 *   session ended early without an error), `ABORTED` (interrupted before any money moved) or the
 *   session's own error code (e.g. `TERMS_SIGNER_MISMATCH`)
 */
export async function buy(conn: Connection, options: BuyOptions, io: BuyIo): Promise<BuySummary> {
  const { client } = conn
  const format = options.format ?? {}
  const f = (wei: bigint) => formatAmount(wei, format)
  let interrupted = false
  let stream: PaidStream | undefined
  io.onInterrupt?.(() => {
    if (interrupted) return
    interrupted = true
    io.stderr.write('\nstopping: ending the session with a final receipt (Ctrl-C again quits at once)\n')
    void stream?.close()
  })
  const aborted = () => new TrickleError('ABORTED', 'stopped (Ctrl-C) before any money moved')

  const product = await client.product(options.productId)
  const descriptor = product.descriptor!
  const price = BigInt(descriptor.pricePerChunk)
  if (options.maxSpend < price) {
    throw new TrickleError(
      'SPENDING_CAP_REACHED',
      `--max-spend ${f(options.maxSpend)} is below one chunk of product ${options.productId} (${f(price)})`,
    )
  }
  // A range is priced from what the seller holds of it, before any money moves.
  const held = options.range ? await client.history(product, options.range) : undefined
  const chunks =
    options.chunks !== undefined && !(held && !held.live && held.count < options.chunks)
      ? options.chunks
      : held && !held.live
        ? held.count
        : undefined
  if (chunks === undefined) {
    throw new TrickleError('INVALID_ARGUMENT', 'a live range (or a live stream) needs a chunk count')
  }
  if (held) io.stderr.write(`${describeRange(held, chunks)}\n`)
  const frozen = held && !held.live && held.count > 0 ? { start: held.start, end: held.end } : undefined
  const deposit = options.channel === undefined ? (options.deposit ?? options.maxSpend) : undefined
  const preview = previewCost(
    {
      productId: options.productId,
      name: descriptor.name,
      price,
      chunks,
      maxSpend: options.maxSpend,
      payee: descriptor.seller as Address,
      ...(deposit !== undefined ? { deposit } : {}),
      ...(options.channel !== undefined ? { channel: options.channel } : {}),
    },
    format,
  )
  io.stderr.write(`${preview.join('\n')}\n`)
  if (interrupted) throw aborted()

  const output = await openOutput(options.out, io.stdout)
  let written = 0
  const signatures = { verified: 0, unsigned: 0, invalid: 0 }
  try {
    let channelId = options.channel
    if (channelId === undefined) {
      try {
        channelId = (await client.openChannel(descriptor.seller as Address, deposit!)).channelId
      } catch (cause) {
        if (cause instanceof TrickleError) throw cause
        const reason = (cause as { shortMessage?: string }).shortMessage ?? (cause as Error).message
        throw new TrickleError('CHAIN_UNAVAILABLE', `could not open a channel: ${reason}`, { cause })
      }
      io.stderr.write(`opened channel ${channelId} to ${descriptor.seller} with ${f(deposit!)}\n`)
    } else if (interrupted) {
      throw aborted()
    }

    let failure: unknown
    let summary: SessionSummary | undefined
    if (!interrupted) {
      stream = await client.stream(product, {
        channelId,
        maxSpend: options.maxSpend,
        maxPricePerChunk: price,
        // A finite range is bought as it was priced: the readings recorded from its first to its
        // last at the preview, not the latest N of a later moment.
        ...(options.chunks !== undefined || !frozen ? { maxChunks: chunks } : {}),
        ...(frozen ? { range: frozen } : options.range ? { range: options.range } : {}),
      })
      if (interrupted) void stream.close()
      const progress = createProgress(io.stderr, chunks, `product ${options.productId}`)
      try {
        for await (const chunk of stream) {
          await output.write(`${JSON.stringify(toChunkRecord(chunk))}\n`)
          if (chunk.provenance) signatures[chunk.provenance.status]++
          written++
          progress.update(written)
        }
      } catch (err) {
        failure = err
      } finally {
        progress.stop()
      }
      summary = await stream.finished
    }
    const result: BuySummary = {
      productId: options.productId.toString(),
      channelId,
      chunks: written,
      paidWei: (summary?.paid ?? 0n).toString(),
      out: options.out,
      ...(summary?.range ? { range: summary.range } : {}),
      reason: summary?.reason ?? null,
      ...(interrupted ? { interrupted: true as const } : {}),
      ...(descriptor.devices ? { signatures } : {}),
    }
    if (descriptor.devices && signatures.unsigned + signatures.invalid > 0) {
      io.stderr.write(
        `warning: ${signatures.invalid} chunk(s) with an invalid device signature and ${signatures.unsigned} unsigned, of ${written}; see "signature" in the output\n`,
      )
    }
    ;(options.out === '-' ? io.stderr : io.stdout).write(`${JSON.stringify(result)}\n`)
    const ended = interrupted ? 'interrupted' : (summary?.reason ?? 'connection lost')
    const report: StopState = {
      productId: options.productId,
      channelId,
      ended,
      written,
      chunks,
      price,
      paid: summary?.paid ?? 0n,
      maxSpend: options.maxSpend,
      out: options.out,
      globalArgs: options.globalArgs ?? [],
      ...(await channelAfter(conn, channelId, summary)),
    }
    io.stderr.write(`${formatStopReport(report, format).join('\n')}\n`)
    if (interrupted) return result
    if (failure !== undefined) throw failure
    if (summary?.error) throw new TrickleError(asCode(summary.error.code), summary.error.message)
    // A finite range may hold fewer readings by the time it streams (retention): `done` is its end.
    const rangeDone = summary?.range && !summary.range.live && summary.reason === 'done'
    if (written < chunks && !rangeDone) {
      if (summary?.reason === 'spending_cap') {
        throw new TrickleError(
          'SPENDING_CAP_REACHED',
          `--max-spend ${f(options.maxSpend)} paid for ${written} of ${chunks} chunks`,
        )
      }
      if (summary?.reason === 'deposit_exhausted') {
        throw new TrickleError(
          'SPENDING_CAP_REACHED',
          `the channel's deposit ran out after ${written} of ${chunks} chunks`,
        )
      }
      throw new TrickleError(
        'SESSION_CLOSED',
        `session ended (${summary?.reason ?? 'connection lost'}) after ${written} of ${chunks} chunks`,
      )
    }
    return result
  } finally {
    // chunks that were paid for are kept; a buy that delivered nothing leaves --out as it was
    await output.close(written > 0)
  }
}

/**
 * The channel's deposit, cumulative amount and challenge period after a session, for the stop report;
 * nothing when the chain cannot be read (the report then leaves those lines out).
 */
async function channelAfter(
  conn: Connection,
  channelId: Hex,
  summary: SessionSummary | undefined,
): Promise<Pick<StopState, 'channel'>> {
  try {
    const view = await conn.client.channel(channelId)
    const challengePeriod = await channelsAt(conn.client.config.channels, conn.provider).challengePeriod()
    const cumulative = summary?.cumulativeAmount ?? view.claimed
    return { channel: { deposit: view.deposit, cumulative, challengePeriod } }
  } catch {
    return {}
  }
}

function asCode(code: string): ErrorCode {
  return isErrorCode(code) ? code : 'INTERNAL'
}

/** One line on what a history range holds, e.g. `history: 100 readings recorded 2026-12-02T10:00:00.000Z … 10:59:59.000Z`. */
function describeRange(
  held: { count: number; from: number; to: number; live: boolean },
  chunks: number,
): string {
  const span =
    held.count === 0
      ? 'none recorded yet'
      : `recorded ${new Date(held.from).toISOString()} … ${new Date(held.to).toISOString()}`
  const what = `history: ${held.count} reading${held.count === 1 ? '' : 's'} ${span}`
  if (held.live) return `${what}, then live readings, ${chunks} chunks in all`
  return chunks < held.count ? `${what}; buying the first ${chunks}` : what
}
