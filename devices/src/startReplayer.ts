import { signReading } from '@trickle/protocol'
import { SigningKey } from 'ethers'
import mqtt from 'mqtt'
import type { AirQualityRow } from './AirQualityRow.ts'
import { DevicesError } from './DevicesError.ts'
import { encodeReading } from './encodeReading.ts'
import { loadAirQuality } from './loadAirQuality.ts'
import { DEFAULT_DEVICE_ID, DEFAULT_TOPIC_PREFIX, readingTopic } from './readingTopic.ts'
import { rowsDue } from './rowsDue.ts'
import { isSensorKey, SENSORS, type SensorKey, sensorInfo } from './sensors.ts'

/** Options of {@link startReplayer}. */
export type ReplayerOptions = {
  /** Broker URL, e.g. `mqtt://127.0.0.1:1883`. */
  brokerUrl: string
  /** Rows to replay; if absent, loaded from `csvPath`. */
  rows?: readonly AirQualityRow[]
  /** CSV file to load when `rows` is absent; default {@link DEFAULT_CSV_PATH}. */
  csvPath?: string
  /** Sensors to publish, one message each per row; default all 13 of {@link SENSORS}. */
  sensors?: readonly SensorKey[]
  /** Replay rate in rows/s (> 0, fractions allowed); default 1. */
  rowsPerSecond?: number
  /** First row to publish (0-based index into the rows); default 0. */
  startRow?: number
  /** Start again at row 0 after the last row; default true. */
  loop?: boolean
  /** MQTT QoS of every publish; default 0. */
  qos?: 0 | 1
  /** MQTT retain flag of every publish; default false. */
  retain?: boolean
  /** Leading topic level(s); default `trickle`. */
  topicPrefix?: string
  /** Device id, the second topic level and the payload's `device`; default `airquality-uci`. */
  deviceId?: string
  /**
   * The device's secp256k1 private key (0x hex): each reading is published as an envelope signed by
   * it (`signReading`, SPEC.md §Device signatures), which a buyer verifies against the descriptor's
   * device list. Absent: readings are published unsigned.
   */
  deviceKey?: string
  /** MQTT client id; default `trickle-replayer-<random>`. */
  clientId?: string
  /** Delay between reconnection attempts, in ms; default 1000. */
  reconnectPeriodMs?: number
  /** How long to wait for the first connection, in ms; default 10_000. */
  connectTimeoutMs?: number
  /** Timer period, in ms; default `1000 / rowsPerSecond` clamped to 10..100 ms. */
  tickMs?: number
  /** Receives connection and publish errors, which are never thrown; default writes to stderr. */
  onError?: (err: DevicesError) => void
  /** Monotonic clock in ms, injectable for tests; default `performance.now`. */
  clock?: () => number
}

/** A running replayer. */
export type Replayer = {
  /** Rows handed to the MQTT client so far (each is one message per selected sensor). */
  readonly rowsPublished: number
  /** Rows that fell due while the broker was unreachable or the socket was congested, and were skipped. */
  readonly rowsSkipped: number
  /** Index of the next row to publish. */
  readonly nextRow: number
  /** Whether the MQTT connection is currently up. */
  readonly connected: boolean
  /** Resolves when the replay ends: the last row was reached with `loop: false`, or `stop()` was called. */
  readonly done: Promise<void>
  /** Stops the timer and disconnects (flushing in-flight QoS 1 messages for up to 2 s). Idempotent. */
  stop(): Promise<void>
}

/** URL schemes mqtt.js can connect with in Node. */
const BROKER_PROTOCOLS: ReadonlySet<string> = new Set(['mqtt:', 'mqtts:', 'tcp:', 'tls:', 'ws:', 'wss:'])

/** Socket buffer above which rows are skipped rather than queued, in bytes. */
const MAX_WRITE_BUFFER_BYTES = 1 << 20

