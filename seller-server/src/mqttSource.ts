import mqtt, { type MqttClient } from 'mqtt'
import { subscriptionFilters, topicFilterProblem, topicMatches } from './topicFilter.ts'

/**
 * Receives each message's payload bytes and its position in the product's feed: 0, 1, 2, … per
 * product since the source started.
 */
export type ChunkListener = (payload: Uint8Array, position: number) => void

/** How much of each product's recent feed a source keeps for resumed sessions. */
export interface ReplayLimits {
  /** messages kept per product; default 4,096 */
  maxChunks: number
  /** payload bytes kept per product; default 4 MiB */
  maxBytes: number
}

/** Default {@link ReplayLimits}: 4,096 messages or 4 MiB per product, whichever is reached first. */
export const DEFAULT_REPLAY_LIMITS: ReplayLimits = { maxChunks: 4096, maxBytes: 4 * 1024 * 1024 }

/**
 * The bridge from MQTT topics to products: one broker connection, subscriptions for every product's
 * topics, and fan-out of each message to the sessions streaming that product. A broker that drops is
 * reconnected (mqtt.js) and subscriptions are restored; messages published meanwhile are missed
 * (QoS 0 live data), never replayed late.
 *
 * Each product keeps a bounded replay buffer of its latest messages ({@link ReplayLimits}), so that a
 * buyer resuming a channel gets the readings published while it was away, as long as they are held.
 */
export interface MqttSource {
  /**
   * Adds a listener for a product's topics.
   * @param after - replay first every held message after this position (a resumed session's last
   *   paid reading), in order, then go live; when the buffer no longer reaches back that far, replay
   *   starts at its oldest message. Absent: live messages only.
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
  /** broker errors (the source keeps reconnecting) */
  onError?: (err: Error) => void
  /** size of each product's replay buffer (default {@link DEFAULT_REPLAY_LIMITS}) */
  replay?: ReplayLimits
  /** MQTT CONNECT user name */
  username?: string
  /** MQTT CONNECT password */
  password?: string
  tls?: BrokerTls
  /** ms to wait for the broker's CONNACK (default 5 000) */
  connectTimeoutMs?: number
}

/**
 * Connects to the broker and subscribes to every topic filter of every product. Filters may hold the
 * MQTT wildcards `+` (one level) and `#` (the rest, the parent level included): each message is
 * routed to every product with a filter that matches its topic ({@link topicMatches}), once per
 * product even when several of its filters match. The broker subscriptions are the products' filters
 * merged so that none overlaps another ({@link subscriptionFilters}), so a broker that sends one copy
 * per matching subscription still delivers each message once.
 *
 * @param brokerUrl - e.g. `mqtt://127.0.0.1:1883`, `mqtts://broker.example:8883`
 * @param topicsByProduct - product key → MQTT topic filters
 * @param options - credentials, TLS, the replay buffer and an error listener; a function here is the
 *   error listener (the older signature `(brokerUrl, topics, onError, replay)`)
 * @param replay - size of each product's replay buffer, with the older signature
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
  const tls = opts.tls ?? {}
  const client: MqttClient = await mqtt.connectAsync(brokerUrl, {
    reconnectPeriod: 500,
    connectTimeout: opts.connectTimeoutMs ?? 5_000,
    clientId: `trickle-seller-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
    clean: true,
    ...(opts.username === undefined ? {} : { username: opts.username }),
    ...(opts.password === undefined ? {} : { password: opts.password }),
    ...(tls.ca === undefined ? {} : { ca: toBuffer(tls.ca) }),
    ...(tls.cert === undefined ? {} : { cert: toBuffer(tls.cert) }),
    ...(tls.key === undefined ? {} : { key: toBuffer(tls.key) }),
    ...(tls.servername === undefined ? {} : { servername: tls.servername }),
    ...(tls.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: tls.rejectUnauthorized }),
  })
  client.on('error', opts.onError ?? (() => {}))
  const listeners = new Map<string, Set<ChunkListener>>()
  const feeds = new Map<string, Feed>()
  for (const product of topicsByProduct.keys()) {
    listeners.set(product, new Set())
    feeds.set(product, new Feed(limits))
  }
  const route = topicRouter(topicsByProduct)
  const subscriptions = subscriptionFilters([...topicsByProduct.values()].flat())
  if (subscriptions.length > 0) await client.subscribeAsync(subscriptions, { qos: 0 })
  client.on('message', (topic, payload) => {
    for (const product of route(topic)) {
      const position = feeds.get(product)!.push(payload)
      for (const listener of listeners.get(product) ?? []) listener(payload, position)
    }
  })
  return {
    listen(productKey, listener, after) {
      const set = listeners.get(productKey)
      if (!set) throw new Error(`no MQTT topics for product ${productKey}`)
      if (after === undefined) {
        set.add(listener)
        return () => set.delete(listener)
      }
      // Replay in a microtask: before any later MQTT message (a macrotask), after the caller returns.
      const held = feeds.get(productKey)!.since(after + 1)
      let removed = false
      queueMicrotask(() => {
        for (const { position, payload } of held) {
          if (removed) return
          listener(payload, position)
        }
        if (!removed) set.add(listener)
      })
      return () => {
        removed = true
        set.delete(listener)
      }
    },
    get connected() {
      return client.connected
    },
    async close() {
      await client.endAsync(true)
    },
  }
}

/** One product's recent messages: a ring bounded by count and bytes, oldest dropped first. */
class Feed {
  private readonly items: { position: number; payload: Uint8Array }[] = []
  private start = 0
  private bytes = 0
  private next = 0
  private readonly limits: ReplayLimits

  constructor(limits: ReplayLimits) {
    this.limits = limits
  }

  /** Appends a message; returns its position. */
  push(payload: Uint8Array): number {
    const position = this.next++
    this.items.push({ position, payload })
    this.bytes += payload.byteLength
    while (
      this.items.length - this.start > this.limits.maxChunks ||
      (this.bytes > this.limits.maxBytes && this.items.length - this.start > 1)
    ) {
      this.bytes -= this.items[this.start]!.payload.byteLength
      this.items[this.start++] = undefined as never
    }
    // Compact now and then, so that dropping the oldest stays O(1) amortized.
    if (this.start > 1024 && this.start * 2 > this.items.length) {
      this.items.splice(0, this.start)
      this.start = 0
    }
    return position
  }

  /** Held messages from `position` on (from the oldest held when it is older), in order. */
  since(position: number): { position: number; payload: Uint8Array }[] {
    const oldest = this.items[this.start]?.position ?? this.next
    const from = this.start + Math.max(0, position - oldest)
    return this.items.slice(from)
  }
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
