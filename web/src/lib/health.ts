/** Whether a seller's server answers right now, from its `GET /health` (CORS-enabled). */
export type Health = 'up' | 'down' | 'checking'

const cache = new Map<string, { at: number; health: Promise<Health> }>()

/**
 * The HTTP health URL of a seller's WebSocket endpoint: `ws://host:port/…` → `http://host:port/health`
 * (`wss` → `https`).
 */
export function healthUrlOf(endpoint: string): string | undefined {
  try {
    const url = new URL(endpoint)
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') return undefined
    return `${url.protocol === 'wss:' ? 'https:' : 'http:'}//${url.host}/health`
  } catch {
    return undefined
  }
}

/**
 * Asks the seller's `/health`, at most once per `maxAgeMs` per endpoint.
 * @param endpoint - the descriptor's `endpoint`
 * @param timeoutMs - ms to wait for an answer
 */
export function checkHealth(endpoint: string, timeoutMs = 3000, maxAgeMs = 10_000): Promise<Health> {
  const url = healthUrlOf(endpoint)
  if (!url) return Promise.resolve('down')
  const hit = cache.get(url)
  if (hit && performance.now() - hit.at < maxAgeMs) return hit.health
  const health = fetch(url, { signal: AbortSignal.timeout(timeoutMs), cache: 'no-store' })
    .then((r): Health => (r.ok ? 'up' : 'down'))
    .catch((): Health => 'down')
  cache.set(url, { at: performance.now(), health })
  return health
}
