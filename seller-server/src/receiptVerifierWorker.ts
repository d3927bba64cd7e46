/**
 * Worker-thread body of {@link startReceiptVerifier}: one secp256k1 public-key recovery per task.
 * Imports ethers only, so a worker starts in a few hundred ms.
 */
import { recoverAddress } from 'ethers'

/** A task: the receipt digest (EIP-712) and its 65-byte signature, both `0x` hex. */
export interface RecoverTask {
  digest: string
  signature: string
}

/**
 * @returns the checksummed address, or `{ error }` when the signature does not recover (errors are
 *   returned, not thrown, so their message crosses the thread boundary unchanged)
 */
export default function recover(task: RecoverTask): { address: string } | { error: string } {
  try {
    return { address: recoverAddress(task.digest, task.signature) }
  } catch (err) {
    return { error: (err as Error).message }
  }
}
