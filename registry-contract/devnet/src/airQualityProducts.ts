import {
  DEFAULT_DEVICE_ID,
  DEFAULT_TOPIC_PREFIX,
  readingTopic,
  type SensorKey,
  sensorInfo,
} from '@trickle/devices'
import type { StreamProductSpec } from '@trickle/seller'

const SOURCE = {
  title: 'UCI Machine Learning Repository, "Air Quality" data set (replayed live over MQTT)',
  licence: 'CC BY 4.0',
  attribution:
    'S. De Vito et al., "On field calibration of an electronic nose for benzene estimation in an urban ' +
    'pollution monitoring scenario", Sensors and Actuators B: Chemical 129(2), 2008.',
}

function product(
  key: string,
  name: string,
  description: string,
  sensors: readonly SensorKey[],
  pricePerChunk: bigint,
  topicPrefix: string,
  deviceId: string,
): StreamProductSpec {
  return {
    key,
    name,
    description,
    topics: sensors.map((s) => readingTopic(topicPrefix, deviceId, s)),
    fields: sensors.map((s) => ({ name: sensorInfo(s).column, unit: sensorInfo(s).unit })),
    tags: ['air-quality', 'iot', ...sensors],
    pricePerChunk,
    source: SOURCE,
  }
}

/**
 * The three live products of the default marketplace, over the replayed UCI Air Quality device.
 * @param pricePerChunk - wei per reading
 */
export function airQualityProducts(
  pricePerChunk: bigint,
  topicPrefix = DEFAULT_TOPIC_PREFIX,
  deviceId = DEFAULT_DEVICE_ID,
): StreamProductSpec[] {
  return [
    product(
      'co',
      'Carbon monoxide, road level',
      'Hourly CO(GT) from the reference analyser (mg/m³), one reading per chunk.',
      ['co'],
      pricePerChunk,
      topicPrefix,
      deviceId,
    ),
    product(
      'nox-no2',
      'Nitrogen oxides NOx and NO₂',
      'Hourly NOx(GT) (ppb) and NO2(GT) (µg/m³) from the reference analyser, one reading per chunk.',
      ['nox', 'no2'],
      pricePerChunk,
      topicPrefix,
      deviceId,
    ),
    product(
      'climate',
      'Temperature and humidity',
      'Hourly temperature (°C), relative humidity (%) and absolute humidity, one reading per chunk.',
      ['t', 'rh', 'ah'],
      pricePerChunk,
      topicPrefix,
      deviceId,
    ),
  ]
}
