import { TrickleError } from '@trickle/protocol'

/**
 * Runs `run` unless `signal` is already aborted, and rejects with `ABORTED` as soon as it aborts. The
 * work `run` started is not undone: a transaction already sent may still be mined.
 *
 * @param signal - the caller's signal, if any
 * @param what - what is aborted, for the message
 * @param run - the work
 * @throws TrickleError `ABORTED`, or whatever `run` throws
 */
export function abortable<T>(
  signal: AbortSignal | undefined,
  what: string,
  run: () => Promise<T>,
): Promise<T> {
  if (!signal) return run()
  if (signal.aborted) return Promise.reject(new TrickleError('ABORTED', `${what} was aborted`))
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new TrickleError('ABORTED', `${what} was aborted`))
    signal.addEventListener('abort', onAbort, { once: true })
    run().then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(err)
      },
    )
  })
}

/**
 * Waits `ms`, or rejects with `ABORTED` when `signal` aborts first.
 * @param ms - milliseconds
 * @throws TrickleError `ABORTED`
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return abortable(signal, 'waiting', () => new Promise((resolve) => setTimeout(resolve, ms)))
}
