/**
 * @packageDocumentation
 * `@trickle/sdk/node`: the parts of the SDK that need Node (a file system). Everything else is in the
 * browser-safe main entry `@trickle/sdk`.
 *
 * @example
 * ```ts
 * import { createTrickle } from '@trickle/sdk'
 * import { fileKeyStore } from '@trickle/sdk/node'
 * const keyStore = fileKeyStore('./.trickle/keys')
 * ```
 */

export { type FileKeyStoreOptions, fileKeyStore } from './node/fileKeyStore.ts'