/**
 * Replays Air Quality rows as live sensors: for each row, one MQTT message per selected sensor on
 * `readingTopic(topicPrefix, deviceId, sensor)`, payload {@link encodeReading}, at `rowsPerSecond`.
 *
 * Pacing: a timer ticks every `tickMs` and publishes every row due by then per {@link rowsDue}
 * (several rows per tick at high rates), so the pace follows elapsed time, not tick count.
 *
 * Disconnection policy: like a real sensor, the replayer does not buffer. Rows that fall due while the
 * broker is unreachable (or while the socket holds more than 1 MiB unsent) are skipped and counted in
 * `rowsSkipped`; after reconnecting it carries on with the row due at that moment. At most one second
 * of rows is published per tick; a longer backlog (a stalled event loop) is skipped too. mqtt.js
 * reconnects every `reconnectPeriodMs`; its offline queue is disabled for QoS 0. Errors go to
 * `onError` and never crash the process.
 *
 * @param options - see {@link ReplayerOptions}; `brokerUrl` is required
 * @returns the running replayer, once the first connection is up
 * @throws DevicesError `REPLAYER_OPTIONS_INVALID` for an out-of-range option; `CSV_READ_FAILED` or
 *   `CSV_MALFORMED` if the rows cannot be loaded; `REPLAYER_CONNECT_FAILED` if the broker is not
 *   reachable within `connectTimeoutMs`
 */
