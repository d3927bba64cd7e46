import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type AirQualityRow,
  type DevicesError,
  type EmbeddedBroker,
  loadAirQuality,
  readingTopic,
  SENSORS,
  type SensorReading,
  startBroker,
  startReplayer,
} from '../src/index.ts'
import { collect } from './helpers/collect.ts'
import { freePort } from './helpers/mosquitto.ts'

let broker: EmbeddedBroker
let rows: AirQualityRow[]

beforeAll(async () => {
  broker = await startBroker()
  rows = await loadAirQuality()
})
afterAll(async () => {
  await broker?.close()
})

function byTopic(readings: readonly { topic: string; reading: SensorReading }[]): Map<string, number[]> {
  const out = new Map<string, number[]>()
  for (const { topic, reading } of readings) out.set(topic, [...(out.get(topic) ?? []), reading.row])
  return out
}

const synthetic = (n: number): AirQualityRow[] =>
  Array.from({ length: n }, (_, index) => ({
    index,
    time: `2004-03-10T${String(index).padStart(2, '0')}:00:00`,
    values: Object.fromEntries(SENSORS.map((s) => [s.key, index])) as AirQualityRow['values'],
  }))

describe('startReplayer against the embedded broker', () => {
  it('publishes the parsed CSV values (numbers and nulls) per sensor topic, in row order', async () => {
    const sub = await collect(broker.url, 'trickle/airquality-uci/#')
    const errors: DevicesError[] = []
    // Start at row 5 so that rows with -200 (rows 9 and 10) are among the first published.
    const replayer = await startReplayer({
      brokerUrl: broker.url,
      rowsPerSecond: 500,
      startRow: 5,
      onError: (e) => errors.push(e),
    })
    try {
      await sub.until((r) => r.length >= 100 * SENSORS.length)
    } finally {
      await replayer.stop()
      await sub.close()
    }
    expect(errors).toEqual([])
    expect(replayer.rowsPublished).toBeGreaterThanOrEqual(100)
    let nulls = 0
    for (const { topic, reading } of sub.readings) {
      const info = SENSORS.find((s) => s.key === reading.sensor)!
      expect(topic).toBe(readingTopic('trickle', 'airquality-uci', reading.sensor))
      const row = rows[reading.row]!
      expect(reading).toEqual({
        device: 'airquality-uci',
        sensor: info.key,
        column: info.column,
        row: row.index,
        time: row.time,
        value: row.values[info.key],
        unit: info.unit,
      })
      if (reading.value === null) nulls++
    }
    expect(nulls).toBeGreaterThan(0)
    const topics = byTopic(sub.readings)
    expect([...topics.keys()].sort()).toEqual(SENSORS.map((s) => `trickle/airquality-uci/${s.key}`).sort())
    for (const rowsOfTopic of topics.values()) {
      expect(rowsOfTopic[0]).toBe(5)
      rowsOfTopic.forEach((row, i) => {
        expect(row).toBe(5 + i)
      })
    }
  })

  it('paces at the requested rate: 200 rows/s for 1 s publishes about 200 rows', async () => {
    const replayer = await startReplayer({ brokerUrl: broker.url, rows, rowsPerSecond: 200, sensors: ['co'] })
    await new Promise((r) => setTimeout(r, 1000))
    const published = replayer.rowsPublished
    await replayer.stop()
    expect(published).toBeGreaterThanOrEqual(120)
    expect(published).toBeLessThanOrEqual(280)
    expect(replayer.rowsSkipped).toBe(0)
  })

  it('publishes only the selected sensors, loops to row 0 after the last row', async () => {
    const sub = await collect(broker.url, 'trickle/airquality-uci/#')
    const replayer = await startReplayer({
      brokerUrl: broker.url,
      rows: synthetic(5),
      rowsPerSecond: 100,
      startRow: 3,
      sensors: ['co', 'no2'],
    })
    try {
      await sub.until((r) => r.length >= 16)
    } finally {
      await replayer.stop()
      await sub.close()
    }
    const topics = byTopic(sub.readings)
    expect([...topics.keys()].sort()).toEqual(['trickle/airquality-uci/co', 'trickle/airquality-uci/no2'])
    for (const seq of topics.values()) expect(seq.slice(0, 8)).toEqual([3, 4, 0, 1, 2, 3, 4, 0])
  })

  it('ends after the last row when loop is false', async () => {
    const replayer = await startReplayer({
      brokerUrl: broker.url,
      rows: synthetic(4),
      rowsPerSecond: 200,
      loop: false,
      topicPrefix: 'test',
      deviceId: 'finite',
    })
    await replayer.done
    expect(replayer.rowsPublished).toBe(4)
    expect(replayer.nextRow).toBe(4)
    await replayer.stop()
    await replayer.stop()
  })

  it.each([
    [{ rowsPerSecond: 0 }, 'rowsPerSecond'],
    [{ rowsPerSecond: Number.NaN }, 'rowsPerSecond'],
    [{ sensors: [] }, 'sensors'],
    [{ sensors: ['nope'] }, 'sensors'],
    [{ startRow: 5 }, 'startRow'],
    [{ startRow: -1 }, 'startRow'],
    [{ rows: [] }, 'rows'],
    [{ deviceId: 'a/b' }, 'deviceId'],
    [{ brokerUrl: 'nope://x' }, 'brokerUrl'],
  ])('rejects %o with REPLAYER_OPTIONS_INVALID', async (opts, option) => {
    await expect(
      startReplayer({ brokerUrl: broker.url, rows: synthetic(5), ...(opts as object) }),
    ).rejects.toMatchObject({ code: 'REPLAYER_OPTIONS_INVALID', facts: { option } })
  })

  it('throws REPLAYER_CONNECT_FAILED when no broker answers in time', async () => {
    const port = await freePort()
    const errors: DevicesError[] = []
    await expect(
      startReplayer({
        brokerUrl: `mqtt://127.0.0.1:${port}`,
        rows: synthetic(2),
        connectTimeoutMs: 300,
        reconnectPeriodMs: 100,
        onError: (e) => errors.push(e),
      }),
    ).rejects.toMatchObject({ code: 'REPLAYER_CONNECT_FAILED' })
    expect(errors.every((e) => e.code === 'BROKER_ERROR')).toBe(true)
  })

  it('skips rows due while the broker is gone and resumes when it is back on the same port', async () => {
    const own = await startBroker()
    const errors: DevicesError[] = []
    const replayer = await startReplayer({
      brokerUrl: own.url,
      rows,
      rowsPerSecond: 100,
      sensors: ['co'],
      reconnectPeriodMs: 100,
      onError: (e) => errors.push(e),
    })
    let again: EmbeddedBroker | undefined
    try {
      await own.close()
      await new Promise((r) => setTimeout(r, 400))
      const skipped = replayer.rowsSkipped
      expect(skipped).toBeGreaterThan(0)
      again = await startBroker({ port: own.port })
      const sub = await collect(again.url, 'trickle/airquality-uci/co')
      await sub.until((r) => r.length >= 10)
      await sub.close()
      expect(sub.readings[0]!.reading.row).toBeGreaterThan(skipped)
    } finally {
      await replayer.stop()
      await again?.close()
    }
    expect(errors.length).toBeGreaterThan(0)
    expect(errors.every((e) => e.code === 'BROKER_ERROR' || e.code === 'PUBLISH_FAILED')).toBe(true)
  })
})
