import { createServer, type Socket } from 'node:net'
import { Aedes } from 'aedes'
import { DevicesError } from './DevicesError.ts'

/** Options of {@link startBroker}. */
export type BrokerOptions = {
  /** Interface to listen on; default `127.0.0.1` (loopback only). */
  host?: string
  /** TCP port; default `0`, a free port chosen by the OS. */
  port?: number
}

/** A running embedded MQTT broker. */
export type EmbeddedBroker = {
  /** URL for MQTT clients, e.g. `mqtt://127.0.0.1:1883`. */
  readonly url: string
  /** The TCP port actually bound. */
  readonly port: number
  /** Disconnects all clients, stops aedes and the TCP server. Idempotent; never rejects. */
  close(): Promise<void>
}

/**
 * Starts an in-process MQTT 3.1.1/5 broker (aedes) on a `node:net` TCP server. It keeps no
 * persistence: retained messages and sessions live in memory until `close()`.
 *
 * @param options - `host` (default `127.0.0.1`) and `port` (default `0` = any free port)
 * @returns the running broker, once it is listening
 * @throws DevicesError `BROKER_START_FAILED` if the server cannot listen (port in use, bad host)
 */
export async function startBroker(options: BrokerOptions = {}): Promise<EmbeddedBroker> {
  const host = options.host ?? '127.0.0.1'
  const requestedPort = options.port ?? 0
  if (!Number.isInteger(requestedPort) || requestedPort < 0 || requestedPort > 65535) {
    throw new DevicesError('BROKER_START_FAILED', `invalid port ${requestedPort}`, {
      facts: { host, port: requestedPort },
    })
  }
  const aedes = await Aedes.createBroker()
  // A misbehaving client must not take the broker (or the process) down.
  aedes.on('clientError', () => {})
  aedes.on('connectionError', () => {})
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    aedes.handle(socket)
  })
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(requestedPort, host, () => {
        server.off('error', reject)
        resolve()
      })
    })
  } catch (cause) {
    await new Promise<void>((resolve) => aedes.close(() => resolve()))
    throw new DevicesError('BROKER_START_FAILED', `cannot listen on ${host}:${requestedPort}`, {
      facts: { host, port: requestedPort },
      cause,
    })
  }
  server.on('error', () => {})
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : requestedPort
  let closing: Promise<void> | undefined
  return {
    url: `mqtt://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close() {
      closing ??= (async () => {
        const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()))
        await new Promise<void>((resolve) => aedes.close(() => resolve()))
        for (const socket of sockets) socket.destroy()
        await serverClosed
      })()
      return closing
    },
  }
}
