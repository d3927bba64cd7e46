import {
  DEFAULT_DEVICE_ID,
  DEFAULT_TOPIC_PREFIX,
  readingTopic,
  type SensorKey,
  sensorInfo,
} from '@trickle/devices'
import type { Address } from '@trickle/protocol'
import type { StreamProductSpec } from '@trickle/seller'

const SOURCE = {
  title: 'UCI Machine Learning Repository, "Air Quality" data set (replayed live over MQTT)',
  licence: 'CC BY 4.0',
  attribution:
    'S. De Vito et al., "On field calibration of an electronic nose for benzene estimation in an urban ' +
    'pollution monitoring scenario", Sensors and Actuators B: Chemical 129(2), 2008.',
}

/** Options of {@link airQualityProducts}. */
export interface AirQualityProductsOptions {
  /** leading topic level(s) the replayer publishes under (default `trickle`) */
  topicPrefix?: string
  /** the replayed device's id, the topics' second level (default `airquality-uci`) */
  deviceId?: string
  /**
   * the replay rate, rows/s (> 0, finite): the replayer publishes one reading per sensor per row, so
   * each product states `rowsPerSecond × its sensors` chunks/s in its descriptor. Absent: the
   * descriptors state no rate
   */
  rowsPerSecond?: number
  /**
   * the address of the key the replayer signs readings with (`startReplayer`'s `deviceKey`): the
   * descriptors list it as the products' device. Absent: the readings are unsigned
   */
  deviceAddress?: Address
}

/**
 * The three live products of the default marketplace, over the replayed UCI Air Quality device.
 * @param pricePerChunk - wei per reading
 * @param options - the replayer's topics and rate
 * @throws RangeError when `rowsPerSecond` is not a positive finite number
 */
export function airQualityProducts(
  pricePerChunk: bigint,
  options: AirQualityProductsOptions = {},
): StreamProductSpec[] {
  const {
    topicPrefix = DEFAULT_TOPIC_PREFIX,
    deviceId = DEFAULT_DEVICE_ID,
    rowsPerSecond,
    deviceAddress,
  } = options
  if (rowsPerSecond !== undefined && !(Number.isFinite(rowsPerSecond) && rowsPerSecond > 0)) {
    throw new RangeError(`rowsPerSecond must be a positive number (rows/s), not ${rowsPerSecond}`)
  }
  const product = (
    key: string,
    name: string,
    description: string,
    sensors: readonly SensorKey[],
  ): StreamProductSpec => ({
    key,
    name,
    description,
    topics: sensors.map((s) => readingTopic(topicPrefix, deviceId, s)),
    fields: sensors.map((s) => ({ name: sensorInfo(s).column, unit: sensorInfo(s).unit })),
    tags: ['air-quality', 'iot', ...sensors],
    pricePerChunk,
    ...(rowsPerSecond === undefined ? {} : { chunksPerSecond: rowsPerSecond * sensors.length }),
    ...(deviceAddress === undefined ? {} : { devices: [{ id: deviceId, address: deviceAddress }] }),
    source: SOURCE,
  })
  return [
    product(
      'co',
      'Carbon monoxide, road level',
      'Hourly CO(GT) from the reference analyser (mg/m³), one reading per chunk.',
      ['co'],
    ),
    product(
      'nox-no2',
      'Nitrogen oxides NOx and NO₂',
      'Hourly NOx(GT) (ppb) and NO2(GT) (µg/m³) from the reference analyser, one reading per chunk.',
      ['nox', 'no2'],
    ),
    product(
      'climate',
      'Temperature and humidity',
      'Hourly temperature (°C), relative humidity (%) and absolute humidity, one reading per chunk.',
      ['t', 'rh', 'ah'],
    ),
  ]
}
