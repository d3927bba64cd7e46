import { type ChannelDetails, formatAmount, type AmountFormat as SdkAmountFormat } from '@trickle/sdk'
import type { PayeeProduct } from './payeeViews.ts'
import { type LedgerReceipt, splitByProduct } from './readLedger.ts'

/** How amounts are printed: whole coins with their symbol (default), or wei (the SDK's formatter). */
export type AmountFormat = Required<SdkAmountFormat>
export { formatAmount }

/** A product row of `trickle-seller products`; wei as decimal strings in JSON. */
export interface ProductRow {
  productId: string
  key: string | null
  name: string | null
  kind: string
  active: boolean
  /** wei per chunk, from the descriptor */
  pricePerChunk: string | null
  /** in the config now (sold at the next start), or only on the registry */
  inConfig: boolean
  cid: string
  /** sessions the running service serves now for it; null when the service does not run */
  sessions: number | null
}

/** The rows of `trickle-seller products`, config keys marked. */
export function productRows(
  products: readonly PayeeProduct[],
  configKeys: ReadonlySet<string>,
  live?: ReadonlyMap<string, number>,
): ProductRow[] {
  return products.map((p) => ({
    productId: p.productId.toString(),
    key: p.key ?? null,
    name: p.descriptor?.name ?? null,
    kind: p.kind,
    active: p.active,
    pricePerChunk: p.descriptor?.pricePerChunk ?? null,
    inConfig: p.key !== undefined && configKeys.has(p.key),
    cid: p.cid,
    sessions: live === undefined ? null : p.key === undefined ? 0 : (live.get(p.key) ?? 0),
  }))
}

/**
 * `trickle-seller products` for a terminal: one line per product (id, key, status, price, buyers
 * streaming it now when the service runs, name), then config products not registered yet and the
 * service's state.
 * @param unregistered - keys of the config without a product on the registry
 * @param sessions - sessions live now, when the service answered
 */
export function formatProducts(
  rows: readonly ProductRow[],
  unregistered: readonly string[],
  format: AmountFormat,
  sessions: number | undefined,
): string {
  const lines: string[] = []
  if (rows.length === 0) lines.push('no products registered by this payee')
  else {
    const live = rows.some((r) => r.sessions !== null)
    lines.push(
      `${'id'.padEnd(6)}${'key'.padEnd(22)}${'status'.padEnd(10)}${'price/chunk'.padEnd(20)}${live ? 'buyers'.padEnd(8) : ''}name`,
    )
    for (const r of rows) {
      const status = r.active ? (r.inConfig || r.key === null ? 'active' : 'active*') : 'inactive'
      const price = r.pricePerChunk === null ? '?' : formatAmount(BigInt(r.pricePerChunk), format)
      lines.push(
        `${r.productId.padEnd(6)}${(r.key ?? '-').padEnd(22)}${status.padEnd(10)}${price.padEnd(20)}${live ? String(r.sessions ?? 0).padEnd(8) : ''}${r.name ?? '?'}`,
      )
    }
    if (rows.some((r) => r.active && !r.inConfig && r.key !== null)) {
      lines.push('* active, but no longer in the config: `trickle-seller update` (or start) deactivates it')
    }
  }
  for (const key of unregistered)
    lines.push(`not registered yet: ${key} (trickle-seller start or update registers it)`)
  lines.push(
    sessions === undefined ? 'service: not running' : `service: running, ${sessions} session(s) live now`,
  )
  return `${lines.join('\n')}\n`
}

/** A channel row of `trickle-seller channels`; wei and seconds as decimal strings in JSON. */
export interface ChannelRow {
  channelId: string
  payer: string
  status: string
  deposit: string
  /** paid out to the payee on-chain */
  claimed: string
  /** stored receipts not claimed yet: `min(latest receipt, deposit) − claimed` */
  outstanding: string
  /** the latest stored receipt's cumulative amount */
  receipted: string
  /** unix seconds the challenge period ends, 0 when no close was requested */
  closeDeadline: string
  finalizable: boolean
  /** claim transactions of the seller still pending */
  pendingClaims: number
}

/** The payee's channels with what its stored receipts add. */
export function channelRows(
  channels: readonly ChannelDetails[],
  receipts: ReadonlyMap<string, readonly LedgerReceipt[]>,
  pendingClaims: ReadonlyMap<string, number>,
): ChannelRow[] {
  return channels.map((c) => {
    const list = receipts.get(c.channelId.toLowerCase()) ?? []
    const receipted = list.reduce((max, r) => (r.amount > max ? r.amount : max), 0n)
    const payable = receipted < c.deposit ? receipted : c.deposit
    const outstanding = c.status === 'closed' || payable <= c.claimed ? 0n : payable - c.claimed
    return {
      channelId: c.channelId,
      payer: c.payer,
      status: c.status,
      deposit: c.deposit.toString(),
      claimed: c.claimed.toString(),
      outstanding: outstanding.toString(),
      receipted: receipted.toString(),
      closeDeadline: c.closeDeadline.toString(),
      finalizable: c.finalizable,
      pendingClaims: pendingClaims.get(c.channelId.toLowerCase()) ?? 0,
    }
  })
}

