import { TrickleError } from '@trickle/protocol'

/**
 * Runs an RPC call (or a transaction and its wait) whose failure means the chain could not be used:
 * what ethers throws becomes TrickleError `CHAIN_UNAVAILABLE` ("could not `what`"), ethers' error its
 * `cause`. A TrickleError thrown inside keeps its code.
 *
 * @param what - what was attempted, for the message, e.g. `read the latest block`
 * @returns what `call` resolves to
 * @throws TrickleError `CHAIN_UNAVAILABLE`, or the code of a TrickleError `call` threw
 */
export async function fromChain<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (cause) {
    if (cause instanceof TrickleError) throw cause
    throw new TrickleError('CHAIN_UNAVAILABLE', `could not ${what}`, { cause })
  }
}
