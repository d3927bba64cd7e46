/**
 * A minimal typed event emitter (no `node:events`, so it runs in browsers): `on` returns a function
 * that removes the listener. A listener that throws does not stop the others or the emitter's caller;
 * its error is reported with `reportError` where the platform has it.
 *
 * @typeParam Events - event name → payload type
 */
export class TypedEmitter<Events extends { [K in keyof Events]: unknown }> {
  private readonly listeners = new Map<keyof Events, Set<(payload: never) => void>>()

  /**
   * Calls `listener` with every `event` emitted until the returned function is called.
   * @returns removes the listener
   */
  on<K extends keyof Events>(event: K, listener: (payload: Events[K]) => void): () => void {
    let set = this.listeners.get(event)
    if (!set) {
      set = new Set()
      this.listeners.set(event, set)
    }
    set.add(listener as (payload: never) => void)
    return () => this.off(event, listener)
  }

  /** Removes a listener added with {@link on}. */
  off<K extends keyof Events>(event: K, listener: (payload: Events[K]) => void): void {
    this.listeners.get(event)?.delete(listener as (payload: never) => void)
  }

  /** Calls every listener of `event` with `payload`, in the order they were added. */
  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) {
      try {
        ;(listener as (p: Events[K]) => void)(payload)
      } catch (err) {
        ;(globalThis as { reportError?: (e: unknown) => void }).reportError?.(err)
      }
    }
  }
}
