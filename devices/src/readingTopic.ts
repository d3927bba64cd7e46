import type { SensorKey } from './sensors.ts'

/** Default first topic level(s) of every reading topic. */
export const DEFAULT_TOPIC_PREFIX = 'trickle'

/** Default device id of the Air Quality replayer. */
export const DEFAULT_DEVICE_ID = 'airquality-uci'

/**
 * Builds the MQTT topic a sensor's readings are published on: `${topicPrefix}/${deviceId}/${sensor}`,
 * e.g. `trickle/airquality-uci/co`. Subscribe to `${topicPrefix}/${deviceId}/#` for all sensors.
 *
 * @param topicPrefix - leading topic level(s), e.g. `trickle`
 * @param deviceId - device id, one topic level (no `/`, `+` or `#`)
 * @param sensor - sensor key
 * @returns the topic name
 */
export function readingTopic(topicPrefix: string, deviceId: string, sensor: SensorKey): string {
  return `${topicPrefix}/${deviceId}/${sensor}`
}
