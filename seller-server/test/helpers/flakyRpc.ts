import { createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One JSON-RPC call as the proxy sees it. */
export interface RpcCall {
  method: string
  params: unknown[]
}

/** A JSON-RPC proxy in front of anvil that answers HTTP 503 to the calls a test chooses to fail. */
export interface FlakyRpc {
  url: string
  /** methods that currently fail; `*` fails every call */
  failing: Set<string>
  /** fails the calls it returns true for, too (e.g. `eth_call`s of one contract function) */
  failWhen: ((call: RpcCall) => boolean) | undefined
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
  const state: FlakyRpc = {
    url: '',
    failing: new Set(),
    failWhen: undefined,
    failures: 0,
    calls: [],
    close: async () => {},
  }
  const server = createServer((req, res) => {
    const body: Buffer[] = []
    req.on('data', (part: Buffer) => body.push(part))
    req.on('end', () => {
      const raw = Buffer.concat(body)
      const parsed = JSON.parse(raw.toString('utf8')) as RpcCall | RpcCall[]
      const calls = Array.isArray(parsed) ? parsed : [parsed]
      const methods = calls.map((call) => call.method)
      state.calls.push(...methods)
      const fails = (call: RpcCall) =>
        state.failing.has(call.method) || state.failing.has('*') || state.failWhen?.(call) === true
      if (calls.some(fails)) {
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
