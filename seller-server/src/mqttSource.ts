import mqtt, { type MqttClient } from 'mqtt'
import { openReadingStore, type Reading, type ReadingStore } from './readingStore.ts'
import { subscriptionFilters, topicFilterProblem, topicMatches } from './topicFilter.ts'

/**
 * Receives each message's payload bytes and its position in the product's feed: 0, 1, 2, … per
 * product, continued across restarts (the {@link ReadingStore} numbers them).
 */
export type ChunkListener = (payload: Uint8Array, position: number) => void

/** How much of a product's recorded feed a resumed session is replayed. */
export interface ReplayLimits {
  /** readings replayed at most (the latest after the resume point); default 4,096 */
  maxChunks: number
  /** payload bytes replayed at most; default 4 MiB */
  maxBytes: number
}

/** Default {@link ReplayLimits}: 4,096 readings or 4 MiB, whichever is reached first. */
export const DEFAULT_REPLAY_LIMITS: ReplayLimits = { maxChunks: 4096, maxBytes: 4 * 1024 * 1024 }

/**
 * The bridge from MQTT topics to products: one broker connection, subscriptions for every product's
 * topics at QoS 1, and fan-out of each message to the sessions streaming that product.
 *
 * Each message is recorded in the {@link ReadingStore} before it is acknowledged to the broker and
 * handed to the sessions. With a fixed client id the source keeps a persistent MQTT session
 * (`clean: false`): messages published at QoS 1 while it reconnects or restarts are queued by the
 * broker and delivered when it is back, and a message recorded but not acknowledged before a crash is
 * redelivered (DUP) and dropped as a duplicate (see `seller-server/README.md` §Readings).
 */
export interface MqttSource {
  /**
   * Adds a listener for a product's topics.
   * @param after - replay first the recorded readings after this feed position (a resumed session's
   *   last paid reading), in order, then go live, without a gap or a repeat between the two; at most
   *   {@link ReplayLimits} of them, the latest. Absent: live messages only.
   * @returns a function that removes it
   */
  listen(productKey: string, listener: ChunkListener, after?: number): () => void
  readonly connected: boolean
  close(): Promise<void>
}

/** TLS settings of the broker connection (mqtts:// or wss://); file contents, not paths. */
export interface BrokerTls {
  /** CA certificate(s), PEM: the broker's certificate must chain to one of them (default: Node's CAs) */
  ca?: string | Uint8Array
  /** client certificate, PEM, for brokers that authenticate clients by certificate */
  cert?: string | Uint8Array
  /** the client certificate's private key, PEM */
  key?: string | Uint8Array
  /** the name the broker's certificate must carry (SNI), when it differs from the URL's host */
  servername?: string
  /** verify the broker's certificate (default true); false accepts any certificate — tests only */
  rejectUnauthorized?: boolean
}

/** Options of {@link connectMqttSource}. */
export interface MqttSourceOptions {
  /** broker errors (the source keeps reconnecting) and failed recordings */
  onError?: (err: Error) => void
  /** how much a resumed session is replayed (default {@link DEFAULT_REPLAY_LIMITS}) */
  replay?: ReplayLimits
  /**
   * where readings are recorded before they are acknowledged (default: an in-memory store, so
   * nothing survives the process)
   */
  readings?: ReadingStore
  /**
   * MQTT client id of a persistent session (`clean: false`): the broker keeps the subscriptions and
   * queues QoS 1 messages while the source is away. It must be this seller's own, the same at every
   * start (see `sellerClientId`). Absent: a random id and a clean session
   */
  clientId?: string
  /** MQTT CONNECT user name */
  username?: string
  /** MQTT CONNECT password */
  password?: string
  tls?: BrokerTls
  /** ms to wait for the broker's CONNACK (default 5 000) */
  connectTimeoutMs?: number
}

