import { createHash } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type Hex, TrickleError } from '@trickle/protocol'

/** Bounds of a {@link ModuleStore}. */
export interface ModuleStoreLimits {
  /** modules kept at most; the least recently used go first (default 64) */
  maxModules: number
  /** bytes kept at most (default 256 MiB) */
  maxBytes: number
}

/** Default {@link ModuleStoreLimits}: 64 modules or 256 MiB. */
export const DEFAULT_MODULE_STORE_LIMITS: ModuleStoreLimits = { maxModules: 64, maxBytes: 256 * 1024 ** 2 }

/**
 * Buyers' WebAssembly modules, uploaded before they are quoted and run (`PUT /jobs/modules/<sha256>`),
 * kept by their SHA-256 in `<dir>/<hash>.wasm`, or as uploaded in `<dir>/<hash>.sealed` when they
 * came sealed to the provider (SPEC.md §Jobs, "Sealed jobs": the copy at rest reveals nothing without
 * the terms key). Bounded: the least recently used are deleted past {@link ModuleStoreLimits}. An
 * upload is idempotent.
 */
export interface ModuleStore {
  /**
   * Stores a module under its hash.
   * @param hash - the SHA-256 the uploader named (`0x` + 64 hex)
   * @param bytes - the module
   * @param sealed - the upload `bytes` were opened from, kept at rest instead of them
   * @throws TrickleError `INVALID_ARGUMENT` when the bytes do not hash to `hash`
   */
  put(hash: Hex, bytes: Uint8Array, sealed?: Uint8Array): void
  /** The module's bytes (opened when kept sealed), or undefined when it is not (or no longer) held. */
  get(hash: Hex): Uint8Array | undefined
}

/** SHA-256 of bytes as `0x` hex (Node's OpenSSL). */
export function sha256Of(bytes: Uint8Array): Hex {
  return `0x${createHash('sha256').update(bytes).digest('hex')}` as Hex
}

/**
 * Opens (creating) a module store in `dir`.
 * @param open - opens a module kept sealed (the provider's terms key); without it, sealed uploads
 *   are kept opened
 */
export function openModuleStore(
  dir: string,
  limits: Partial<ModuleStoreLimits> = {},
  open?: (sealed: Uint8Array) => Uint8Array,
): ModuleStore {
  const bounds = { ...DEFAULT_MODULE_STORE_LIMITS, ...limits }
  mkdirSync(dir, { recursive: true })
  const fileOf = (hash: Hex, sealed = false) =>
    join(dir, `${hash.slice(2).toLowerCase()}.${sealed ? 'sealed' : 'wasm'}`)
  /** Deletes the least recently used modules beyond the bounds. */
  const prune = () => {
    const entries = readdirSync(dir)
      .filter((f) => /^[0-9a-f]{64}\.(?:wasm|sealed)$/.test(f))
      .map((f) => {
        const s = statSync(join(dir, f))
        return { f, bytes: s.size, used: s.mtimeMs }
      })
      .sort((a, b) => b.used - a.used)
    let bytes = 0
    for (const [i, e] of entries.entries()) {
      bytes += e.bytes
      if (i >= bounds.maxModules || bytes > bounds.maxBytes) rmSync(join(dir, e.f), { force: true })
    }
  }
  return {
    put(hash, bytes, sealed) {
      if (!/^0x[0-9a-fA-F]{64}$/.test(hash) || sha256Of(bytes) !== hash.toLowerCase()) {
        throw new TrickleError(
          'INVALID_ARGUMENT',
          'the module does not hash to the SHA-256 it was sent under',
        )
      }
      const keepSealed = sealed !== undefined && open !== undefined
      writeFileSync(fileOf(hash, keepSealed), keepSealed ? sealed : bytes)
      rmSync(fileOf(hash, !keepSealed), { force: true })
      prune()
    },
    get(hash) {
      if (!/^0x[0-9a-fA-F]{64}$/.test(hash)) return undefined
      for (const sealed of open ? [false, true] : [false]) {
        const file = fileOf(hash, sealed)
        let bytes: Uint8Array
        try {
          const read = readFileSync(file)
          bytes = new Uint8Array(read.buffer, read.byteOffset, read.byteLength)
        } catch {
          continue
        }
        const now = new Date()
        utimesSync(file, now, now)
        if (!sealed) return bytes
        try {
          const module = open!(bytes)
          // A file altered at rest is no module of this hash.
          return sha256Of(module) === hash.toLowerCase() ? module : undefined
        } catch {
          return undefined
        }
      }
      return undefined
    },
  }
}
