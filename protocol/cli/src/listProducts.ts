import { type CatalogProduct, quoteProduct } from '@trickle/sdk'
import { type AmountFormat, formatAmount } from './formatAmount.ts'

/** One hour, ms: the duration `trickle products` prices at a product's rate. */
const HOUR_MS = 3_600_000

/** One catalog entry as the CLI prints it; wei as decimal strings so it survives JSON. */
export interface ProductRow {
  /** decimal product id */
  productId: string
  kind: CatalogProduct['kind']
  active: boolean
  /** descriptor name, or null when the descriptor is missing or invalid */
  name: string | null
  /** what the product is, from the descriptor, or null without one */
  description: string | null
  /** wei per chunk, decimal string, or null without a descriptor */
  pricePerChunk: string | null
  /**
   * the nominal chunks per second the descriptor states, or null when it states none (or there is no
   * descriptor)
   */
  chunksPerSecond: number | null
  /** wei for an hour at `chunksPerSecond` (`ceil(3600 × chunksPerSecond)` chunks), decimal string, or null */
  pricePerHour: string | null
  /** what one chunk is (e.g. "one sensor reading"), or null without a descriptor */
  chunkUnit: string | null
  /** the values a chunk carries, each with its unit (e.g. `{ name: "CO(GT)", unit: "mg/m³" }`) */
  fields: { name: string; unit: string }[]
  /** the data's licence (e.g. "CC BY 4.0"), or null without a descriptor */
  licence: string | null
  /** where the data comes from, or null without a descriptor */
  source: string | null
  /** the payee named by the descriptor, else the registry owner */
  seller: string
  /** the registry owner */
  owner: string
  /** WebSocket URL of the seller server, or null without a descriptor */
  endpoint: string | null
  /** descriptor CID (base32 CIDv1) */
  cid: string
  /** why the descriptor is missing: `DESCRIPTOR_UNAVAILABLE` or `DESCRIPTOR_INVALID` */
  problem?: { code: string; message: string }
}

/** Turns a catalog product into the row `trickle products` prints. */
export function toProductRow(p: CatalogProduct): ProductRow {
  const d = p.descriptor
  return {
    productId: p.productId.toString(),
    kind: p.kind,
    active: p.active,
    name: d?.name ?? null,
    description: d?.description ?? null,
    pricePerChunk: d?.pricePerChunk ?? null,
    chunksPerSecond: d?.chunksPerSecond ?? null,
    pricePerHour:
      d?.chunksPerSecond === undefined ? null : quoteProduct(d, { durationMs: HOUR_MS }).amount.toString(),
    chunkUnit: d?.chunk.unit || null,
    fields: d?.fields.map((f) => ({ name: f.name, unit: f.unit })) ?? [],
    licence: d?.source.licence || null,
    source: d?.source.title || null,
    seller: d?.seller ?? p.owner,
    owner: p.owner,
    endpoint: d?.endpoint ?? null,
    cid: p.cid,
    ...(p.problem ? { problem: { code: p.problem.code, message: p.problem.message } } : {}),
  }
}

/** Terminal width the text output keeps to. */
const WIDTH = 100

/**
 * Formats rows for a terminal in at most 100 columns: one heading line per product (id, kind, status,
 * name), then indented its description (wrapped), price per chunk, the rate with the price per hour
 * (when the descriptor states a rate), fields with their units, licence, seller, endpoint and CID; a
 * product without a valid descriptor shows its problem.
 * @param format - how the price is printed (ETH by default)
 * @returns text ending in a newline
 */
export function formatProductRows(rows: readonly ProductRow[], format: AmountFormat = {}): string {
  if (rows.length === 0) return 'no products in the registry\n'
  const idWidth = Math.max(...rows.map((r) => r.productId.length))
  const pad = ' '.repeat(idWidth + 2)
  const label = (name: string, value: string) =>
    wrap(value, WIDTH - pad.length - 10).map(
      (l, i) => `${pad}${i === 0 ? name.padEnd(10) : ' '.repeat(10)}${l}`,
    )
  const lines: string[] = []
  for (const r of rows) {
    const title = r.problem ? `${r.problem.code}: ${r.problem.message}` : (r.name ?? '')
    lines.push(
      `${r.productId.padStart(idWidth)}  ${r.kind.padEnd(7)} ${(r.active ? 'active' : 'inactive').padEnd(8)} ${title}`,
    )
    if (r.description) lines.push(...wrap(r.description, WIDTH - pad.length).map((l) => `${pad}${l}`))
    if (r.pricePerChunk !== null) {
      const per = r.chunkUnit ? `per chunk (${r.chunkUnit})` : 'per chunk'
      lines.push(...label('price', `${formatAmount(BigInt(r.pricePerChunk), format)} ${per}`))
    }
    if (r.chunksPerSecond !== null && r.pricePerHour !== null) {
      const rate = Number(r.chunksPerSecond.toPrecision(6))
      lines.push(
        ...label('rate', `${rate} chunks/s, ${formatAmount(BigInt(r.pricePerHour), format)} per hour`),
      )
    }
    if (r.fields.length > 0) {
      lines.push(
        ...label('fields', r.fields.map((f) => (f.unit ? `${f.name} (${f.unit})` : f.name)).join(', ')),
      )
    }
    if (r.licence) lines.push(...label('licence', r.source ? `${r.licence}, ${r.source}` : r.licence))
    lines.push(...label('seller', r.seller))
    if (r.endpoint !== null) lines.push(...label('endpoint', r.endpoint))
    lines.push(...label('cid', r.cid))
  }
  return `${lines.join('\n')}\n`
}

/** Splits `text` into lines of at most `width` characters at spaces (a longer word gets its own line). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else {
      line = line === '' ? word : `${line} ${word}`
    }
  }
  if (line !== '') lines.push(line)
  return lines
}
