import type { SensorKey } from './sensors.ts'

/** One hourly record of the UCI Air Quality data set. */
export type AirQualityRow = {
  /** 0-based data row in file order (header and empty rows not counted). */
  index: number
  /** Local time as published, `YYYY-MM-DDTHH:MM:SS`, no zone (the data set does not give one). */
  time: string
  /** Value per sensor in the unit of {@link SENSORS}; `null` where the file has `-200` (missing). */
  values: Record<SensorKey, number | null>
}
