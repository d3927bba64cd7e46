import type { ReceiptStore } from '../../src/receiptStore.ts'

/** A receipt store that fails the methods named in `failing`, and otherwise is the real one. */
export interface FaultyStore {
  store: ReceiptStore
  /** methods that throw now; empty: every call reaches the real store */
  failing: Set<keyof ReceiptStore>
  /** what a failing method rejects with (a fresh error per call) */
  fault: () => unknown
}

/**
 * An error shaped like the ones `node:sqlite` throws (`code` `ERR_SQLITE_ERROR`, SQLite's `errcode`
 * and `errstr`) whose message names a private path: text that belongs in the seller's log and must
 * never reach a buyer.
 */
export function sqliteError(secret: string): Error {
  return Object.assign(new Error(`disk I/O error: cannot write ${secret}/receipts.sqlite-wal`), {
    code: 'ERR_SQLITE_ERROR',
    errcode: 10,
    errstr: 'disk I/O error',
  })
}

/**
 * Wraps a real store: a method in `failing` rejects with `fault()` instead of reaching it. A disk that
 * fails under a running seller is outside the test's control, so this stands in for it.
 */
export function faultyStore(inner: ReceiptStore, fault: () => unknown): FaultyStore {
  const faulty: FaultyStore = { store: inner, failing: new Set(), fault }
  faulty.store = new Proxy(inner, {
    get(target, property) {
      const member: unknown = Reflect.get(target, property)
      if (typeof member !== 'function') return member
      return (...args: unknown[]) => {
        if (faulty.failing.has(property as keyof ReceiptStore)) return Promise.reject(faulty.fault())
        return member.apply(target, args)
      }
    },
  })
  return faulty
}
