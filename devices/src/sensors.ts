/** Description of one measurement column of the UCI Air Quality data set. */
export type SensorInfo = {
  /** Short, topic-safe key, used as the last MQTT topic level. */
  readonly key: SensorKey
  /** The column's header name exactly as published in the CSV. */
  readonly column: string
  /** Unit of the value: `mg/m³`, `µg/m³`, `ppb`, `°C`, `%`, `g/m³`, or `raw` (dimensionless sensor response). */
  readonly unit: string
  /** What the column measures. */
  readonly description: string
}

/** Key of one sensor (measurement column) of the Air Quality data set. */
export type SensorKey =
  | 'co'
  | 'pt08_s1_co'
  | 'nmhc'
  | 'c6h6'
  | 'pt08_s2_nmhc'
  | 'nox'
  | 'pt08_s3_nox'
  | 'no2'
  | 'pt08_s4_no2'
  | 'pt08_s5_o3'
  | 't'
  | 'rh'
  | 'ah'

/**
 * The 13 measurement columns of the UCI Air Quality data set, in published column order.
 * `(GT)` columns come from the reference analyser ("ground truth"); `PT08.Sx` columns are raw
 * metal-oxide sensor responses. Source: S. De Vito et al., Sensors and Actuators B: Chemical 129(2), 2008.
 */
export const SENSORS: readonly SensorInfo[] = Object.freeze(
  (
    [
      { key: 'co', column: 'CO(GT)', unit: 'mg/m³', description: 'CO concentration, reference analyser' },
      {
        key: 'pt08_s1_co',
        column: 'PT08.S1(CO)',
        unit: 'raw',
        description: 'Tin oxide sensor response, CO targeted',
      },
      {
        key: 'nmhc',
        column: 'NMHC(GT)',
        unit: 'µg/m³',
        description: 'Non-methane hydrocarbons concentration, reference analyser',
      },
      {
        key: 'c6h6',
        column: 'C6H6(GT)',
        unit: 'µg/m³',
        description: 'Benzene concentration, reference analyser',
      },
      {
        key: 'pt08_s2_nmhc',
        column: 'PT08.S2(NMHC)',
        unit: 'raw',
        description: 'Titania sensor response, NMHC targeted',
      },
      { key: 'nox', column: 'NOx(GT)', unit: 'ppb', description: 'NOx concentration, reference analyser' },
      {
        key: 'pt08_s3_nox',
        column: 'PT08.S3(NOx)',
        unit: 'raw',
        description: 'Tungsten oxide sensor response, NOx targeted',
      },
      { key: 'no2', column: 'NO2(GT)', unit: 'µg/m³', description: 'NO2 concentration, reference analyser' },
      {
        key: 'pt08_s4_no2',
        column: 'PT08.S4(NO2)',
        unit: 'raw',
        description: 'Tungsten oxide sensor response, NO2 targeted',
      },
      {
        key: 'pt08_s5_o3',
        column: 'PT08.S5(O3)',
        unit: 'raw',
        description: 'Indium oxide sensor response, O3 targeted',
      },
      { key: 't', column: 'T', unit: '°C', description: 'Temperature' },
      { key: 'rh', column: 'RH', unit: '%', description: 'Relative humidity' },
      { key: 'ah', column: 'AH', unit: 'g/m³', description: 'Absolute humidity' },
    ] satisfies SensorInfo[]
  ).map((s) => Object.freeze(s)),
)

const BY_KEY: ReadonlyMap<string, SensorInfo> = new Map(SENSORS.map((s) => [s.key, s]))

/**
 * Tells whether a string is a {@link SensorKey}.
 *
 * @param key - candidate key, e.g. from a CLI flag or a decoded payload
 * @returns true if `key` names one of {@link SENSORS}
 */
export function isSensorKey(key: unknown): key is SensorKey {
  return typeof key === 'string' && BY_KEY.has(key)
}

/**
 * Looks up a sensor's description.
 *
 * @param key - sensor key
 * @returns the entry of {@link SENSORS} for `key`
 */
export function sensorInfo(key: SensorKey): SensorInfo {
  return BY_KEY.get(key)!
}
