import { describe, expect, it } from 'vitest'
import * as devices from '../src/index.ts'

describe('public surface', () => {
  it('exports the documented names', () => {
    expect(Object.keys(devices).sort()).toEqual(
      [
        'DEFAULT_CSV_PATH',
        'DEFAULT_DEVICE_ID',
        'DEFAULT_TOPIC_PREFIX',
        'DevicesError',
        'SENSORS',
        'decodeReading',
        'encodeReading',
        'isDevicesError',
        'isSensorKey',
        'loadAirQuality',
        'parseAirQualityCsv',
        'readingTopic',
        'rowsDue',
        'sensorInfo',
        'startBroker',
        'startReplayer',
      ].sort(),
    )
  })

  it('lists the 13 sensors with their published columns and units', () => {
    expect(devices.SENSORS.map((s) => [s.key, s.column, s.unit])).toEqual([
      ['co', 'CO(GT)', 'mg/m³'],
      ['pt08_s1_co', 'PT08.S1(CO)', 'raw'],
      ['nmhc', 'NMHC(GT)', 'µg/m³'],
      ['c6h6', 'C6H6(GT)', 'µg/m³'],
      ['pt08_s2_nmhc', 'PT08.S2(NMHC)', 'raw'],
      ['nox', 'NOx(GT)', 'ppb'],
      ['pt08_s3_nox', 'PT08.S3(NOx)', 'raw'],
      ['no2', 'NO2(GT)', 'µg/m³'],
      ['pt08_s4_no2', 'PT08.S4(NO2)', 'raw'],
      ['pt08_s5_o3', 'PT08.S5(O3)', 'raw'],
      ['t', 'T', '°C'],
      ['rh', 'RH', '%'],
      ['ah', 'AH', 'g/m³'],
    ])
    expect(Object.isFrozen(devices.SENSORS)).toBe(true)
    expect(devices.DEFAULT_CSV_PATH).toMatch(/\/devices\/data\/AirQualityUCI\.csv$/)
  })
})