/**
 * Connects to the broker and subscribes to every topic filter of every product at QoS 1. Filters may
 * hold the MQTT wildcards `+` (one level) and `#` (the rest, the parent level included): each message
 * is routed to every product with a filter that matches its topic ({@link topicMatches}), once per
 * product even when several of its filters match. The broker subscriptions are the products' filters
 * merged so that none overlaps another ({@link subscriptionFilters}), so a broker that sends one copy
 * per matching subscription still delivers each message once.
 *
 * A message is recorded (one transaction for all its products) before mqtt.js acknowledges it: the
 * source overrides `MqttClient.handleMessage`, which mqtt.js 5 calls for a QoS 1 PUBLISH after
 * emitting `message` and before it sends the PUBACK, and sends it only once the callback is called
 * without an error (`node_modules/mqtt/build/lib/handlers/publish.js`, `case 1`). mqtt.js handles the
 * next packet only after that, so readings are recorded and delivered in the broker's order. A
 * recording that fails is not acknowledged: the connection is dropped so that the broker redelivers it.
 *
 * @param brokerUrl - e.g. `mqtt://127.0.0.1:1883`, `mqtts://broker.example:8883`
 * @param topicsByProduct - product key → MQTT topic filters
 * @param options - credentials, TLS, the store, the client id, replay limits and an error listener; a
 *   function here is the error listener (the older signature `(brokerUrl, topics, onError, replay)`)
 * @param replay - replay limits, with the older signature
 * @throws Error when a filter is not a valid MQTT topic filter, or mqtt.js' connection error
 */
