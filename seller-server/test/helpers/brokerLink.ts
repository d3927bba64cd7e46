import { type AddressInfo, connect, createServer, type Socket } from 'node:net'

/** A TCP link to an MQTT broker that a test can cut, as a network outage or a broker restart would. */
export interface BrokerLink {
  /** `mqtt://127.0.0.1:<port>`: connect here instead of to the broker */
  url: string
  /** Drops every connection through the link and refuses new ones until {@link BrokerLink.restore}. */
  cut(): void
  /** Lets connections through again. */
  restore(): void
  close(): Promise<void>
}

/**
 * Starts a TCP relay on 127.0.0.1 in front of a broker. A broker that goes away under a running
 * seller is outside the test's control, so this stands in for the network; the broker behind it is
 * real.
 * @param brokerUrl - the broker's `mqtt://host:port`
 */
export async function startBrokerLink(brokerUrl: string): Promise<BrokerLink> {
  const upstream = new URL(brokerUrl)
  const sockets = new Set<Socket>()
  let down = false
  const track = (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => undefined)
  }
  const server = createServer((client) => {
    track(client)
    if (down) {
      client.destroy()
      return
    }
    const broker = connect(Number(upstream.port), upstream.hostname)
    track(broker)
    client.pipe(broker).pipe(client)
    client.on('close', () => broker.destroy())
    broker.on('close', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`,
    cut() {
      down = true
      for (const socket of sockets) socket.destroy()
    },
    restore() {
      down = false
    },
    close() {
      for (const socket of sockets) socket.destroy()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
