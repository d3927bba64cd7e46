/**
 * Stable codes of {@link ContractsError}. Match on these, not on `instanceof`: errors cross process
 * boundaries (the deploy CLI, child processes).
 */
export type ContractsErrorCode =
  | 'ANVIL_NOT_FOUND'
  | 'ANVIL_START_FAILED'
  | 'COMPILE_FAILED'
  | 'ARTIFACT_MISSING'
  | 'DEPLOY_FAILED'
  | 'INVALID_ARGUMENT'

/**
 * The one error class of `@trickle/contracts`, shaped like viem's `BaseError`: a stable `code`, a
 * one-line `shortMessage`, optional `details` (e.g. compiler output, anvil's stderr) and the `cause`.
 */
export class ContractsError extends Error {
  /** Stable machine-readable code. */
  readonly code: ContractsErrorCode
  /** One line, without details. */
  readonly shortMessage: string
  /** Extra diagnostic text, if any (compiler errors, process output). */
  readonly details: string | undefined

  /**
   * @param code - stable error code
   * @param shortMessage - one-line description
   * @param options - `details` (diagnostic text) and `cause` (the underlying error)
   */
  constructor(
    code: ContractsErrorCode,
    shortMessage: string,
    options: { details?: string; cause?: unknown } = {},
  ) {
    super(options.details === undefined ? shortMessage : `${shortMessage}\n\n${options.details}`, {
      cause: options.cause,
    })
    this.name = 'ContractsError'
    this.code = code
    this.shortMessage = shortMessage
    this.details = options.details
  }
}
