import { ChannelStatus, type ChannelView } from '@trickle/contracts'
import { LRUCache } from 'lru-cache'

/** Where channels are read from: `StreamChannels.getChannel` (one `eth_call` per read). */
export interface ChannelReader {
  /** @throws whatever the chain client throws (the caller maps it to `CHAIN_UNAVAILABLE`) */
  getChannel(channelId: string): Promise<ChannelView>
}

/** Options of {@link cacheChannelReads}. */
export interface ChannelReadCacheOptions {
  /** ms a channel read is reused */
  ttlMs: number
  /** ms an unknown channel id (status none) is remembered as unknown */
  unknownTtlMs: number
  /** reads kept at once; the least recently used go first */
  maxEntries: number
  /**
   * ms a read must be old before {@link ChannelReadCache.getFreshChannel} reads the channel again
   * (default 250): however often it is asked, one channel costs at most one chain read per this long
   */
  minRefreshAgeMs?: number
  /** ms clock for the TTLs (default `performance`); for tests */
  clock?: { now(): number }
}

/** What a {@link ChannelReadCache} saved, since its start. */
export interface ChannelReadStats {
  /** answered from the cache, or by joining a read already in flight */
  hits: number
  /** read from the chain */
  reads: number
  /** chain reads that failed (not cached) */
  failures: number
  /** reads cached now */
  entries: number
}

/** A {@link ChannelReader} that reuses recent reads. */
export interface ChannelReadCache extends ChannelReader {
  readonly stats: ChannelReadStats
  /** Drops a cached read, e.g. when the channel's payer requested close. */
  forget(channelId: string): void
  /**
   * Reads the channel again unless the cached read is younger than `minRefreshAgeMs`: for a view that
   * would refuse a buyer (its deposit looks spent) and may be stale (a top-up within the TTL).
   * @throws like {@link ChannelReader.getChannel}
   */
  getFreshChannel(channelId: string): Promise<ChannelView>
}

/**
 * Caches channel reads so that `hello`s cost the chain at most one read per channel per TTL:
 * concurrent reads of one channel share one call, a known channel is reused for `ttlMs`, an unknown
 * one (status none: a random or mistyped id) for `unknownTtlMs`. A failed read is not cached.
 *
 * Trade-offs: a channel's deposit, status and signers may be up to `ttlMs` old when a session starts
 * (top-ups and closes show later; the settlement worker's `closeRequested` should {@link
 * ChannelReadCache.forget} the channel), and a channel opened right after someone asked for its id
 * (ids are predictable) is seen as unknown for up to `unknownTtlMs`: keep that short.
 *
 * @param source - the uncached reader (the StreamChannels contract)
 * @returns the caching reader; `stats` counts hits and chain reads
 */
export function cacheChannelReads(source: ChannelReader, options: ChannelReadCacheOptions): ChannelReadCache {
  const stats = { hits: 0, reads: 0, failures: 0 }
  const cache = new LRUCache<string, ChannelView>({
    max: Math.max(1, options.maxEntries),
    ttl: Math.max(1, options.ttlMs),
    ...(options.clock ? { perf: options.clock, ttlResolution: 0 } : {}),
    fetchMethod: async (channelId, _stale, { options: entry }) => {
      stats.reads++
      let view: ChannelView
      try {
        view = await source.getChannel(channelId)
      } catch (err) {
        stats.failures++
        throw err
      }
      if (view.status === ChannelStatus.none) entry.ttl = Math.max(1, options.unknownTtlMs)
      return view
    },
  })
  return {
    async getChannel(channelId) {
      const status: LRUCache.Status<string, ChannelView> = {}
      const view = await cache.fetch(channelId.toLowerCase(), { status })
      if (status.fetch === 'hit' || status.fetch === 'inflight') stats.hits++
      if (view === undefined) throw new Error(`channel ${channelId} could not be read`)
      return view
    },
    forget(channelId) {
      cache.delete(channelId.toLowerCase())
    },
    async getFreshChannel(channelId) {
      const key = channelId.toLowerCase()
      const ttl = Math.max(1, options.ttlMs)
      const age = cache.has(key) ? ttl - cache.getRemainingTTL(key) : Number.POSITIVE_INFINITY
      const status: LRUCache.Status<string, ChannelView> = {}
      const view = await cache.fetch(key, { status, forceRefresh: age >= (options.minRefreshAgeMs ?? 250) })
      if (status.fetch === 'hit' || status.fetch === 'inflight') stats.hits++
      if (view === undefined) throw new Error(`channel ${channelId} could not be read`)
      return view
    },
    get stats() {
      return { ...stats, entries: cache.size }
    },
  }
}
