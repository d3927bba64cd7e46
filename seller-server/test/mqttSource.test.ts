import { startBroker } from '@trickle/devices'
import mqtt from 'mqtt'
import { describe, expect, it } from 'vitest'
import { connectMqttSource, type MqttSource } from '../src/mqttSource.ts'
import { openReadingStore, type ReadingStore } from '../src/readingStore.ts'

const TOPIC = 'trickle/test/replay'

/** Publishes `n` messages `m<i>` at QoS 1 (so each is at the broker before the next). */
async function publish(client: mqtt.MqttClient, from: number, n: number) {
  for (let i = from; i < from + n; i++) await client.publishAsync(TOPIC, `m${i}`, { qos: 1 })
}

/** Collects `n` messages from a listener. */
function collect(n: number) {
  const got: { text: string; position: number }[] = []
  let done!: () => void
  const full = new Promise<void>((resolve) => {
    done = resolve
  })
  const listener = (payload: Uint8Array, position: number) => {
    got.push({ text: new TextDecoder().decode(payload), position })
    if (got.length === n) done()
  }
  return { got, full, listener }
}

/** Runs `body` with a broker, a source for product `p` on {@link TOPIC} recording in `readings`, and a publisher. */
async function withSource(
  body: (source: MqttSource, client: mqtt.MqttClient, readings: ReadingStore) => Promise<void>,
): Promise<void> {
  const broker = await startBroker()
  const readings = openReadingStore(':memory:')
  const source = await connectMqttSource(broker.url, new Map([['p', [TOPIC]]]), { readings })
  const client = await mqtt.connectAsync(broker.url)
  try {
    await body(source, client, readings)
  } finally {
    await client.endAsync()
    await source.close()
    readings.close()
    await broker.close()
  }
}

describe('MqttSource feeds (embedded aedes broker)', () => {
  it('delivers the recorded readings after a position as they are pulled, then goes live without a gap or a repeat', async () => {
    await withSource(async (source, client) => {
      const live = collect(8)
      source.listen('p', live.listener)
      await publish(client, 0, 8)
      await live.full
      expect(live.got.map((m) => m.position)).toEqual([0, 1, 2, 3, 4, 5, 6, 7])

      // After position 4: 5, 6, 7 are recorded; each pull delivers at most what it asks for.
      const resumed = collect(5)
      const feed = source.feed('p', resumed.listener, { after: 4, live: true })
      expect(feed.pull(2)).toBe(2)
      expect(resumed.got.map((m) => m.position)).toEqual([5, 6])
      expect(feed.caughtUp).toBe(false)
      expect(feed.pull(10)).toBe(1)
      expect(feed.caughtUp).toBe(true)
      await publish(client, 8, 2)
      await resumed.full
      expect(resumed.got).toEqual(
        ['m5', 'm6', 'm7', 'm8', 'm9'].map((text, i) => ({ text, position: 5 + i })),
      )
      feed.close()
    })
  })

  it('a finite span ends at its last position and never goes live', async () => {
    await withSource(async (source, client, readings) => {
      await publish(client, 0, 6)
      await until(() => readings.nextPosition('p') === 6)
      const got = collect(3)
      const feed = source.feed('p', got.listener, { after: 1, through: 4, live: false })
      expect(feed.pull(100)).toBe(3)
      expect(feed.caughtUp).toBe(true)
      await publish(client, 6, 2)
      await until(() => readings.nextPosition('p') === 8)
      expect(got.got.map((m) => m.text)).toEqual(['m2', 'm3', 'm4'])
    })
  })

  it('replays at most the latest readings within the replay limits', async () => {
    await withSource(async (_source, client, readings) => {
      await publish(client, 0, 10)
      await until(() => readings.nextPosition('p') === 10)
      // Five readings at most: after position 0 the replay starts after 4 (5…9).
      expect(readings.replayStart('p', 0, 5, 1 << 20)).toBe(4)
      expect(readings.replayStart('p', 6, 5, 1 << 20)).toBe(6)
      // 2-byte payloads: 6 bytes are three readings (7…9); one reading at least however small the cap.
      expect(readings.replayStart('p', -1, 100, 6)).toBe(6)
      expect(readings.replayStart('p', -1, 100, 1)).toBe(8)
    })
  })
})

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
  expect(condition()).toBe(true)
}
