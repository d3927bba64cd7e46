import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type DevicesError, loadAirQuality, type Replayer, startReplayer } from '../src/index.ts'
import { collect } from './helpers/collect.ts'
import { type Mosquitto, startMosquitto } from './helpers/mosquitto.ts'

// A real, separately built broker (Debian's mosquitto), started on a free loopback port.
describe('startReplayer against mosquitto (requires the Debian mosquitto package; .ci/run installs it)', () => {
  let mosquitto: Mosquitto
  let replayer: Replayer | undefined
  const errors: DevicesError[] = []

  beforeAll(async () => {
    mosquitto = await startMosquitto()
  })
  afterAll(async () => {
    await replayer?.stop()
    await mosquitto?.close()
  })

  it('delivers readings, survives a broker crash and resumes after the restart on the same port', async () => {
    const rows = await loadAirQuality()
    const sub = await collect(mosquitto.url, 'trickle/airquality-uci/#')
    replayer = await startReplayer({
      brokerUrl: mosquitto.url,
      rows,
      rowsPerSecond: 50,
      sensors: ['co', 'nox', 'no2'],
      reconnectPeriodMs: 100,
      qos: 1,
      onError: (e) => errors.push(e),
    })
    await sub.until((r) => r.length >= 30)
    for (const { topic, reading } of sub.readings) {
      expect(topic).toBe(`trickle/airquality-uci/${reading.sensor}`)
      expect(reading.value).toEqual(rows[reading.row]!.values[reading.sensor])
    }

    await mosquitto.kill()
    await new Promise((r) => setTimeout(r, 500))
    expect(replayer.connected).toBe(false)
    expect(replayer.rowsSkipped).toBeGreaterThan(0)
    const before = sub.readings.length
    const lastRowBefore = sub.readings.at(-1)!.reading.row
    const skippedWhileDown = replayer.rowsSkipped

    await mosquitto.restart()
    await sub.until((r) => r.length >= before + 30, 15_000)
    await sub.close()
    const after = sub.readings.slice(before)
    expect(replayer.connected).toBe(true)
    // Rows due while the broker was down are skipped, not buffered: the replay jumps past them. (A QoS 1
    // message in flight at the crash may be resent, hence the small allowance.)
    const skippedRange = (row: number): boolean =>
      row > lastRowBefore && row <= lastRowBefore + skippedWhileDown
    expect(new Set(after.map((r) => r.reading.row).filter(skippedRange)).size).toBeLessThanOrEqual(3)
    expect(Math.max(...after.map((r) => r.reading.row))).toBeGreaterThan(lastRowBefore + skippedWhileDown)
    for (const { reading } of after) expect(reading.value).toEqual(rows[reading.row]!.values[reading.sensor])
    expect(errors.length).toBeGreaterThan(0)
    expect(errors.every((e) => e.code === 'BROKER_ERROR' || e.code === 'PUBLISH_FAILED')).toBe(true)
  })
})
