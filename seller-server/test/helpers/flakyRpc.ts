import { createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'

/** A JSON-RPC proxy in front of anvil that answers HTTP 503 to the methods a test chooses to fail. */
export interface FlakyRpc {
  url: string
  /** methods that currently fail; `*` fails every call */
  failing: Set<string>
  /** calls answered with 503 so far */
  failures: number
  /** every method forwarded or failed, in order */
  calls: string[]
  close(): Promise<void>
}

/**
 * Starts the proxy on 127.0.0.1. A real RPC endpoint that drops requests is outside the seller's
 * control, so this stands in for it; the chain behind it is real.
 * @param target - the upstream JSON-RPC URL (anvil)
 */
export async function startFlakyRpc(target: string): Promise<FlakyRpc> {
  const upstream = new URL(target)
  const state: FlakyRpc = { url: '', failing: new Set(), failures: 0, calls: [], close: async () => {} }
  const server = createServer((req, res) => {
    const body: Buffer[] = []
    req.on('data', (part: Buffer) => body.push(part))
    req.on('end', () => {
      const raw = Buffer.concat(body)
      const parsed = JSON.parse(raw.toString('utf8')) as { method: string } | { method: string }[]
      const methods = (Array.isArray(parsed) ? parsed : [parsed]).map((call) => call.method)
      state.calls.push(...methods)
      if (methods.some((m) => state.failing.has(m) || state.failing.has('*'))) {
        state.failures++
        res.writeHead(503, { 'content-type': 'text/plain' }).end('upstream unavailable')
        return
      }
      const forward = request(
        upstream,
        { method: 'POST', headers: { 'content-type': 'application/json' } },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, { 'content-type': 'application/json' })
          answer.pipe(res)
        },
      )
      forward.on('error', () => res.writeHead(502).end())
      forward.end(raw)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  return state
}
