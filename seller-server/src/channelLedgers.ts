import type { Address, ChannelDebt, ErrorCode, Hex, SellerChannelLedger } from '@trickle/protocol'

/** Default cap on live sessions per channel (beyond it: `CHANNEL_BUSY`). */
export const DEFAULT_MAX_SESSIONS_PER_CHANNEL = 16

/**
 * Default number of a payer's other channels that may be in debt (chunks delivered and never
 * receipted) before a session on a new channel of that payer is refused with `DEBT_OUTSTANDING`.
 */
export const DEFAULT_MAX_INDEBTED_CHANNELS_PER_PAYER = 2

/**
 * Default number of ledgers of channels without a live session kept in memory because they are in
 * debt; beyond it the least recently used is dropped (its debt stays recorded in the store).
 */
export const DEFAULT_MAX_IDLE_LEDGERS = 100_000

/** Limits and persistence of {@link ChannelLedgers}. */
export interface ChannelLedgerOptions {
  /** live sessions a channel may have at once (default {@link DEFAULT_MAX_SESSIONS_PER_CHANNEL}) */
  maxSessionsPerChannel: number
  /**
   * channels of one payer that may be in debt while it starts a session on another (default
   * {@link DEFAULT_MAX_INDEBTED_CHANNELS_PER_PAYER})
   */
  maxIndebtedChannelsPerPayer: number
  /** ledgers in debt kept in memory without a live session (default {@link DEFAULT_MAX_IDLE_LEDGERS}) */
  maxIdleLedgers: number
  /**
   * records a channel's debt when its last live session ends (undefined: paid, clear the record), so
   * that it survives a restart; failures are the callee's to log
   */
  persistDebt?(channelId: Hex, debt: ChannelDebt | undefined): void
}

/** A session's place on a channel's shared ledger. */
export interface ChannelMembership {
  readonly ledger: SellerChannelLedger
  /** Tells the channel's other sessions their credit may have grown (a receipt stored, a session left). */
  creditChanged(): void
  /** The session is done (its receipts stored); the ledger is kept while the channel is in debt. */
  leave(): void
}

/** Why {@link ChannelLedgers.join} refused a session. */
export interface JoinRefusal {
  code: Extract<ErrorCode, 'CHANNEL_BUSY' | 'DEBT_OUTSTANDING'>
  message: string
}

interface Entry {
  ledger: SellerChannelLedger
  wakers: Set<() => void>
  payer: string
  /** whether the store holds a debt record for the channel */
  recorded: boolean
}

/**
 * The seller server's ledgers of channels, one {@link SellerChannelLedger} per channel, so that
 * concurrent sessions on a channel share its deposit and credit (SPEC.md §Concurrent sessions) and a
 * channel's debt outlives the session that ran it up (SPEC.md §Channel debt): a ledger lives from
 * its channel's first authenticated session to the end of its last one, and after that for as long
 * as the channel is in debt (bounded by `maxIdleLedgers`; the debt is also recorded through
 * `persistDebt`, so a restarted seller or an evicted ledger restores it).
 */
export class ChannelLedgers {
  private readonly channels = new Map<string, Entry>()
  /** channels without a live session that are in debt, by payer (lowercase) */
  private readonly debtors = new Map<string, Set<string>>()
  /** channels kept without a live session because they are in debt, least recently idle first */
  private readonly idle = new Set<string>()
  private readonly options: ChannelLedgerOptions

  /**
   * @param options - a number is `maxSessionsPerChannel` (the earlier signature); see
   *   {@link ChannelLedgerOptions} for the rest and their defaults
   */
  constructor(options: number | Partial<ChannelLedgerOptions> = {}) {
    const given = typeof options === 'number' ? { maxSessionsPerChannel: options } : options
    this.options = {
      maxSessionsPerChannel: DEFAULT_MAX_SESSIONS_PER_CHANNEL,
      maxIndebtedChannelsPerPayer: DEFAULT_MAX_INDEBTED_CHANNELS_PER_PAYER,
      maxIdleLedgers: DEFAULT_MAX_IDLE_LEDGERS,
      ...given,
    }
  }

