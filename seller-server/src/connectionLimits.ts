import type { ErrorCode } from '@trickle/protocol'
import { LRUCache } from 'lru-cache'

/** A token bucket's rate: `perSecond` tokens refill each second, at most `burst` are held. */
export interface RateLimit {
  /** sustained rate, tokens (frames, bytes or hellos) per second */
  perSecond: number
  /** bucket size: what may be taken at once after a quiet spell, tokens */
  burst: number
}

/**
 * What one seller server lets its clients use, at the TCP, HTTP and WebSocket levels. Connections
 * are counted per client address: the IPv4 address, or the /64 prefix of an IPv6 address (one
 * subscriber's allocation; see {@link clientKey}). Behind a reverse proxy every client has the proxy's
 * address: raise the per-address limits there, or let the proxy enforce its own.
 *
 * Inbound rates are token buckets kept per connection, per client address and for the whole server;
 * a frame or `hello` that finds any of its buckets empty ends the connection with `error
 * RATE_LIMITED` and `close resource_limit`.
 */
export interface ConnectionLimits {
  /** TCP connections open at once from one client address (HTTP and WebSocket alike); more get HTTP 429 */
  maxConnectionsPerIp: number
  /** TCP connections open at once in total; more get HTTP 503 */
  maxConnections: number
  /**
   * ms a connection may take to send complete request headers (a WebSocket upgrade included),
   * counted from its accept: a connection that sends nothing is dropped after it (HTTP 408)
   */
  headersTimeoutMs: number
  /** ms a connection may take to send a whole request (≥ `headersTimeoutMs`) */
  requestTimeoutMs: number
  /** ms a kept-alive HTTP connection may sit idle between requests */
  keepAliveTimeoutMs: number
  /**
   * ms a WebSocket connection has to send `hello` once open; frames (pings, pongs) do not extend it
   * (`error HELLO_TIMEOUT`, SPEC.md §Resource limits)
   */
  helloTimeoutMs: number
  /**
   * largest frame a buyer may send, bytes: buyer→seller frames are small (a `receipt`, the largest,
   * is about 170 bytes), so this bounds what decoding a frame full of ignored keys costs; above it
   * the seller answers `FRAME_TOO_LARGE` without decoding
   */
  maxInboundFrameBytes: number
  /**
   * the WebSocket layer's message limit (`maxPayload`), bytes: above it ws closes the connection
   * with 1009 without reading on; between `maxInboundFrameBytes` and this the buyer gets the
   * protocol's `FRAME_TOO_LARGE` answer
   */
  maxMessageBytes: number
  /**
   * bytes that frames other than chunks (pongs, errors, pings…) may add to a session's send buffer
   * above the highest point chunks took it to (itself bounded by the product policy's
   * `maxBufferedBytes`); past it the session ends with `SEND_BUFFER_FULL`
   */
  sendBufferAllowanceBytes: number
  /** inbound frames of one connection */
  framesPerConnection: RateLimit
  /** inbound frames of all connections of one client address */
  framesPerIp: RateLimit
  /** inbound frames of the whole server */
  framesTotal: RateLimit
  /** inbound frame bytes of one connection */
  bytesPerConnection: RateLimit
  /** inbound frame bytes of one client address */
  bytesPerIp: RateLimit
  /** inbound frame bytes of the whole server */
  bytesTotal: RateLimit
  /** `hello`s (each may cost a chain read) of one client address */
  hellosPerIp: RateLimit
  /** `hello`s of the whole server */
  hellosTotal: RateLimit
  /** client addresses without an open connection whose buckets are remembered (least recent forgotten) */
  trackedIps: number
  /** ms a channel read from the chain is reused by later `hello`s */
  channelCacheTtlMs: number
  /** ms an unknown channel id (status none) is remembered as unknown */
  unknownChannelCacheTtlMs: number
  /** channel reads kept at once */
  channelCacheEntries: number
}

/**
 * Default limits. A buyer session needs one connection and sends a few frames a second (a receipt
 * every `receiptEvery` chunks, pongs); the per-connection rates leave room for receipts at every
 * chunk of a 200 chunks/s feed. A connection sending nothing is dropped after 5 s. One address may
 * start 20 sessions a second (100 at once), so an unknown channel id costs at most 20 chain reads a
 * second per address and 200 in total; ten busy addresses take the server's whole frame budget
 * (20,000 frames/s, a fraction of a core at the ~10 µs a small frame costs to decode and answer).
 */
