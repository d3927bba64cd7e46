import type { SensorKey } from './sensors.ts'

/**
 * One sensor value as it goes on the wire (JSON, UTF-8), one MQTT message per sensor per row, on
 * the topic given by {@link readingTopic}.
 */
export type SensorReading = {
  /** Device id, the second topic level (default `airquality-uci`). */
  device: string
  /** Sensor key, the last topic level. */
  sensor: SensorKey
  /** The CSV column the value comes from, e.g. `CO(GT)`. */
  column: string
  /** 0-based data row of the source file. */
  row: number
  /** Local time of the measurement as published, `YYYY-MM-DDTHH:MM:SS`, no zone. */
  time: string
  /** The value in `unit`, or `null` where the source marks it missing. */
  value: number | null
  /** Unit of `value`, as in {@link SENSORS}. */
  unit: string
}
