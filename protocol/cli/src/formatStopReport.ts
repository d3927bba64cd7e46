import type { Hex } from '@trickle/protocol'
import { type AmountFormat, amountArgument, formatAmount } from './formatAmount.ts'
import { formatDuration } from './formatDuration.ts'
import { quoteArgument } from './quoteArgument.ts'

/** How a `trickle buy` session ended, and the channel it leaves behind. */
export interface StopState {
  productId: bigint
  channelId: Hex
  /** `interrupted` (Ctrl-C), `done`, or the session's close reason */
  ended: string
  /** chunks written to the output */
  written: number
  /** chunks asked for */
  chunks: number
  /** wei per chunk */
  price: bigint
  /** wei signed for in this session */
  paid: bigint
  /** wei the session was allowed to spend */
  maxSpend: bigint
  /** --out as given (`-` for stdout) */
  out: string
  /** the global flags as given (`--config x`), so the printed commands reach the same marketplace */
  globalArgs: readonly string[]
  /** the channel after the session; absent when it could not be read */
  channel?: {
    /** wei */
    deposit: bigint
    /** the channel's cumulative amount signed to the seller after this session, wei */
    cumulative: bigint
    /** StreamChannels' challenge period, seconds */
    challengePeriod: bigint
  }
}

/**
 * What a person needs once `trickle buy` has stopped: what was paid, what stays locked in the channel,
 * and the exact commands to resume (`trickle buy … --channel <id>`, appending to the same output) or to
 * get the refund (`trickle close`, then `trickle finalize` after the challenge period). Pure.
 *
 * The resume cap is what is left of `--max-spend`, or the price of the missing chunks when the cap is
 * spent; a top-up command is added when the channel cannot pay for them.
 *
 * @returns lines without newlines, for stderr
 */
export function formatStopReport(s: StopState, format: AmountFormat = {}): string[] {
  const f = (wei: bigint) => formatAmount(wei, format)
  const cmd = (...args: string[]) => ['trickle', ...s.globalArgs, ...args].map(quoteArgument).join(' ')
  const how =
    s.ended === 'interrupted' ? 'stopped (Ctrl-C)' : s.ended === 'done' ? 'done' : `ended (${s.ended})`
  const lines = [`${how} after ${s.written} of ${s.chunks} chunks; channel ${s.channelId}`]
  lines.push(`paid      ${f(s.paid)} in this session`)
  const missing = s.chunks - s.written
  const c = s.channel
  let locked: bigint | undefined
  if (c) {
    locked = c.deposit - c.cumulative
    lines.push(
      `locked    ${f(locked)} still yours in the channel (deposit ${f(c.deposit)}, ` +
        `${f(c.cumulative)} signed to the seller)`,
    )
  }
  if (missing > 0) {
    const cost = s.price * BigInt(missing)
    const left = s.maxSpend - s.paid
    const cap = left >= s.price ? left : cost
    if (locked !== undefined && locked < cost && cap > locked) {
      const topUp = (cap < cost ? cap : cost) - locked
      lines.push(`top up    ${cmd('topup', s.channelId, amountArgument(topUp, format.units))}`)
    }
    const args = [
      'buy',
      s.productId.toString(),
      '--channel',
      s.channelId,
      '--chunks',
      String(missing),
      '--max-spend',
      amountArgument(cap, format.units),
      '--out',
      '-',
    ]
    lines.push(`resume    ${cmd(...args)}${s.out === '-' ? '' : ` >> ${quoteArgument(s.out)}`}`)
  }
  const period = c ? `the ${formatDuration(c.challengePeriod)} challenge period` : 'the challenge period'
  lines.push(`refund    ${cmd('close', s.channelId)}`)
  lines.push(`          then, after ${period}, ${cmd('finalize', s.channelId)}`)
  return lines
}
