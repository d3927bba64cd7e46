import type { CatalogProduct } from '@trickle/sdk'

/** One catalog entry as the CLI prints it; wei as decimal strings so it survives JSON. */
export interface ProductRow {
  /** decimal product id */
  productId: string
  kind: CatalogProduct['kind']
  active: boolean
  /** descriptor name, or null when the descriptor is missing or invalid */
  name: string | null
  /** wei per chunk, decimal string, or null without a descriptor */
  pricePerChunk: string | null
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
    pricePerChunk: d?.pricePerChunk ?? null,
    seller: d?.seller ?? p.owner,
    owner: p.owner,
    endpoint: d?.endpoint ?? null,
    cid: p.cid,
    ...(p.problem ? { problem: { code: p.problem.code, message: p.problem.message } } : {}),
  }
}

/**
 * Formats rows for a terminal: one heading line per product (id, kind, status, name), then its
 * price, seller, endpoint and CID indented; a product without a valid descriptor shows its problem.
 * @returns text ending in a newline
 */
export function formatProductRows(rows: readonly ProductRow[]): string {
  if (rows.length === 0) return 'no products in the registry\n'
  const idWidth = Math.max(...rows.map((r) => r.productId.length))
  const pad = ' '.repeat(idWidth + 2)
  const lines: string[] = []
  for (const r of rows) {
    const title = r.problem ? `${r.problem.code}: ${r.problem.message}` : (r.name ?? '')
    lines.push(
      `${r.productId.padStart(idWidth)}  ${r.kind.padEnd(7)} ${(r.active ? 'active' : 'inactive').padEnd(8)} ${title}`,
    )
    if (r.pricePerChunk !== null) lines.push(`${pad}price     ${r.pricePerChunk} wei/chunk`)
    lines.push(`${pad}seller    ${r.seller}`)
    if (r.endpoint !== null) lines.push(`${pad}endpoint  ${r.endpoint}`)
    lines.push(`${pad}cid       ${r.cid}`)
  }
  return `${lines.join('\n')}\n`
}
