import type { Provider } from 'ethers'

/** A provider that can send raw JSON-RPC requests (ethers' `JsonRpcApiProvider` and subclasses). */
interface RawRpc {
  send(method: string, params: unknown[]): Promise<unknown>
}

/**
 * The provider's raw JSON-RPC `send`, when it has one. Duck-typed rather than `instanceof`, so a
 * provider from another copy of ethers works too.
 * @returns `send` bound to the provider, or undefined (e.g. a browser or fallback provider)
 */
export function rpcSend(provider: Provider): RawRpc['send'] | undefined {
  const send = (provider as Partial<RawRpc>).send
  return typeof send === 'function' ? send.bind(provider) : undefined
}