export async function startReplayer(options: ReplayerOptions): Promise<Replayer> {
  const rate = options.rowsPerSecond ?? 1
  const startRow = options.startRow ?? 0
  const sensors = options.sensors ?? SENSORS.map((s) => s.key)
  const qos = options.qos ?? 0
  const retain = options.retain ?? false
  const loop = options.loop ?? true
  const prefix = options.topicPrefix ?? DEFAULT_TOPIC_PREFIX
  const deviceId = options.deviceId ?? DEFAULT_DEVICE_ID
  const deviceKey = options.deviceKey === undefined ? undefined : new SigningKey(options.deviceKey)
  const utf8 = new TextDecoder()
  const reconnectPeriod = options.reconnectPeriodMs ?? 1000
  const connectTimeout = options.connectTimeoutMs ?? 10_000
  const tickMs = options.tickMs ?? Math.min(100, Math.max(10, 1000 / rate))
  const clock = options.clock ?? (() => performance.now())
  const onError =
    options.onError ?? ((err: DevicesError) => process.stderr.write(`[trickle replayer] ${err.message}\n`))

  if (!(Number.isFinite(rate) && rate > 0)) invalid('rowsPerSecond', 'must be a positive number (rows/s)')
  if (sensors.length === 0) invalid('sensors', 'must name at least one sensor')
  for (const s of sensors) if (!isSensorKey(s)) invalid('sensors', `unknown sensor "${String(s)}"`)
  if (qos !== 0 && qos !== 1) invalid('qos', 'must be 0 or 1')
  if (!(tickMs > 0)) invalid('tickMs', 'must be positive (ms)')
  if (!(reconnectPeriod > 0)) invalid('reconnectPeriodMs', 'must be positive (ms)')
  if (deviceId === '' || /[/+#]/.test(deviceId)) invalid('deviceId', 'must be one non-empty topic level')
  if (!BROKER_PROTOCOLS.has(URL.parse(options.brokerUrl)?.protocol ?? '')) {
    invalid('brokerUrl', `must be an ${[...BROKER_PROTOCOLS].join('//, ')}// URL`)
  }

  const rows = options.rows ?? (await loadAirQuality(options.csvPath))
  if (rows.length === 0) invalid('rows', 'must not be empty')
  if (!Number.isInteger(startRow) || startRow < 0 || startRow >= rows.length) {
    invalid('startRow', `must be an integer in 0..${rows.length - 1}`)
  }
  const targets = sensors.map((key) => ({
    info: sensorInfo(key),
    topic: readingTopic(prefix, deviceId, key),
  }))

  const client = connectClient(options, reconnectPeriod, connectTimeout)
  client.on('error', (cause) => {
    onError(new DevicesError('BROKER_ERROR', `MQTT connection error: ${cause.message}`, { cause }))
  })

  try {
    await firstConnect(client, connectTimeout)
  } catch (cause) {
    client.end(true)
    throw new DevicesError('REPLAYER_CONNECT_FAILED', `cannot connect to ${options.brokerUrl}`, {
      facts: { brokerUrl: options.brokerUrl, connectTimeoutMs: connectTimeout },
      cause,
    })
  }

  let rowsPublished = 0
  let rowsSkipped = 0
  let rowsConsumed = 0 // published + skipped since start, compared with rowsDue()
  let nextRow = startRow
  let ended = false
  let resolveDone!: () => void
  const done = new Promise<void>((resolve) => {
    resolveDone = resolve
  })
  const started = clock()
  const maxRowsPerTick = Math.max(1, Math.ceil(rate))

  const finish = (): void => {
    ended = true
    clearInterval(timer)
    resolveDone()
  }

  /** Moves the cursor by `n` rows; returns false when a non-looping replay has run out. */
  const advance = (n: number): boolean => {
    rowsConsumed += n
    const to = nextRow + n
    if (to < rows.length) nextRow = to
    else if (loop) nextRow = to % rows.length
    else {
      nextRow = rows.length
      finish()
      return false
    }
    return true
  }

  const publishRow = (row: AirQualityRow): void => {
    for (const { info, topic } of targets) {
      const reading = encodeReading({
        device: deviceId,
        sensor: info.key,
        column: info.column,
        row: row.index,
        time: row.time,
        value: row.values[info.key],
        unit: info.unit,
      })
      const payload = deviceKey ? signReading(deviceKey, utf8.decode(reading)) : reading
      client.publish(
        topic,
        Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
        { qos, retain },
        (err) => {
          if (err)
            onError(
              new DevicesError('PUBLISH_FAILED', `publish to ${topic} failed: ${err.message}`, {
                cause: err,
              }),
            )
        },
      )
    }
  }

  const tick = (): void => {
    if (ended) return
    const pending = rowsDue(clock() - started, rate) - rowsConsumed
    if (pending <= 0) return
    const writable = client.connected && (client.stream?.writableLength ?? 0) <= MAX_WRITE_BUFFER_BYTES
    const toPublish = writable ? Math.min(pending, maxRowsPerTick) : 0
    for (let i = 0; i < toPublish; i++) {
      const row = rows[nextRow]!
      try {
        publishRow(row)
      } catch (cause) {
        onError(new DevicesError('PUBLISH_FAILED', `row ${row.index} could not be published`, { cause }))
      }
      rowsPublished++
      if (!advance(1)) return
    }
    const toSkip = pending - toPublish
    if (toSkip > 0) {
      const before = rowsConsumed
      advance(toSkip)
      rowsSkipped += rowsConsumed - before
    }
  }

  const timer: ReturnType<typeof setInterval> = setInterval(tick, tickMs)
  tick()

  let stopping: Promise<void> | undefined
  return {
    get rowsPublished() {
      return rowsPublished
    },
    get rowsSkipped() {
      return rowsSkipped
    },
    get nextRow() {
      return nextRow
    },
    get connected() {
      return client.connected
    },
    done,
    stop() {
      stopping ??= (async () => {
        if (!ended) finish()
        await endClient(client)
      })()
      return stopping
    },
  }
}

function invalid(option: string, reason: string): never {
  throw new DevicesError('REPLAYER_OPTIONS_INVALID', `${option}: ${reason}`, { facts: { option } })
}

function firstConnect(client: mqtt.MqttClient, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('connect', onConnect)
      reject(new Error(`no connection after ${timeoutMs} ms`))
    }, timeoutMs)
    const onConnect = (): void => {
      clearTimeout(timer)
      resolve()
    }
    client.once('connect', onConnect)
  })
}

async function endClient(client: mqtt.MqttClient): Promise<void> {
  await new Promise<void>((resolve) => {
    const force = setTimeout(() => client.end(true, {}, () => resolve()), 2000)
    client.end(!client.connected, {}, () => {
      clearTimeout(force)
      resolve()
    })
  })
}

function connectClient(
  options: ReplayerOptions,
  reconnectPeriod: number,
  connectTimeout: number,
): mqtt.MqttClient {
  return mqtt.connect(options.brokerUrl, {
    clientId: options.clientId ?? `trickle-replayer-${Math.random().toString(16).slice(2, 10)}`,
    reconnectPeriod,
    connectTimeout,
    queueQoSZero: false,
    clean: true,
  })
}
