import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { AirQualityRow } from './AirQualityRow.ts'
import { DevicesError } from './DevicesError.ts'
import { parseAirQualityCsv } from './parseAirQualityCsv.ts'

/** Absolute path of the shipped, unmodified copy of `AirQualityUCI.csv` (`devices/data/`). */
export const DEFAULT_CSV_PATH: string = fileURLToPath(new URL('../data/AirQualityUCI.csv', import.meta.url))

/**
 * Reads and parses an Air Quality CSV file (see {@link parseAirQualityCsv}).
 *
 * @param path - file path; defaults to {@link DEFAULT_CSV_PATH}
 * @returns the data rows in file order
 * @throws DevicesError `CSV_READ_FAILED` if the file cannot be read; `CSV_MALFORMED` if it does not parse
 */
export async function loadAirQuality(path: string = DEFAULT_CSV_PATH): Promise<AirQualityRow[]> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (cause) {
    throw new DevicesError('CSV_READ_FAILED', `cannot read ${path}`, { facts: { path }, cause })
  }
  return parseAirQualityCsv(text)
}