export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  maxConnectionsPerIp: 64,
  maxConnections: 2048,
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  helloTimeoutMs: 5_000,
  maxInboundFrameBytes: 4 * 1024,
  maxMessageBytes: 512 * 1024,
  sendBufferAllowanceBytes: 64 * 1024,
  framesPerConnection: { perSecond: 200, burst: 400 },
  framesPerIp: { perSecond: 2_000, burst: 4_000 },
  framesTotal: { perSecond: 20_000, burst: 40_000 },
  bytesPerConnection: { perSecond: 64 * 1024, burst: 256 * 1024 },
  bytesPerIp: { perSecond: 1024 * 1024, burst: 4 * 1024 * 1024 },
  bytesTotal: { perSecond: 16 * 1024 * 1024, burst: 64 * 1024 * 1024 },
  hellosPerIp: { perSecond: 20, burst: 100 },
  hellosTotal: { perSecond: 200, burst: 400 },
  trackedIps: 10_000,
  channelCacheTtlMs: 2_000,
  unknownChannelCacheTtlMs: 5_000,
  channelCacheEntries: 10_000,
}

/**
 * The largest inbound frame of {@link DEFAULT_CONNECTION_LIMITS}, bytes (4 KiB): far below the 256 KiB
 * chunk-frame limit (`DEFAULT_MAX_FRAME_BYTES`) buyers apply to what sellers send.
 */
export const DEFAULT_MAX_INBOUND_FRAME_BYTES = DEFAULT_CONNECTION_LIMITS.maxInboundFrameBytes

/** Why a connection, request or frame was refused; counted in {@link ConnectionGuard.rejections}. */
export type RejectionReason =
  | 'connections_per_ip'
  | 'connections_total'
  | 'request_timeout'
  | 'bad_request'
  | 'method_not_allowed'
  | 'upgrade_path'
  | 'frame_rate'
  | 'byte_rate'
  | 'hello_rate'
  | 'send_buffer_full'

const REJECTION_REASONS: readonly RejectionReason[] = [
  'connections_per_ip',
  'connections_total',
  'request_timeout',
  'bad_request',
  'method_not_allowed',
  'upgrade_path',
  'frame_rate',
  'byte_rate',
  'hello_rate',
  'send_buffer_full',
]

/** A resource limit a live session hit: sent as `error {code}` before `close resource_limit`. */
export interface LimitRefusal {
  code: Extract<ErrorCode, 'RATE_LIMITED' | 'SEND_BUFFER_FULL'>
  message: string
}

/** A token bucket's state. */
export interface TokenBucket {
  /** tokens held at `updatedAt` */
  tokens: number
  /** ms (any monotonic clock, the same for every call) */
  updatedAt: number
}

/** A full bucket of `limit` at `now` (ms). */
export function fullBucket(limit: RateLimit, now: number): TokenBucket {
  return { tokens: limit.burst, updatedAt: now }
}

/**
 * Token-bucket admission (the classic traffic-shaping algorithm, as in RFC 2697's single-rate meter):
 * refills `bucket` by `limit.perSecond` per elapsed second up to `limit.burst`, then takes `cost`
 * tokens if it holds that many. Updates `bucket` in place.
 *
 * @param cost - tokens the event takes (1 per frame or hello, the byte length for bytes)
 * @param now - ms on the clock `bucket` was last updated with; an earlier time refills nothing
 * @returns whether the event is admitted (when not, no tokens are taken)
 */
export function takeTokens(bucket: TokenBucket, limit: RateLimit, cost: number, now: number): boolean {
  const elapsed = now - bucket.updatedAt
  if (elapsed > 0) {
    bucket.tokens = Math.min(limit.burst, bucket.tokens + (elapsed * limit.perSecond) / 1000)
    bucket.updatedAt = now
  }
  if (bucket.tokens < cost) return false
  bucket.tokens -= cost
  return true
}

/**
 * The key a client's connections and rates are counted under: an IPv4 address as is (also when
 * written IPv4-mapped, `::ffff:a.b.c.d`), an IPv6 address by its /64 prefix (`2001:db8:0:1::/64`),
 * since one subscriber usually holds a whole /64 (RFC 6177). Zone ids (`%eth0`) are dropped.
 *
 * @param address - `socket.remoteAddress`; undefined once the socket is gone
 * @returns the key, `unknown` for a missing or unparsable address
 */
