import mqtt from 'mqtt'
import { decodeReading, type SensorReading } from '../../src/index.ts'

/** An MQTT subscriber that decodes and keeps every reading it receives. */
export type Collector = {
  readonly readings: { topic: string; reading: SensorReading }[]
  /** Resolves once `predicate` holds for the readings so far (polled every 20 ms), or rejects after `timeoutMs`. */
  until(
    predicate: (readings: readonly { topic: string; reading: SensorReading }[]) => boolean,
    timeoutMs?: number,
  ): Promise<void>
  close(): Promise<void>
}

/** Connects a subscriber to `url` and subscribes to `topic` (QoS 1, resubscribes on reconnect). */
export async function collect(url: string, topic: string): Promise<Collector> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 100, connectTimeout: 2000 })
  client.on('error', () => {})
  const readings: { topic: string; reading: SensorReading }[] = []
  client.on('message', (t, payload) => readings.push({ topic: t, reading: decodeReading(payload) }))
  await client.subscribeAsync(topic, { qos: 1 })
  return {
    readings,
    async until(predicate, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs
      while (!predicate(readings)) {
        if (Date.now() > deadline)
          throw new Error(`condition not met within ${timeoutMs} ms (${readings.length} readings)`)
        await new Promise((r) => setTimeout(r, 20))
      }
    },
    async close() {
      await client.endAsync(true)
    },
  }
}
