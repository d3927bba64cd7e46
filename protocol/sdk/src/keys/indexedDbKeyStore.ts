import type { Hex } from '@trickle/protocol'
import { TrickleError } from '@trickle/protocol'
import type { SessionKeyStore } from './sessionKeyStore.ts'

/** The parts of the browser's IndexedDB API this store uses (the SDK compiles without the DOM lib). */
interface IdbRequest<T> {
  result: T
  error: unknown
  onsuccess: (() => void) | null
  onerror: (() => void) | null
}
interface IdbOpenRequest extends IdbRequest<IdbDatabase> {
  onupgradeneeded: (() => void) | null
}
interface IdbDatabase {
  objectStoreNames: { contains(name: string): boolean }
  createObjectStore(name: string): unknown
  transaction(
    store: string,
    mode: 'readonly' | 'readwrite',
  ): {
    objectStore(name: string): {
      get(key: string): IdbRequest<unknown>
      put(value: unknown, key: string): IdbRequest<unknown>
    }
  }
}
interface IdbFactory {
  open(name: string, version?: number): IdbOpenRequest
}

const STORE = 'sessionKeys'

/** Resolves a request's result. */
function done<T>(request: IdbRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result)
    request.onerror = () => reject(request.error)
  })
}

/**
 * A {@link SessionKeyStore} in the browser's IndexedDB (database `databaseName`, object store
 * `sessionKeys`), so a reloaded page resumes its channels. Keys are stored as they are (IndexedDB is
 * private to the page's origin); use it for channels holding what the origin may spend.
 *
 * @param databaseName - IndexedDB database name (default `trickle`)
 * @param factory - the IndexedDB factory (default `globalThis.indexedDB`)
 * @throws TrickleError `INVALID_ARGUMENT` when no IndexedDB is available; on use, `INTERNAL` when the
 *   database cannot be opened or written
 */
export function indexedDbKeyStore(databaseName = 'trickle', factory?: unknown): SessionKeyStore {
  const idb = (factory ?? (globalThis as { indexedDB?: unknown }).indexedDB) as IdbFactory | undefined
  if (!idb) throw new TrickleError('INVALID_ARGUMENT', 'indexedDB is not available here')
  let db: Promise<IdbDatabase> | undefined
  const open = () => {
    db ??= new Promise<IdbDatabase>((resolve, reject) => {
      const request = idb.open(databaseName, 1)
      request.onupgradeneeded = () => {
        if (!request.result.objectStoreNames.contains(STORE)) request.result.createObjectStore(STORE)
      }
      done(request).then(resolve, reject)
    }).catch((cause: unknown) => {
      db = undefined
      throw new TrickleError('INTERNAL', `cannot open IndexedDB database ${databaseName}`, { cause })
    })
    return db
  }
  return {
    async get(channelKey) {
      const store = (await open()).transaction(STORE, 'readonly').objectStore(STORE)
      const value = await done(store.get(channelKey))
      return typeof value === 'string' ? (value as Hex) : undefined
    },
    async set(channelKey, privateKey) {
      const store = (await open()).transaction(STORE, 'readwrite').objectStore(STORE)
      await done(store.put(privateKey, channelKey))
    },
  }
}
