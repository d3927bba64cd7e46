import { request } from 'node:http'
import { connect, type Socket } from 'node:net'
import { decodeFrame, encodeFrame, type Frame } from '@trickle/protocol'
import WebSocket from 'ws'

/**
 * Hostile clients for transport tests. Each binds its own loopback source address (`127.0.0.N`: Linux
 * routes all of 127/8 to `lo`), so that a seller's per-address limits see it as another client than
 * the honest ones on 127.0.0.1.
 */

/** A WebSocket client from `localAddress` that records every frame and how the socket closed. */
export interface HostileSocket {
  ws: WebSocket
  frames: Frame[]
  closed: Promise<{ code: number; reason: string }>
  /** resolves with the first frame of that type, or rejects once the socket closed without one */
  next<T extends Frame['t']>(type: T, timeoutMs?: number): Promise<Extract<Frame, { t: T }>>
}

/**
 * Opens a WebSocket to `url` from `localAddress`.
 * @param read - false: never read the socket (its receive buffer fills, then the seller's send buffer)
 * @throws Error when the upgrade is refused (`Unexpected server response: <status>`)
 */
export async function openSocket(url: string, localAddress: string, read = true): Promise<HostileSocket> {
  const ws = new WebSocket(url, { localAddress, perMessageDeflate: false })
  await new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  ws.on('error', () => undefined)
  const frames: Frame[] = []
  if (read) ws.on('message', (data: Buffer) => frames.push(decodeFrame(data)))
  else (ws as unknown as { _socket: Socket })._socket.pause()
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  )
  let isClosed = false
  void closed.then(() => {
    isClosed = true
  })
  return {
    ws,
    frames,
    closed,
    async next(type, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const found = frames.find((f) => f.t === type)
        if (found) return found as never
        if (isClosed) throw new Error(`closed before a ${type} frame: ${JSON.stringify(frames.slice(-3))}`)
        if (Date.now() > deadline) throw new Error(`no ${type} frame within ${timeoutMs} ms`)
        await new Promise((r) => setTimeout(r, 10))
      }
    },
  }
}

/** Why an upgrade attempt from `localAddress` failed, e.g. `Unexpected server response: 429`. */
export async function refusedUpgrade(url: string, localAddress: string): Promise<string> {
  try {
    const socket = await openSocket(url, localAddress)
    socket.ws.terminate()
    return 'accepted'
  } catch (err) {
    return (err as Error).message
  }
}

/**
 * Sends `ping`s as fast as the socket takes them (keeping the client's own send buffer under 1 MiB),
 * until `max` are sent or the socket closes.
 * @returns pings sent
 */
export async function floodPings(ws: WebSocket, max: number, batch = 2_000): Promise<number> {
  let sent = 0
  while (sent < max && ws.readyState === WebSocket.OPEN) {
    if (ws.bufferedAmount > 1024 * 1024) {
      await new Promise((r) => setTimeout(r, 2))
      continue
    }
    for (let i = 0; i < batch && sent < max; i++) ws.send(encodeFrame({ t: 'ping', n: ++sent }))
    await new Promise((r) => setImmediate(r))
  }
  return sent
}

/** A TCP connection that sends nothing: what it received and when it was closed. */
export interface SilentConnection {
  socket: Socket
  /** bytes the server sent (e.g. an HTTP 408 or 429 answer) */
  received: () => string
  /** resolves with ms from connect to close */
  closed: Promise<number>
}

/** Opens a TCP connection to `port` on 127.0.0.1 from `localAddress` and sends nothing. */
export async function silentConnection(port: number, localAddress: string): Promise<SilentConnection> {
  const socket = connect({ host: '127.0.0.1', port, localAddress })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  socket.on('error', () => undefined)
  const started = Date.now()
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - started)))
  return { socket, received: () => Buffer.concat(chunks).toString('latin1'), closed }
}

/** One plain HTTP request with any method (fetch refuses TRACE), from 127.0.0.1. */
export function httpRequest(
  url: string,
  method: string,
  headers: Record<string, string> = {},
  localAddress?: string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const options = { method, headers, agent: false, ...(localAddress ? { localAddress } : {}) }
    const req = request(url, options, (res) => {
      const body: Buffer[] = []
      res.on('data', (part: Buffer) => body.push(part))
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(body) }),
      )
    })
    req.on('error', reject)
    req.setTimeout(20_000, () => req.destroy(new Error(`${method} ${url} timed out`)))
    req.end()
  })
}

/** Polls `GET /health` every `everyMs` until stopped: the statuses and latencies (ms) seen. */
export function probeHealth(httpUrl: string, everyMs = 100) {
  const statuses: (number | string)[] = []
  const latencies: number[] = []
  let running = true
  const done = (async () => {
    while (running) {
      const started = performance.now()
      try {
        const res = await fetch(`${httpUrl}/health`, { signal: AbortSignal.timeout(20_000) })
        await res.arrayBuffer()
        statuses.push(res.status)
      } catch (err) {
        statuses.push((err as Error).message)
      }
      latencies.push(performance.now() - started)
      await new Promise((r) => setTimeout(r, everyMs))
    }
  })()
  return {
    statuses,
    latencies,
    async stop() {
      running = false
      await done
    },
  }
}
