import mqtt, { type MqttClient } from 'mqtt'

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

/**
 * Connects to the broker and subscribes to every topic of every product.
 * @param brokerUrl - e.g. `mqtt://127.0.0.1:1883`
 * @param topicsByProduct - product key → MQTT topic filters
 * @param onError - broker errors (the source keeps reconnecting)
 * @param replay - size of each product's replay buffer (messages, bytes)
 */
export async function connectMqttSource(
  brokerUrl: string,
  topicsByProduct: ReadonlyMap<string, readonly string[]>,
  onError: (err: Error) => void = () => {},
  replay: ReplayLimits = DEFAULT_REPLAY_LIMITS,
): Promise<MqttSource> {
  const client: MqttClient = await mqtt.connectAsync(brokerUrl, {
    reconnectPeriod: 500,
    connectTimeout: 5_000,
    clientId: `trickle-seller-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
    clean: true,
  })
  client.on('error', onError)
  const listeners = new Map<string, Set<ChunkListener>>()
  const feeds = new Map<string, Feed>()
  const productsByTopic = new Map<string, string[]>()
  for (const [product, topics] of topicsByProduct) {
    listeners.set(product, new Set())
    feeds.set(product, new Feed(replay))
    for (const topic of topics) productsByTopic.set(topic, [...(productsByTopic.get(topic) ?? []), product])
  }
  const topics = [...productsByTopic.keys()]
  if (topics.length > 0) await client.subscribeAsync(topics, { qos: 0 })
  client.on('message', (topic, payload) => {
    for (const product of productsByTopic.get(topic) ?? []) {
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
