import { availableParallelism } from 'node:os'
import { type Address, cryptoBackend, type Hex, recoverDigestSigner, TrickleError } from '@trickle/protocol'
import { Piscina } from 'piscina'
import type { nativeCrypto } from './nativeCrypto.ts'
import type { RecoverTask } from './receiptVerifierWorker.ts'

/** Recovers receipt signers off the event loop. */
export interface ReceiptVerifier {
  /**
   * @param digest - the receipt's EIP-712 digest (32 bytes)
   * @param signature - 65-byte `r ‖ s ‖ v`, already checked for form (`parseReceiptSignature`)
   * @returns the address the signature recovers to
   * @throws TrickleError `RECEIPT_BAD_SIGNATURE` when it does not recover
   */
  recover(digest: Hex, signature: Hex): Promise<Address>
  /** Stops the workers once the queued recoveries are done. */
  close(): Promise<void>
}

/**
 * How many worker threads a seller should recover receipt signers in: none when libsecp256k1 does
 * the recovery (the crypto backend in use is {@link nativeCrypto}'s; ~60 µs, less than a round trip
 * to a worker thread costs), else one less than the cores, at least 1 (pure-JS recovery, ~1.7 ms,
 * would stall the event loop).
 * @returns threads (0: recover inline on the event loop)
 */
export function defaultVerifierThreads(): number {
  return cryptoBackend().name === 'libsecp256k1' ? 0 : Math.max(1, availableParallelism() - 1)
}

/** Options of {@link startReceiptVerifier}. */
export interface ReceiptVerifierOptions {
  /** worker threads; default one less than the cores, at least 1 */
  threads?: number
}

/**
 * Starts a pool of worker threads (piscina) that recover receipt signers, so that a seller's event
 * loop keeps sending chunks during the ~2 ms each recovery takes in pure JS. One thread is started
 * at once (the first receipt does not wait for a worker to boot); the others start under load.
 * Should the pool fail, a recovery runs on the calling thread instead.
 *
 * @throws TrickleError `INVALID_ARGUMENT` when `threads` is not a positive integer
 */
export function startReceiptVerifier(options: ReceiptVerifierOptions = {}): ReceiptVerifier {
  const threads = options.threads ?? Math.max(1, availableParallelism() - 1)
  if (!Number.isSafeInteger(threads) || threads < 1) {
    throw new TrickleError('INVALID_ARGUMENT', `verifier threads must be a positive integer, not ${threads}`)
  }
  const pool = new Piscina<RecoverTask, { address: string } | { error: string }>({
    filename: new URL('./receiptVerifierWorker.ts', import.meta.url).href,
    minThreads: 1,
    maxThreads: threads,
    idleTimeout: 30_000,
  })
  return {
    async recover(digest, signature) {
      let result: Awaited<ReturnType<typeof pool.run>>
      try {
        result = await pool.run({ digest, signature })
      } catch {
        // The pool itself failed (a worker crashed, the pool is closing): the receipt is still money,
        // so recover it here rather than lose it.
        return recoverDigestSigner(digest, signature)
      }
      if ('error' in result) {
        // What ethers said stays in the details: the buyer is told the short message only.
        throw new TrickleError('RECEIPT_BAD_SIGNATURE', 'receipt signature does not recover', {
          details: result.error,
        })
      }
      return result.address as Address
    },
    async close() {
      await pool.close()
    },
  }
}
