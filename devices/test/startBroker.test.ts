import mqtt from 'mqtt'
import { describe, expect, it } from 'vitest'
import { startBroker } from '../src/index.ts'

describe('startBroker', () => {
  it('listens on a free loopback port and relays messages', async () => {
    const broker = await startBroker()
    try {
      expect(broker.port).toBeGreaterThan(0)
      expect(broker.url).toBe(`mqtt://127.0.0.1:${broker.port}`)
      const sub = await mqtt.connectAsync(broker.url)
      await sub.subscribeAsync('a/b')
      const got = new Promise<string>((resolve) => sub.on('message', (_t, p) => resolve(p.toString())))
      const pub = await mqtt.connectAsync(broker.url)
      await pub.publishAsync('a/b', 'hello')
      expect(await got).toBe('hello')
      await pub.endAsync()
      await sub.endAsync()
    } finally {
      await broker.close()
    }
  })

  it('closes idempotently and disconnects connected clients', async () => {
    const broker = await startBroker()
    const client = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 })
    client.on('error', () => {})
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()))
    await Promise.all([broker.close(), broker.close()])
    await broker.close()
    await closed
    expect(client.connected).toBe(false)
    await client.endAsync(true)
  })

  it('throws BROKER_START_FAILED when the port is taken', async () => {
    const first = await startBroker()
    try {
      await expect(startBroker({ port: first.port })).rejects.toMatchObject({
        code: 'BROKER_START_FAILED',
        facts: { port: first.port },
      })
    } finally {
      await first.close()
    }
  })
})
