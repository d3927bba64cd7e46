import { BaseError, type BaseErrorOptions } from '@trickle/errors'

/**
 * Stable codes of {@link SellerToolError}, the `trickle-seller` command's own failures (the seller's
 * `TrickleError` codes pass through unchanged):
 * - `CONFIG_INVALID`: the config file cannot be read, is not YAML/JSON, or a field is wrong (the
 *   message names the file, line, column and field);
 * - `KEY_UNSAFE`: a private key is written in the config, or a key file others can read;
 * - `KEY_UNAVAILABLE`: a key file or keystore cannot be read or opened (missing password variable,
 *   wrong password);
 * - `SERVICE_RUNNING`: the service of this data directory runs, and the command must not run beside
 *   it (a second `start`; `deactivate`, whose transaction would race its claims);
 * - `PRODUCT_NOT_FOUND`: no product of this payee has that key or id.
 */
export const SELLER_TOOL_ERROR_CODES = [
  'CONFIG_INVALID',
  'KEY_UNSAFE',
  'KEY_UNAVAILABLE',
  'SERVICE_RUNNING',
  'PRODUCT_NOT_FOUND',
] as const

/** One of {@link SELLER_TOOL_ERROR_CODES}. */
export type SellerToolErrorCode = (typeof SELLER_TOOL_ERROR_CODES)[number]

/** Codes that mean the command was called wrongly or configured wrongly: exit status 2. */
export const USAGE_CODES: ReadonlySet<string> = new Set(['CONFIG_INVALID', 'KEY_UNSAFE', 'KEY_UNAVAILABLE'])

/** The error class of the `trickle-seller` command: `@trickle/errors`' {@link BaseError}. */
export class SellerToolError extends BaseError<SellerToolErrorCode> {
  override name = 'SellerToolError'

  /**
   * @param code - stable error code
   * @param shortMessage - one line for people
   * @param options - `details` and `cause`
   */
  constructor(code: SellerToolErrorCode, shortMessage: string, options: BaseErrorOptions = {}) {
    super(code, shortMessage, options)
  }
}