  /** The channel's ledger if this server holds one now (live sessions, or a debt), else undefined. */
  current(channelId: Hex): SellerChannelLedger | undefined {
    return this.channels.get(channelId.toLowerCase())?.ledger
  }

  /** Ledgers held now, live or in debt. */
  get size(): number {
    return this.channels.size
  }

  /**
   * The seller's unpaid exposure: wei delivered on the channels held now (live sessions, and idle
   * ones in debt) that no durable receipt covers. Ledgers dropped beyond `maxIdleLedgers` do not
   * count (their debt stays recorded in the store). O(channels held).
   */
  get debt(): bigint {
    let total = 0n
    for (const { ledger } of this.channels.values()) total += ledger.debt
    return total
  }

  /**
   * Joins a channel's ledger, after the session authenticated.
   * @param payer - the channel's payer (its other channels' debts count against it)
   * @param wake - called when another session's receipt or end may have freed credit
   * @param restore - builds the channel's ledger when this server holds none (from the store's last
   *   receipt and recorded debt); `recorded` says whether the store holds a debt for it
   * @returns the membership, or the refusal: `CHANNEL_BUSY` (the channel has `maxSessionsPerChannel`
   *   sessions), `DEBT_OUTSTANDING` (the payer has `maxIndebtedChannelsPerPayer` other channels in debt)
   */
  join(
    channelId: Hex,
    payer: Address | undefined,
    wake: () => void,
    restore: () => { ledger: SellerChannelLedger; recorded: boolean },
  ): ChannelMembership | JoinRefusal {
    const key = channelId.toLowerCase()
    const payerKey = (payer ?? '').toLowerCase()
    let entry = this.channels.get(key)
    if (!entry) {
      const owing = this.debtors.get(payerKey)
      if (payerKey && owing && owing.size >= this.options.maxIndebtedChannelsPerPayer) {
        return {
          code: 'DEBT_OUTSTANDING',
          message: `the payer owes for chunks delivered on ${owing.size} other channel(s): pay there first`,
        }
      }
      const restored = restore()
      entry = { ledger: restored.ledger, wakers: new Set(), payer: payerKey, recorded: restored.recorded }
      this.channels.set(key, entry)
    }
    if (entry.wakers.size >= this.options.maxSessionsPerChannel) {
      return { code: 'CHANNEL_BUSY', message: 'the channel has as many live sessions as allowed' }
    }
    if (this.idle.delete(key)) this.debtors.get(entry.payer)?.delete(key)
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
        if (channel.wakers.size > 0) return others()
        this.rest(key, channel)
      },
    }
  }

  /** The channel's last live session ended: keep the ledger while it is in debt, and record it. */
  private rest(key: string, entry: Entry): void {
    if (entry.ledger.debt > 0n) {
      this.options.persistDebt?.(key as Hex, { owed: entry.ledger.owed })
      entry.recorded = true
      this.idle.add(key)
      let owing = this.debtors.get(entry.payer)
      if (!owing) {
        owing = new Set()
        this.debtors.set(entry.payer, owing)
      }
      owing.add(key)
      this.evict()
      return
    }
    if (entry.recorded) this.options.persistDebt?.(key as Hex, undefined)
    this.channels.delete(key)
  }

  /** Drops the least recently idle ledgers in debt beyond `maxIdleLedgers` (their debt is recorded). */
  private evict(): void {
    for (const key of this.idle) {
      if (this.idle.size <= this.options.maxIdleLedgers) return
      this.idle.delete(key)
      const payer = this.channels.get(key)!.payer
      this.channels.delete(key)
      const owing = this.debtors.get(payer)
      owing?.delete(key)
      if (owing?.size === 0) this.debtors.delete(payer)
    }
  }
}
