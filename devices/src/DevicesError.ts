import { BaseError } from '@trickle/errors'

/**
 * Stable error codes raised by `@trickle/devices`. Match on these, not on `instanceof`: errors cross
 * process boundaries (CLI exit messages, logs, the seller server's data sources).
 *
 * - `CSV_MALFORMED`: the Air Quality CSV has a bad header, date, time or cell.
 * - `CSV_READ_FAILED`: the CSV file could not be read from disk.
 * - `READING_MALFORMED`: a sensor reading payload is not valid JSON or a field is invalid.
 * - `BROKER_START_FAILED`: the embedded broker could not listen (port in use, bad host).
 * - `BROKER_ERROR`: the MQTT connection reported an error (refused, reset, timeout); reported to
 *   `onError`, never thrown.
 * - `PUBLISH_FAILED`: a publish was not accepted by the client; reported to `onError`.
 * - `REPLAYER_OPTIONS_INVALID`: a replayer option is out of range.
 * - `REPLAYER_CONNECT_FAILED`: the replayer's first connection did not succeed in time.
 */
export type DevicesErrorCode =
  | 'CSV_MALFORMED'
  | 'CSV_READ_FAILED'
  | 'READING_MALFORMED'
  | 'BROKER_START_FAILED'
  | 'BROKER_ERROR'
  | 'PUBLISH_FAILED'
  | 'REPLAYER_OPTIONS_INVALID'
  | 'REPLAYER_CONNECT_FAILED'

/** Extra context carried by a {@link DevicesError}. */
export type DevicesErrorOptions = {
  /** Machine-readable facts about the failure (line number, column, field, option, path, port…). */
  facts?: Record<string, unknown>
  /** Extra context for humans, appended to the message in parentheses (as every Trickle error does). */
  details?: string
  /** The underlying error, if any. */
  cause?: unknown
}

/**
 * The one error class of `@trickle/devices`: `@trickle/errors`' {@link BaseError} with the code
 * narrowed to {@link DevicesErrorCode}, so it has `code`, `shortMessage`, `details` (a string, as on
 * every Trickle error), `cause` and `walk()`. The machine-readable facts of the failure (line, column,
 * field, option…) are in `facts`. The message keeps the code in front, `CSV_MALFORMED: line 3, …`,
 * because the replayer and the CLI print it as is.
 *
 * @example
 * ```ts
 * import { isDevicesError, parseAirQualityCsv } from '@trickle/devices'
 *
 * try {
 *   parseAirQualityCsv('Date;Time\n')
 * } catch (err) {
 *   if (isDevicesError(err) && err.code === 'CSV_MALFORMED') console.error(err.facts)
 * }
 * ```
 */
export class DevicesError extends BaseError<DevicesErrorCode> {
  override name = 'DevicesError'
  /** Machine-readable facts about the failure; empty when there are none. */
  readonly facts: Readonly<Record<string, unknown>>

  /**
   * @param code - stable error code
   * @param shortMessage - human-readable description, without the code
   * @param options - `facts`, `details` and `cause`
   */
  constructor(code: DevicesErrorCode, shortMessage: string, options: DevicesErrorOptions = {}) {
    const { facts = {}, ...base } = options
    super(code, shortMessage, base)
    this.message = `${code}: ${this.message}`
    this.facts = facts
  }
}

/**
 * Tells whether a value is a {@link DevicesError} (or looks like one after crossing a boundary).
 *
 * @param err - any caught value
 * @returns true if `err` has `name === 'DevicesError'` and a string `code`
 */
export function isDevicesError(err: unknown): err is DevicesError {
  return (
    err instanceof DevicesError ||
    (typeof err === 'object' &&
      err !== null &&
      (err as { name?: unknown }).name === 'DevicesError' &&
      typeof (err as { code?: unknown }).code === 'string')
  )
}
