// Issue 13, "No reading lost that the broker kept": the seller's MQTT source at QoS 1 with a
// persistent session and a reading store, against a real mosquitto that keeps its sessions on disk.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import mqtt from 'mqtt'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type Mosquitto, startMosquitto } from '../../devices/test/helpers/mosquitto.ts'
import { connectMqttSource, type MqttSource } from '../src/mqttSource.ts'
import { openReadingStore, type ReadingStore } from '../src/readingStore.ts'

const TOPIC = 'site1/air'
const PRODUCTS = new Map([['p', [TOPIC]]])
const DIE = fileURLToPath(new URL('./helpers/recordThenDie.ts', import.meta.url))
const numberOf = (payload: Uint8Array) => (JSON.parse(new TextDecoder().decode(payload)) as { n: number }).n

/** Publishes `{"n":from}` … `{"n":to-1}` at QoS 1, each PUBACKed before the next. */
async function publish(client: mqtt.MqttClient, from: number, to: number) {
  for (let n = from; n < to; n++) await client.publishAsync(TOPIC, JSON.stringify({ n }), { qos: 1 })
}

/** Resolves once `predicate` holds, checking every 20 ms; rejects after `ms`. */
async function until(predicate: () => boolean, ms = 10_000, what = 'the condition') {
  const deadline = Date.now() + ms
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** The numbers a listener got, with their feed positions. */
function collector() {
  const got: { n: number; position: number }[] = []
  return {
    got,
    listener: (payload: Uint8Array, position: number) => got.push({ n: numberOf(payload), position }),
  }
}

describe('MqttSource durability (mosquitto with persistence)', () => {
  let broker: Mosquitto
  let publisher: mqtt.MqttClient
  let db: string
  const open: (MqttSource | ReadingStore)[] = []

  beforeEach(async () => {
    broker = await startMosquitto({ persistence: true })
    publisher = await mqtt.connectAsync(broker.url, { reconnectPeriod: 100 })
    db = join(mkdtempSync(join(tmpdir(), 'trickle-durable-')), 'readings.sqlite')
  })
  afterEach(async () => {
    for (const part of open.splice(0).reverse()) await part.close()
    await publisher.endAsync(true)
    await broker.close()
  })

  const source = async (clientId: string) => {
    const readings = openReadingStore(db)
    open.push(readings)
    const s = await connectMqttSource(broker.url, PRODUCTS, { readings, clientId })
    open.push(s)
    return { source: s, readings }
  }

  it('gets what the broker queued while the seller was away, through a broker restart, with positions continued', async () => {
    const first = await source('trickle-test-a')
    const live = collector()
    first.source.listen('p', live.listener)
    await publish(publisher, 0, 10)
    await until(() => live.got.length === 10, 5_000, 'the first ten')
    await first.source.close()
    first.readings.close()

    // The seller is away: the broker queues for its session, and keeps the queue across its restart.
    await publish(publisher, 10, 20)
    await broker.stop()
    await broker.restart()
    await until(() => publisher.connected, 5_000, 'the publisher to reconnect')
    await publish(publisher, 20, 30)

    const second = await source('trickle-test-a')
    await until(() => second.readings.nextPosition('p') === 30, 5_000, 'the queued readings')
    // A buyer that paid up to position 4 gets 5… from the store, then live, without a gap or a repeat.
    const resumed = collector()
    const feed = second.source.feed('p', resumed.listener, { after: 4, live: true })
    expect(feed.pull(100)).toBe(25)
    expect(feed.caughtUp).toBe(true)
    await publish(publisher, 30, 32)

    // And through a broker restart while the seller is connected.
    await broker.stop()
    await broker.restart()
    await until(() => second.source.connected && publisher.connected, 10_000, 'both to reconnect')
    await publish(publisher, 32, 40)
    await until(() => resumed.got.length === 35, 10_000, 'the readings after position 4')
    expect(resumed.got).toEqual(Array.from({ length: 35 }, (_, i) => ({ n: 5 + i, position: 5 + i })))
  })

  it("records a topic's retained message once, not again when a restarted seller takes up its session", async () => {
    await publisher.publishAsync(TOPIC, JSON.stringify({ n: -1 }), { qos: 1, retain: true })
    const first = await source('trickle-test-r')
    await until(() => first.readings.nextPosition('p') === 1, 5_000, 'the retained reading')
    await first.source.close()
    first.readings.close()
    const second = await source('trickle-test-r')
    await publish(publisher, 0, 1)
    await until(() => second.readings.nextPosition('p') >= 2, 5_000, 'the next reading')
    expect(second.readings.readAfter('p', -1, 10).map((r) => numberOf(r.payload))).toEqual([-1, 0])
  })

  it('drops the redelivery of a reading recorded just before a crash, and records every other once', async () => {
    const child = spawn(
      process.execPath,
      [DIE, JSON.stringify({ url: broker.url, db, clientId: 'trickle-test-b', topic: TOPIC, dieAfter: 30 })],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    const exited = once(child, 'exit')
    const [ready] = (await Promise.race([
      once(child.stdout!, 'data'),
      exited.then(() => {
        throw new Error('the source process exited before it was ready')
      }),
    ])) as [Buffer]
    expect(ready.toString()).toBe('ready\n')
    await publish(publisher, 0, 100)
    const [, signal] = (await exited) as [number | null, string | null]
    expect(signal).toBe('SIGKILL')

    // The restarted source sees the broker resend the unacknowledged reading with DUP set.
    const readings = openReadingStore(db)
    open.push(readings)
    expect(readings.nextPosition('p')).toBe(30)
    const redelivered: number[] = []
    const watching: ReadingStore = {
      ...readings,
      record(products, message, now) {
        if (message.dup) redelivered.push(numberOf(message.payload))
        return readings.record(products, message, now)
      },
    }
    const restarted = await connectMqttSource(broker.url, PRODUCTS, {
      readings: watching,
      clientId: 'trickle-test-b',
    })
    open.push(restarted)
    // A last reading after the redeliveries: once it is recorded, everything before it was handled.
    await publish(publisher, 100, 101)
    await until(() => readings.nextPosition('p') >= 101, 10_000, 'every reading')
    expect(redelivered).toContain(29)
    const all = readings.readAfter('p', -1, 1_000)
    expect(all.map((r) => ({ n: numberOf(r.payload), position: r.position }))).toEqual(
      Array.from({ length: 101 }, (_, n) => ({ n, position: n })),
    )
  })
})
