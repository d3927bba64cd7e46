import { type Hex, SellerChannelLedger } from '@trickle/protocol'

/** Default cap on live sessions per channel (beyond it: `CHANNEL_BUSY`). */
export const DEFAULT_MAX_SESSIONS_PER_CHANNEL = 16

/** A session's place on a channel's shared ledger. */
export interface ChannelMembership {
  readonly ledger: SellerChannelLedger
  /** Tells the channel's other sessions their credit may have grown (a receipt stored, a session left). */
  creditChanged(): void
  /** The session is done (its receipts stored); the ledger is dropped with its last session. */
  leave(): void
}

/**
 * The seller server's ledgers of channels with live sessions, one {@link SellerChannelLedger} per
 * channel, so concurrent sessions on a channel share its deposit and credit (SPEC.md §Concurrent
 * sessions). In memory: a ledger lives from its channel's first `hello` to the end of its last session.
 */
export class ChannelLedgers {
  private readonly channels = new Map<string, { ledger: SellerChannelLedger; wakers: Set<() => void> }>()
  private readonly maxSessions: number

  /** @param maxSessionsPerChannel - live sessions a channel may have at once (default 16) */
  constructor(maxSessionsPerChannel = DEFAULT_MAX_SESSIONS_PER_CHANNEL) {
    this.maxSessions = maxSessionsPerChannel
  }

  /**
   * Joins a channel's ledger.
   * @param wake - called when another session's receipt or end may have freed credit
   * @returns the membership, or undefined when the channel already has `maxSessionsPerChannel` sessions
   */
  join(channelId: Hex, wake: () => void): ChannelMembership | undefined {
    const key = channelId.toLowerCase()
    let entry = this.channels.get(key)
    if (!entry) {
      entry = { ledger: new SellerChannelLedger(), wakers: new Set() }
      this.channels.set(key, entry)
    }
    if (entry.wakers.size >= this.maxSessions) return undefined
    const channel = entry
    channel.wakers.add(wake)
    const others = () => {
      for (const other of channel.wakers) if (other !== wake) other()
    }
    let left = false
    return {
      ledger: channel.ledger,
      creditChanged: () => {
        if (channel.wakers.size > 1) others()
      },
      leave: () => {
        if (left) return
        left = true
        channel.wakers.delete(wake)
        if (channel.wakers.size === 0) this.channels.delete(key)
        else others()
      },
    }
  }
}