export function clientKey(address: string | undefined): string {
  if (!address) return 'unknown'
  const bare = address.split('%')[0]!.toLowerCase()
  if (!bare.includes(':')) return bare
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(bare)
  if (mapped) return mapped[1]!
  const groups = ipv6Groups(bare)
  if (!groups) return 'unknown'
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`
}

/** The eight 16-bit groups of an IPv6 address, or undefined if it does not parse. */
function ipv6Groups(address: string): number[] | undefined {
  const halves = address.split('::')
  if (halves.length > 2) return undefined
  const parse = (part: string | undefined): number[] | undefined => {
    if (!part) return []
    const out: number[] = []
    for (const group of part.split(':')) {
      const dotted = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(group)
      if (dotted) {
        const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number]
        out.push((a << 8) | b, (c << 8) | d)
      } else if (/^[0-9a-f]{1,4}$/.test(group)) out.push(Number.parseInt(group, 16))
      else return undefined
    }
    return out
  }
  const head = parse(halves[0])
  const tail = parse(halves[1])
  if (!head || !tail) return undefined
  if (halves.length === 1) return head.length === 8 ? head : undefined
  const missing = 8 - head.length - tail.length
  if (missing < 1) return undefined
  return [...head, ...new Array<number>(missing).fill(0), ...tail]
}

/** The buckets and open connections of one client address. */
interface ClientRecord {
  connections: number
  frames: TokenBucket
  bytes: TokenBucket
  hellos: TokenBucket
}

/** The inbound admission of one WebSocket connection, from {@link ConnectionGuard.gate}. */
export interface ConnectionGate {
  /**
   * Charges one inbound frame of `bytes` to the connection's, its client's and the server's frame
   * and byte buckets.
   * @param bytes - the frame's length, bytes
   * @param now - ms on a monotonic clock (`performance.now()`)
   * @returns a `RATE_LIMITED` refusal when a bucket is empty (counted), else undefined
   */
  frame(bytes: number, now: number): LimitRefusal | undefined
  /**
   * Charges one `hello` to the client's and the server's hello buckets.
   * @param now - ms on a monotonic clock (`performance.now()`)
   * @returns a `RATE_LIMITED` refusal when a bucket is empty (counted), else undefined
   */
  hello(now: number): LimitRefusal | undefined
}

/** Open connections and rejections of a {@link ConnectionGuard}, for `/health`. */
export interface ConnectionStats {
  /** TCP connections open now */
  open: number
  /** client addresses with a connection open now */
  clients: number
  /** rejections since the start, by reason */
  rejected: Record<RejectionReason, number>
}

/**
 * Counts connections and inbound rates against {@link ConnectionLimits}: the server asks it at each
 * TCP accept ({@link ConnectionGuard.admit}), releases each closed connection, and gives each
 * WebSocket a {@link ConnectionGate}. In memory, per server process; per-address state is bounded by
 * `maxConnections` open addresses plus `trackedIps` remembered ones.
 */
export class ConnectionGuard {
  readonly limits: ConnectionLimits
  private readonly open = new Map<string, ClientRecord>()
  /** addresses without an open connection: kept so that reconnecting does not refill their buckets */
  private readonly recent: LRUCache<string, ClientRecord>
  private readonly frames: TokenBucket
  private readonly bytes: TokenBucket
  private readonly hellos: TokenBucket
  private openConnections = 0
  private readonly rejectedBy = Object.fromEntries(REJECTION_REASONS.map((r) => [r, 0])) as Record<
    RejectionReason,
    number
  >

  /**
   * @param limits - the policy
   * @param now - ms on the monotonic clock later calls use (`performance.now()`)
   */
  constructor(limits: ConnectionLimits, now: number) {
    this.limits = limits
    this.recent = new LRUCache({ max: Math.max(1, limits.trackedIps) })
    this.frames = fullBucket(limits.framesTotal, now)
    this.bytes = fullBucket(limits.bytesTotal, now)
    this.hellos = fullBucket(limits.hellosTotal, now)
  }

  /**
   * Admits a new TCP connection from `key` and counts it, or refuses it (counted).
   * @param key - {@link clientKey} of the peer
   * @param now - ms on the guard's clock
   * @returns undefined when admitted (call {@link ConnectionGuard.release} when it closes), else why not
   */
  admit(key: string, now: number): 'connections_per_ip' | 'connections_total' | undefined {
    if (this.openConnections >= this.limits.maxConnections) return this.count('connections_total')
    const record = this.record(key, now)
    if (record.connections >= this.limits.maxConnectionsPerIp) {
      if (record.connections === 0) this.forget(key, record)
      return this.count('connections_per_ip')
    }
    record.connections++
    this.openConnections++
    return undefined
  }

  /** Uncounts an admitted connection of `key` that closed. */
  release(key: string): void {
    const record = this.open.get(key)
    if (!record) return
    this.openConnections--
    if (--record.connections === 0) this.forget(key, record)
  }

  /**
   * The admission of inbound frames and `hello`s of one WebSocket from `key`.
   * @param now - ms on the guard's clock
   */
  gate(key: string, now: number): ConnectionGate {
    const { limits } = this
    const frames = fullBucket(limits.framesPerConnection, now)
    const bytes = fullBucket(limits.bytesPerConnection, now)
    // The connection is open, so its client's record stays in `open` for as long as the gate is used.
    const record = this.record(key, now)
    return {
      frame: (size, at) => {
        if (
          !takeTokens(frames, limits.framesPerConnection, 1, at) ||
          !takeTokens(record.frames, limits.framesPerIp, 1, at) ||
          !takeTokens(this.frames, limits.framesTotal, 1, at)
        ) {
          this.count('frame_rate')
          return { code: 'RATE_LIMITED', message: 'too many frames: slow down' }
        }
        if (
          !takeTokens(bytes, limits.bytesPerConnection, size, at) ||
          !takeTokens(record.bytes, limits.bytesPerIp, size, at) ||
          !takeTokens(this.bytes, limits.bytesTotal, size, at)
        ) {
          this.count('byte_rate')
          return { code: 'RATE_LIMITED', message: 'too many bytes: slow down' }
        }
        return undefined
      },
      hello: (at) => {
        if (
          !takeTokens(record.hellos, limits.hellosPerIp, 1, at) ||
          !takeTokens(this.hellos, limits.hellosTotal, 1, at)
        ) {
          this.count('hello_rate')
          return { code: 'RATE_LIMITED', message: 'too many sessions started: try again later' }
        }
        return undefined
      },
    }
  }

  /**
   * Admits a `GET /history` query from `key` (an open connection's client): it reads the reading
   * store as a `hello` does, so it takes from the same buckets, `hellosPerIp` and `hellosTotal`.
   * @param now - ms on the guard's clock
   * @returns undefined when admitted, else `hello_rate` (counted)
   */
  query(key: string, now: number): 'hello_rate' | undefined {
    const record = this.record(key, now)
    if (
      !takeTokens(record.hellos, this.limits.hellosPerIp, 1, now) ||
      !takeTokens(this.hellos, this.limits.hellosTotal, 1, now)
    ) {
      return this.count('hello_rate')
    }
    return undefined
  }

  /** Counts a rejection decided elsewhere (HTTP method, upgrade path, timeouts, send buffer). */
  count<R extends RejectionReason>(reason: R): R {
    this.rejectedBy[reason]++
    return reason
  }

  /** Rejections since the start, by reason (a copy). */
  get rejections(): Record<RejectionReason, number> {
    return { ...this.rejectedBy }
  }

  /** Open connections and rejections now. */
  stats(): ConnectionStats {
    return { open: this.openConnections, clients: this.open.size, rejected: this.rejections }
  }

  /** Moves the record of a client without open connections to the remembered ones. */
  private forget(key: string, record: ClientRecord): void {
    this.open.delete(key)
    this.recent.set(key, record)
  }

  /** The record of `key`: open, else remembered (moved back to open), else a fresh full one. */
  private record(key: string, now: number): ClientRecord {
    let record = this.open.get(key)
    if (record) return record
    record = this.recent.get(key)
    if (record) this.recent.delete(key)
    else {
      const { limits } = this
      record = {
        connections: 0,
        frames: fullBucket(limits.framesPerIp, now),
        bytes: fullBucket(limits.bytesPerIp, now),
        hellos: fullBucket(limits.hellosPerIp, now),
      }
    }
    this.open.set(key, record)
    return record
  }
}
