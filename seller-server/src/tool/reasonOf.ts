/** The innermost message of an error chain, e.g. `connect ECONNREFUSED 127.0.0.1:1883`. */
export function reasonOf(err: unknown): string {
  let e = err as { cause?: unknown; message?: string; shortMessage?: string; code?: unknown }
  let reason = e.shortMessage ?? e.message ?? String(err)
  for (let depth = 0; depth < 8 && e?.cause; depth++) {
    e = e.cause as typeof e
    reason = e.shortMessage ?? e.message ?? reason
  }
  return reason
}
