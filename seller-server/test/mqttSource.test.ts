import { startBroker } from '@trickle/devices'
import mqtt from 'mqtt'
import { describe, expect, it } from 'vitest'
import { connectMqttSource, type MqttSource, type ReplayLimits } from '../src/mqttSource.ts'

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

/** Runs `body` with a broker, a source for product `p` on {@link TOPIC} with `limits`, and a publisher. */
async function withSource(
  limits: ReplayLimits,
  body: (source: MqttSource, client: mqtt.MqttClient) => Promise<void>,
): Promise<void> {
  const broker = await startBroker()
  const source = await connectMqttSource(broker.url, new Map([['p', [TOPIC]]]), undefined, limits)
  const client = await mqtt.connectAsync(broker.url)
  try {
    await body(source, client)
  } finally {
    await client.endAsync()
    await source.close()
    await broker.close()
  }
}

describe('MqttSource replay buffer (embedded aedes broker)', () => {
  it('replays the held messages after a position, in order, then goes live; bounded by count', async () => {
    await withSource({ maxChunks: 5, maxBytes: 1 << 20 }, async (source, client) => {
      const live = collect(8)
      source.listen('p', live.listener)
      await publish(client, 0, 8)
      await live.full
      expect(live.got.map((m) => m.position)).toEqual([0, 1, 2, 3, 4, 5, 6, 7])

      // After position 4: 5, 6, 7 are held, then live 8 and 9.
      const resumed = collect(5)
      source.listen('p', resumed.listener, 4)
      await publish(client, 8, 2)
      await resumed.full
      expect(resumed.got).toEqual(
        ['m5', 'm6', 'm7', 'm8', 'm9'].map((text, i) => ({ text, position: 5 + i })),
      )

      // After position 0: only the last 5 (5..9) are held, so replay starts at the oldest of them.
      const late = collect(5)
      source.listen('p', late.listener, 0)
      await late.full
      expect(late.got.map((m) => m.position)).toEqual([5, 6, 7, 8, 9])
    })
  })

  it('keeps at most maxBytes of payload per product', async () => {
    // three 2-byte messages
    await withSource({ maxChunks: 100, maxBytes: 6 }, async (source, client) => {
      const live = collect(6)
      source.listen('p', live.listener)
      await publish(client, 0, 6)
      await live.full
      const replayed = collect(3)
      source.listen('p', replayed.listener, -1)
      await replayed.full
      expect(replayed.got.map((m) => m.text)).toEqual(['m3', 'm4', 'm5'])
    })
  })
})
