import { TrickleError } from '@trickle/protocol'

/**
 * A seller's (or provider's) HTTP base URL from its WebSocket endpoint: `ws://host:port/…` →
 * `http://host:port`, `wss:` → `https:` (its `/health`, `/history`, `/jobs`, `/ipfs`).
 * @throws TrickleError `DESCRIPTOR_INVALID` when the endpoint is not a ws:// or wss:// URL
 */
export function httpBaseOf(endpoint: string): string {
  let url: URL
  try {
    url = new URL(endpoint)
  } catch (cause) {
    throw new TrickleError('DESCRIPTOR_INVALID', `the endpoint ${endpoint} is not a URL`, { cause })
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new TrickleError('DESCRIPTOR_INVALID', `the endpoint ${endpoint} is not a ws:// or wss:// URL`)
  }
  return `${url.protocol === 'wss:' ? 'https:' : 'http:'}//${url.host}`
}
