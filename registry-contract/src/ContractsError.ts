import { BaseError, type BaseErrorOptions } from '@trickle/errors'

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
 * The error class of `@trickle/contracts` and `@trickle/devnet`: `@trickle/errors`' {@link BaseError}
 * with the code narrowed to {@link ContractsErrorCode} (`code`, `shortMessage`, `details`, `cause`,
 * `walk()`).
 */
export class ContractsError extends BaseError<ContractsErrorCode> {
  override name = 'ContractsError'

  /**
   * @param code - stable error code
   * @param shortMessage - one-line description
   * @param options - `details` (diagnostic text) and `cause` (the underlying error)
   */
  constructor(code: ContractsErrorCode, shortMessage: string, options: BaseErrorOptions = {}) {
    super(code, shortMessage, options)
  }
}
