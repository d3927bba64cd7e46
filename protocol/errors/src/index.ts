/**
 * `@trickle/errors`: the one base error every Trickle package throws, after viem's `BaseError`. Each
 * package narrows the code to its own string-literal union (`TrickleError` in `@trickle/protocol`,
 * `ContractsError` in `@trickle/contracts`, `DevicesError` in `@trickle/devices`), so callers match on
 * `code` — never on `instanceof`, because errors cross process, worker and realm boundaries.
 *
 * @example
 * ```ts
 * import { BaseError, hasCode } from '@trickle/errors'
 *
 * const cause = new Error('ECONNREFUSED 127.0.0.1:8545')
 * const err = new BaseError('CHAIN_UNAVAILABLE', 'the chain RPC is not answering', { details: 'eth_call', cause })
 * console.log(err.message) // "the chain RPC is not answering (eth_call)"
 * console.log(hasCode(err, 'CHAIN_UNAVAILABLE'), err.walk() === cause) // true true
 * ```
 *
 * @packageDocumentation
 */

/** Options of {@link BaseError}. */
export interface BaseErrorOptions {
  /** Extra context for humans (a field name, a transaction hash, a process's stderr). */
  details?: string
  /** The underlying error, kept as it was thrown. */
  cause?: unknown
}

/**
 * The base of every Trickle error: a stable machine-readable `code`, a one-line `shortMessage`,
 * optional `details` and the underlying `cause`.
 *
 * @typeParam C - the package's code union
 */
export class BaseError<C extends string = string> extends Error {
  override name = 'TrickleError'
  /** Stable code; match on this. */
  readonly code: C
  /** One sentence for humans, without details. */
  readonly shortMessage: string
  /** Extra context, if any. */
  readonly details: string | undefined

  /**
   * @param code - stable error code
   * @param shortMessage - one sentence for humans
   * @param options - `details` and `cause`
   */
  constructor(code: C, shortMessage: string, options: BaseErrorOptions = {}) {
    super(options.details ? `${shortMessage} (${options.details})` : shortMessage, { cause: options.cause })
    this.code = code
    this.shortMessage = shortMessage
    this.details = options.details
  }

  /**
   * Walks the `cause` chain, as viem's `BaseError.walk`.
   *
   * @param match - stops at the first error in the chain (this one included) for which it returns true
   * @returns the first match, or `null` when nothing matches; without `match`, the innermost cause
   */
  walk(match?: (err: unknown) => boolean): unknown {
    let err: unknown = this
    for (let depth = 0; depth < 32; depth++) {
      if (match?.(err)) return err
      const next = typeof err === 'object' && err !== null ? (err as { cause?: unknown }).cause : undefined
      if (next === undefined || next === null) return match ? null : err
      err = next
    }
    return match ? null : err
  }
}

/**
 * Whether `err` carries the stable `code` (any Trickle error, also one that crossed a worker or
 * process boundary as a plain object).
 *
 * @param err - anything caught
 * @param code - the code to look for
 */
export function hasCode<C extends string>(err: unknown, code: C): err is { code: C } {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code
}

/**
 * The `code` of a caught value, if it has a string one.
 *
 * @param err - anything caught
 * @returns the code, or `undefined`
 */
export function errorCode(err: unknown): string | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined
  return typeof code === 'string' ? code : undefined
}
