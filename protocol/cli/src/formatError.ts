import { isErrorCode } from '@trickle/protocol'

/**
 * The stderr line of a failed command: `error <CODE>: <message>`. The code is the error's own when it
 * is a Trickle {@link ErrorCode} (matched by shape, not `instanceof`), `INTERNAL` otherwise.
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
  return `error ${code}: ${message}`
}