/** `trickle-seller channels` for a terminal. */
export function formatChannels(rows: readonly ChannelRow[], format: AmountFormat): string {
  if (rows.length === 0) return 'no channels pay this payee\n'
  const blocks = rows.map((r) => {
    const lines = [
      `${r.channelId}  ${r.status}${r.pendingClaims > 0 ? `  (claim pending)` : ''}`,
      `  payer        ${r.payer}`,
      `  deposit      ${formatAmount(BigInt(r.deposit), format)}`,
      `  claimed      ${formatAmount(BigInt(r.claimed), format)}`,
      `  outstanding  ${formatAmount(BigInt(r.outstanding), format)}`,
    ]
    if (r.closeDeadline !== '0') {
      const iso = new Date(Number(r.closeDeadline) * 1000).toISOString().replace('.000Z', 'Z')
      lines.push(`  deadline     ${iso}${r.finalizable ? ' (passed)' : ' (claim before it)'}`)
    }
    return lines.join('\n')
  })
  return `${blocks.join('\n')}\n`
}

/** Earnings per product and channel; wei as decimal strings in JSON. */
export interface EarningsReport {
  total: { claimed: string; unclaimed: string }
  products: {
    productId: string
    key: string | null
    name: string | null
    claimed: string
    unclaimed: string
  }[]
  channels: { channelId: string; status: string; claimed: string; unclaimed: string }[]
}

/**
 * What the payee earned: on-chain claims and stored receipts not claimed yet, per product (receipts
 * split by {@link splitByProduct}) and per channel. A closed channel's unclaimed receipts are lost
 * (the refund went to the payer) and count as 0.
 */
export function earningsReport(
  channels: readonly ChannelDetails[],
  receipts: ReadonlyMap<string, readonly LedgerReceipt[]>,
  products: readonly PayeeProduct[],
): EarningsReport {
  const byProduct = new Map<string, { claimed: bigint; unclaimed: bigint }>()
  const rows: EarningsReport['channels'] = []
  let claimedTotal = 0n
  let unclaimedTotal = 0n
  for (const c of channels) {
    const shares = splitByProduct(receipts.get(c.channelId.toLowerCase()) ?? [], c.claimed)
    let unclaimed = 0n
    for (const share of shares) {
      const lost = c.status === 'closed'
      const entry = byProduct.get(share.productId.toString()) ?? { claimed: 0n, unclaimed: 0n }
      entry.claimed += share.claimed
      if (!lost) entry.unclaimed += share.unclaimed
      byProduct.set(share.productId.toString(), entry)
      if (!lost) unclaimed += share.unclaimed
    }
    // Claims without stored receipts (another data directory) still count for the channel.
    rows.push({
      channelId: c.channelId,
      status: c.status,
      claimed: c.claimed.toString(),
      unclaimed: unclaimed.toString(),
    })
    claimedTotal += c.claimed
    unclaimedTotal += unclaimed
  }
  const known = new Map(products.map((p) => [p.productId.toString(), p]))
  return {
    total: { claimed: claimedTotal.toString(), unclaimed: unclaimedTotal.toString() },
    products: [...byProduct.entries()].map(([productId, e]) => ({
      productId,
      key: known.get(productId)?.key ?? null,
      name: known.get(productId)?.descriptor?.name ?? null,
      claimed: e.claimed.toString(),
      unclaimed: e.unclaimed.toString(),
    })),
    channels: rows.filter((r) => r.claimed !== '0' || r.unclaimed !== '0'),
  }
}

/** `trickle-seller earnings` for a terminal. */
export function formatEarnings(report: EarningsReport, format: AmountFormat): string {
  const a = (wei: string) => formatAmount(BigInt(wei), format)
  const lines = [`total      claimed ${a(report.total.claimed)}, unclaimed ${a(report.total.unclaimed)}`]
  if (report.products.length > 0) lines.push('per product')
  for (const p of report.products) {
    lines.push(
      `  ${p.productId.padEnd(5)} ${(p.key ?? p.name ?? '?').padEnd(24)} claimed ${a(p.claimed)}, unclaimed ${a(p.unclaimed)}`,
    )
  }
  if (report.channels.length > 0) lines.push('per channel')
  for (const c of report.channels) {
    lines.push(`  ${c.channelId}  ${c.status}`)
    lines.push(`      claimed ${a(c.claimed)}, unclaimed ${a(c.unclaimed)}`)
  }
  return `${lines.join('\n')}\n`
}
