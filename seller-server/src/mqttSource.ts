import mqtt, { type MqttClient } from 'mqtt'
import { openReadingStore, type ReadingStore } from './readingStore.ts'
import { subscriptionFilters, topicFilterProblem, topicMatches } from './topicFilter.ts'

/**
 * Receives each message's payload bytes and its position in the product's feed: 0, 1, 2, … per
 * product, continued across restarts (the {@link ReadingStore} numbers them).
 */
export type ChunkListener = (payload: Uint8Array, position: number) => void

/**
 * A span of a product's feed to deliver (see {@link MqttSource.feed}): the recorded readings after
 * `after`, up to `through`, and then, when `live`, each live reading as it arrives.
 */
export interface FeedSpan {
  /** deliver the recorded readings after this feed position (−1: from the oldest held) */
  after: number
  /** the last recorded position to deliver, inclusive; absent: up to the latest */
  through?: number
  /** once the recorded readings are delivered, go on with live ones, with no gap and no repeat */
  live: boolean
}

/**
 * A product's readings delivered on demand: recorded ones as they are pulled (so a slow buyer never
 * makes the seller hold more than it pulls), then, for a live span, each live reading as it arrives.
 */
export interface Feed {
  /**
   * Delivers up to `max` more recorded readings to the listener, synchronously and in order. When
   * none is left, a live feed subscribes to the product's live readings in the same step (so none is
   * missed or repeated) and a finite one is over.
   * @returns readings delivered
   * @throws TrickleError `STORE_FAILED` when the reading store cannot be read
   */
  pull(max: number): number
  /** no recorded reading is left to pull: the feed is live now, or, finite, over */
  readonly caughtUp: boolean
  /** stops delivering (idempotent) */
  close(): void
}

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
   * Adds a listener for a product's live messages.
   * @returns a function that removes it
   * @throws Error when the source has no topics for `productKey`
   */
  listen(productKey: string, listener: ChunkListener): () => void
  /**
   * Opens a feed of a product's recorded readings (from the {@link ReadingStore}), paced by
   * {@link Feed.pull}, and then, for a live span, its live messages.
   * @throws Error when the source has no topics for `productKey`
   */
  feed(productKey: string, listener: ChunkListener, span: FeedSpan): Feed
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
 * @param options - credentials, TLS, the store, the client id and an error listener; a function here
 *   is the error listener (the older signature `(brokerUrl, topics, onError)`)
 * @throws Error when a filter is not a valid MQTT topic filter, or mqtt.js' connection error
 */
export async function connectMqttSource(
  brokerUrl: string,
  topicsByProduct: ReadonlyMap<string, readonly string[]>,
  options: MqttSourceOptions | ((err: Error) => void) = {},
): Promise<MqttSource> {
  const opts: MqttSourceOptions = typeof options === 'function' ? { onError: options } : options
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
  const subscribersOf = (productKey: string) => {
    const set = listeners.get(productKey)
    if (!set) throw new Error(`no MQTT topics for product ${productKey}`)
    return set
  }
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
    listen(productKey, listener) {
      const set = subscribersOf(productKey)
      const subscriber: Subscriber = { offer: listener }
      set.add(subscriber)
      return () => set.delete(subscriber)
    },
    feed(productKey, listener, span) {
      const set = subscribersOf(productKey)
      const through = span.through ?? Number.MAX_SAFE_INTEGER
      let last = span.after
      let caughtUp = false
      let closed = false
      // Live readings reach the listener once the recorded ones are delivered, each position once.
      const live: Subscriber = {
        offer(payload, position) {
          if (closed || position <= last) return
          last = position
          listener(payload, position)
        },
      }
      return {
        pull(max) {
          if (closed || caughtUp || max <= 0) return 0
          const page = store.readPage(productKey, last, through, max)
          for (const reading of page) {
            if (closed) break
            last = reading.position
            listener(reading.payload, reading.position)
          }
          // Read to the end and subscribed in one synchronous step: no message is recorded between.
          if (page.length < max && !closed) {
            caughtUp = true
            if (span.live) set.add(live)
          }
          return page.length
        },
        get caughtUp() {
          return caughtUp
        },
        close() {
          closed = true
          set.delete(live)
        },
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
