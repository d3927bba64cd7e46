/**
 * @packageDocumentation
 * `@trickle/devices`: the MQTT side of Trickle. An embedded broker (aedes), a parser for the real
 * UCI Air Quality data set (De Vito et al., 2008, CC BY 4.0; shipped in `data/`), and a replayer that
 * publishes its rows as live sensors, one JSON {@link SensorReading} per sensor per row on
 * `trickle/airquality-uci/<sensor>`.
 *
 * @example
 * ```ts
 * import { decodeReading, startBroker, startReplayer } from '@trickle/devices'
 * import mqtt from 'mqtt'
 *
 * const broker = await startBroker()
 * const sub = await mqtt.connectAsync(broker.url)
 * sub.on('message', (_topic, payload) => console.log(decodeReading(payload)))
 * await sub.subscribeAsync('trickle/airquality-uci/#')
 * const replayer = await startReplayer({ brokerUrl: broker.url, rowsPerSecond: 10, sensors: ['co', 'no2'] })
 * setTimeout(async () => {
 *   await replayer.stop()
 *   await sub.endAsync()
 *   await broker.close()
 * }, 1000)
 * ```
 */

export type { AirQualityRow } from './AirQualityRow.ts'
export {
  DevicesError,
  type DevicesErrorCode,
  type DevicesErrorOptions,
  isDevicesError,
} from './DevicesError.ts'
export { decodeReading } from './decodeReading.ts'
export { encodeReading } from './encodeReading.ts'
export { DEFAULT_CSV_PATH, loadAirQuality } from './loadAirQuality.ts'
export { parseAirQualityCsv } from './parseAirQualityCsv.ts'
export { DEFAULT_DEVICE_ID, DEFAULT_TOPIC_PREFIX, readingTopic } from './readingTopic.ts'
export { rowsDue } from './rowsDue.ts'
export type { SensorReading } from './SensorReading.ts'
export { isSensorKey, SENSORS, type SensorInfo, type SensorKey, sensorInfo } from './sensors.ts'
export { type BrokerOptions, type EmbeddedBroker, startBroker } from './startBroker.ts'
export { type Replayer, type ReplayerOptions, startReplayer } from './startReplayer.ts'