export async function connectMqttSource(
  brokerUrl: string,
  topicsByProduct: ReadonlyMap<string, readonly string[]>,
  options: MqttSourceOptions | ((err: Error) => void) = {},
  replay?: ReplayLimits,
): Promise<MqttSource> {
  const opts: MqttSourceOptions = typeof options === 'function' ? { onError: options } : options
  const limits = replay ?? opts.replay ?? DEFAULT_REPLAY_LIMITS
  for (const [product, filters] of topicsByProduct) {
    for (const filter of filters) {
      const problem = topicFilterProblem(filter)
      if (problem) throw new Error(`product ${product}: topic filter "${filter}" ${problem}`)
    }
  }
  const ownStore = opts.readings === undefined
  const store = opts.readings ?? openReadingStore(':memory:')
  const onError = opts.onError ?? (() => {})
  const tls = opts.tls ?? {}
  const client: MqttClient = mqtt.connect(brokerUrl, {
    reconnectPeriod: 500,
    connectTimeout: opts.connectTimeoutMs ?? 5_000,
    clientId: opts.clientId ?? `trickle-seller-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
    clean: opts.clientId === undefined,
    // The source subscribes itself, at every connect where the broker did not keep them (below).
    resubscribe: false,
    ...(opts.username === undefined ? {} : { username: opts.username }),
    ...(opts.password === undefined ? {} : { password: opts.password }),
    ...(tls.ca === undefined ? {} : { ca: toBuffer(tls.ca) }),
    ...(tls.cert === undefined ? {} : { cert: toBuffer(tls.cert) }),
    ...(tls.key === undefined ? {} : { key: toBuffer(tls.key) }),
    ...(tls.servername === undefined ? {} : { servername: tls.servername }),
    ...(tls.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: tls.rejectUnauthorized }),
  })
  const listeners = new Map<string, Set<Subscriber>>()
  for (const product of topicsByProduct.keys()) listeners.set(product, new Set())
  const route = topicRouter(topicsByProduct)
  // Record first, then hand out, then acknowledge (see the TSDoc above). Messages that a persistent
  // session queued may arrive right after CONNACK, before `connect` resolves: they are handled here too.
  client.handleMessage = (packet, callback) => {
    if (packet.cmd !== 'publish') return callback()
    const topic = packet.topic.toString()
    const payload = toBytes(packet.payload)
    const products = route(topic)
    let positions: Map<string, number>
    try {
      positions = store.record(
        products,
        {
          topic,
          payload,
          packetId: packet.qos > 0 ? packet.messageId : undefined,
          dup: packet.dup,
        },
        Date.now(),
      )
    } catch (err) {
      onError(err as Error)
      // No PUBACK: reconnect, so that the broker sends it again.
      client.stream.destroy()
      return
    }
    for (const [product, position] of positions) {
      for (const subscriber of listeners.get(product) ?? []) subscriber.offer(payload, position)
    }
    callback()
  }
  const subscriptions = subscriptionFilters([...topicsByProduct.values()].flat())
  const clientId = opts.clientId
  /**
   * Subscribes at QoS 1, unless the broker kept this persistent session with these very filters:
   * subscribing again makes a broker send each matching topic's retained message anew (MQTT 3.1.1
   * §3.3.1.3), which would be recorded as a new reading at every start.
   */
  const subscribe = async (sessionPresent: boolean) => {
    if (subscriptions.length === 0) return
    if (
      clientId !== undefined &&
      sessionPresent &&
      sameFilters(store.sessionFilters(clientId), subscriptions)
    ) {
      return
    }
    await client.subscribeAsync(subscriptions, { qos: 1 })
    if (clientId !== undefined) store.recordSessionFilters(clientId, subscriptions)
  }
  try {
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
      const connected = (packet: { sessionPresent: boolean }) => {
        client.off('error', failed)
        resolve(packet)
      }
      const failed = (err: Error) => {
        client.off('connect', connected)
        reject(err)
      }
      client.once('connect', connected)
      client.once('error', failed)
    })
    await subscribe(connack.sessionPresent)
  } catch (err) {
    await client.endAsync(true)
    if (ownStore) store.close()
    throw err
  }
  client.on('error', onError)
  client.on('connect', (packet) => {
    subscribe(packet.sessionPresent).catch((err: unknown) => onError(err as Error))
  })
  return {
    listen(productKey, listener, after) {
      const set = listeners.get(productKey)
      if (!set) throw new Error(`no MQTT topics for product ${productKey}`)
      if (after === undefined) {
        const subscriber: Subscriber = { offer: listener }
        set.add(subscriber)
        return () => set.delete(subscriber)
      }
      // Read what is recorded and subscribe in one synchronous step: every later reading reaches the
      // subscriber, and is held until the replay is delivered (in a microtask, after the caller
      // returns); a position is delivered once.
      const held = replayable(store.readAfter(productKey, after, limits.maxChunks), limits.maxBytes)
      let last = held.at(-1)?.position ?? after
      let waiting: { payload: Uint8Array; position: number }[] | undefined = []
      let removed = false
      const subscriber: Subscriber = {
        offer(payload, position) {
          if (waiting) waiting.push({ payload, position })
          else if (position > last) {
            last = position
            listener(payload, position)
          }
        },
      }
      set.add(subscriber)
      queueMicrotask(() => {
        for (const { position, payload } of held) {
          if (removed) return
          listener(payload, position)
        }
        const live = waiting ?? []
        waiting = undefined
        for (const { payload, position } of live) {
          if (removed) return
          if (position > last) {
            last = position
            listener(payload, position)
          }
        }
      })
      return () => {
        removed = true
        set.delete(subscriber)
      }
    },
    get connected() {
      return client.connected
    },
    async close() {
      await client.endAsync(true)
      if (ownStore) store.close()
    },
  }
}

/** A listener of a product, fed through {@link Subscriber.offer}. */
interface Subscriber {
  offer(payload: Uint8Array, position: number): void
}

/** The latest readings of `readings` (in order) whose payloads add up to at most `maxBytes` (one at least). */
function replayable(readings: Reading[], maxBytes: number): Reading[] {
  let bytes = 0
  let from = readings.length
  while (from > 0) {
    bytes += readings[from - 1]!.payload.byteLength
    if (bytes > maxBytes && from < readings.length) break
    from--
  }
  return readings.slice(from)
}

/** Distinct topic names whose routes a source remembers; past it the memory starts over. */
const MAX_ROUTED_TOPICS = 4096

/**
 * The products each topic name goes to, each product once, in the order of `topicsByProduct`.
 * Exact filters are looked up directly; wildcard filters are matched once per topic name and the
 * answer kept (a bounded memory: a broker can publish on any number of topics).
 */
export function topicRouter(
  topicsByProduct: ReadonlyMap<string, readonly string[]>,
): (topic: string) => readonly string[] {
  const products = [...topicsByProduct.entries()]
  const routes = new Map<string, readonly string[]>()
  return (topic) => {
    let route = routes.get(topic)
    if (route === undefined) {
      route = products.filter(([, filters]) => filters.some((f) => topicMatches(f, topic))).map(([p]) => p)
      if (routes.size >= MAX_ROUTED_TOPICS) routes.clear()
      routes.set(topic, route)
    }
    return route
  }
}

function toBuffer(value: string | Uint8Array): Buffer {
  return typeof value === 'string'
    ? Buffer.from(value)
    : Buffer.from(value.buffer, value.byteOffset, value.byteLength)
}

function toBytes(payload: Buffer | string): Uint8Array {
  return typeof payload === 'string' ? new TextEncoder().encode(payload) : payload
}

/** Whether two lists hold the same topic filters, in any order. */
function sameFilters(a: readonly string[] | undefined, b: readonly string[]): boolean {
  if (a === undefined || a.length !== b.length) return false
  const held = new Set(a)
  return b.every((f) => held.has(f))
}
