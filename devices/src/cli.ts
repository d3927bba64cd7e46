/**
 * Command line of `@trickle/devices`.
 *
 * - `node devices/src/cli.ts broker --port 1883` runs the embedded broker until SIGINT/SIGTERM.
 * - `node devices/src/cli.ts replay --broker mqtt://127.0.0.1:1883 --rate 10 --sensors co,nox,no2`
 *   replays the Air Quality data set as live sensors until SIGINT/SIGTERM.
 *
 * @module
 */
import { Command, InvalidArgumentError } from 'commander'
import { isDevicesError } from './DevicesError.ts'
import { DEFAULT_CSV_PATH } from './loadAirQuality.ts'
import { DEFAULT_DEVICE_ID, DEFAULT_TOPIC_PREFIX } from './readingTopic.ts'
import { isSensorKey, SENSORS, type SensorKey } from './sensors.ts'
import { startBroker } from './startBroker.ts'
import { startReplayer } from './startReplayer.ts'

function parseIntOption(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`expected an integer in ${min}..${max}`)
    return n
  }
}

function parseRate(value: string): number {
  const n = Number(value)
  if (!(Number.isFinite(n) && n > 0)) throw new InvalidArgumentError('expected a positive number of rows/s')
  return n
}

function parseSensors(value: string): SensorKey[] {
  const keys = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
  if (keys.length === 0) throw new InvalidArgumentError('expected at least one sensor')
  for (const key of keys) {
    if (!isSensorKey(key)) {
      throw new InvalidArgumentError(`unknown sensor "${key}"; known: ${SENSORS.map((s) => s.key).join(',')}`)
    }
  }
  return keys as SensorKey[]
}

function onSignal(stop: () => Promise<void>): void {
  const handler = (): void => {
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.once('SIGINT', handler)
  process.once('SIGTERM', handler)
}

const program = new Command()
  .name('trickle-devices')
  .description('Trickle devices: embedded MQTT broker and Air Quality sensor replayer')

program
  .command('broker')
  .description('run the embedded MQTT broker (aedes)')
  .option('--host <host>', 'interface to listen on', '127.0.0.1')
  .option('--port <port>', 'TCP port (0 = any free port)', parseIntOption(0, 65535), 1883)
  .action(async (opts: { host: string; port: number }) => {
    const broker = await startBroker({ host: opts.host, port: opts.port })
    console.log(`broker listening on ${broker.url}`)
    onSignal(() => broker.close())
  })

program
  .command('replay')
  .description('publish the UCI Air Quality data set as live MQTT sensors')
  .option('--broker <url>', 'MQTT broker URL', 'mqtt://127.0.0.1:1883')
  .option('--rate <rowsPerSecond>', 'replay rate in rows/s', parseRate, 1)
  .option('--sensors <keys>', 'comma-separated sensor keys (default: all)', parseSensors)
  .option(
    '--start-row <row>',
    'first row to publish (0-based)',
    parseIntOption(0, Number.MAX_SAFE_INTEGER),
    0,
  )
  .option('--no-loop', 'stop after the last row instead of starting again at row 0')
  .option('--qos <qos>', 'MQTT QoS (0 or 1)', parseIntOption(0, 1), 0)
  .option('--retain', 'set the MQTT retain flag', false)
  .option('--csv <path>', 'Air Quality CSV file', DEFAULT_CSV_PATH)
  .option('--prefix <topicPrefix>', 'topic prefix', DEFAULT_TOPIC_PREFIX)
  .option('--device <deviceId>', 'device id (topic level and payload field)', DEFAULT_DEVICE_ID)
  .option('--client-id <id>', 'MQTT client id')
  .action(
    async (opts: {
      broker: string
      rate: number
      sensors?: SensorKey[]
      startRow: number
      loop: boolean
      qos: number
      retain: boolean
      csv: string
      prefix: string
      device: string
      clientId?: string
    }) => {
      const replayer = await startReplayer({
        brokerUrl: opts.broker,
        rowsPerSecond: opts.rate,
        ...(opts.sensors === undefined ? {} : { sensors: opts.sensors }),
        startRow: opts.startRow,
        loop: opts.loop,
        qos: opts.qos === 1 ? 1 : 0,
        retain: opts.retain,
        csvPath: opts.csv,
        topicPrefix: opts.prefix,
        deviceId: opts.device,
        ...(opts.clientId === undefined ? {} : { clientId: opts.clientId }),
        onError: (err) => console.error(`[replay] ${err.message}`),
      })
      const sensors = opts.sensors?.join(',') ?? 'all sensors'
      console.log(
        `replaying ${opts.csv} to ${opts.broker} at ${opts.rate} rows/s (${sensors}) on ${opts.prefix}/${opts.device}/<sensor>`,
      )
      const status = setInterval(() => {
        console.log(
          `rows published ${replayer.rowsPublished}, skipped ${replayer.rowsSkipped}, next ${replayer.nextRow}`,
        )
      }, 10_000)
      const stop = async (): Promise<void> => {
        clearInterval(status)
        await replayer.stop()
      }
      onSignal(stop)
      await replayer.done
      await stop()
      console.log(`done: ${replayer.rowsPublished} rows published`)
    },
  )

program.parseAsync().catch((err: unknown) => {
  console.error(isDevicesError(err) ? `error ${err.code}: ${err.shortMessage}` : err)
  process.exit(1)
})
