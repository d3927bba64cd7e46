import { isErrorCode } from '@trickle/protocol'

/** What could not be reached, by the error code a refused connection surfaces as. */
const REFUSED_PEER: Readonly<Record<string, string>> = {
  CHAIN_UNAVAILABLE: 'the chain’s RPC',
  CONNECTION_FAILED: 'the seller',
  DESCRIPTOR_UNAVAILABLE: 'the IPFS gateway',
}

/**
 * The stderr line of a failed command: `error <CODE>: <message>`. The code is the error's own when it
 * is a Trickle {@link ErrorCode} (matched by shape, not `instanceof`), `INTERNAL` otherwise.
 *
 * When a connection was refused (`ECONNREFUSED` anywhere in the `cause` chain), the line adds that
 * nothing is listening — the marketplace is not running — and how to start the local one; the URL
 * tried is in the message (the SDK names the seller's, {@link connect} the RPC's).
 */
export function formatError(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown; shortMessage?: unknown }
  const code = isErrorCode(e?.code) ? e.code : 'INTERNAL'
  const message =
    typeof e?.shortMessage === 'string' && !isErrorCode(e.code)
      ? e.shortMessage
      : typeof e?.message === 'string'
        ? e.message
        : String(err)
  if (!connectionRefused(err)) return `error ${code}: ${message}`
  const peer = REFUSED_PEER[code] ?? 'the marketplace'
  return (
    `error ${code}: ${message}\n` +
    `  connection refused: ${peer} is not running there — is the marketplace running?\n` +
    '  Start the local one with `npm start` (it writes .trickle/local.json), or point --config at yours.'
  )
}

/** Whether `err` or one of its causes is a refused TCP connection (`ECONNREFUSED`). */
export function connectionRefused(err: unknown): boolean {
  const seen = new Set<unknown>()
  let e: unknown = err
  while (e !== null && typeof e === 'object' && !seen.has(e)) {
    seen.add(e)
    if ((e as { code?: unknown }).code === 'ECONNREFUSED') return true
    e = (e as { cause?: unknown }).cause
  }
  return false
}
