import mqtt, { type MqttClient } from 'mqtt'

/** Receives each message's payload bytes. */
export type ChunkListener = (payload: Uint8Array) => void

/**
 * The bridge from MQTT topics to products: one broker connection, subscriptions for every product's
 * topics, and fan-out of each message to the sessions streaming that product. A broker that drops is
 * reconnected (mqtt.js) and subscriptions are restored; messages published meanwhile are missed
 * (QoS 0 live data), never replayed late.
 */
export interface MqttSource {
  /**
   * Adds a listener for a product's topics.
   * @returns a function that removes it
   */
  listen(productKey: string, listener: ChunkListener): () => void
  readonly connected: boolean
  close(): Promise<void>
}

/**
 * Connects to the broker and subscribes to every topic of every product.
 * @param brokerUrl - e.g. `mqtt://127.0.0.1:1883`
 * @param topicsByProduct - product key → MQTT topic filters
 * @param onError - broker errors (the source keeps reconnecting)
 */
export async function connectMqttSource(
  brokerUrl: string,
  topicsByProduct: ReadonlyMap<string, readonly string[]>,
  onError: (err: Error) => void = () => {},
): Promise<MqttSource> {
  const client: MqttClient = await mqtt.connectAsync(brokerUrl, {
    reconnectPeriod: 500,
    connectTimeout: 5_000,
    clientId: `trickle-seller-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
    clean: true,
  })
  client.on('error', onError)
  const listeners = new Map<string, Set<ChunkListener>>()
  const productsByTopic = new Map<string, string[]>()
  for (const [product, topics] of topicsByProduct) {
    listeners.set(product, new Set())
    for (const topic of topics) productsByTopic.set(topic, [...(productsByTopic.get(topic) ?? []), product])
  }
  const topics = [...productsByTopic.keys()]
  if (topics.length > 0) await client.subscribeAsync(topics, { qos: 0 })
  client.on('message', (topic, payload) => {
    for (const product of productsByTopic.get(topic) ?? []) {
      for (const listener of listeners.get(product) ?? []) listener(payload)
    }
  })
  return {
    listen(productKey, listener) {
      const set = listeners.get(productKey)
      if (!set) throw new Error(`no MQTT topics for product ${productKey}`)
      set.add(listener)
      return () => set.delete(listener)
    },
    get connected() {
      return client.connected
    },
    async close() {
      await client.endAsync(true)
    },
  }
}
