import { decodeDescriptor, type ProductDescriptor, TrickleError } from '@trickle/protocol'
import { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import { sha256 } from 'multiformats/hashes/sha2'
import { readBounded } from './http/readBounded.ts'

/** Largest descriptor block the fetcher reads, bytes (1 MiB; the schema's limits stay far below it). */
export const MAX_DESCRIPTOR_BYTES = 1 << 20

/** Fetches product descriptors from IPFS trustless gateways and verifies every block by its CID. */
export interface DescriptorFetcher {
  /**
   * Fetches, verifies and validates the descriptor block named by `cid`, trying the gateways in order.
   * @param cid - binary CID (as stored on-chain) or its string form
   * @param timeoutMs - ms before giving up on all gateways (default 10,000)
   * @param signal - aborts the fetch (`DESCRIPTOR_UNAVAILABLE`)
   * @throws TrickleError `DESCRIPTOR_UNAVAILABLE` (no gateway served a block matching the CID in time),
   *   `DESCRIPTOR_INVALID` (the CID does not parse, uses a hash other than sha2-256 or identity, or the
   *   verified block is not a valid descriptor)
   */
  fetch(cid: Uint8Array | string, timeoutMs?: number, signal?: AbortSignal): Promise<ProductDescriptor>
}

/** Options of {@link createDescriptorFetcher}. */
export interface DescriptorFetcherOptions {
  /** the `fetch` to use (default the global one) */
  fetch?: typeof globalThis.fetch
}

/**
 * A descriptor fetcher over the IPFS trustless-gateway protocol
 * (https://specs.ipfs.tech/http-gateways/trustless-gateway/): `GET <gateway>/ipfs/<cid>?format=raw`
 * with `Accept: application/vnd.ipld.raw`, at most {@link MAX_DESCRIPTOR_BYTES}, then the block's
 * multihash is recomputed and compared with the CID's before it is decoded (SPEC.md §Descriptors). A
 * gateway is trusted for nothing: a wrong, oversized or failing answer moves on to the next one. Plain
 * `fetch`, so it runs in browsers and Node without an IPFS node.
 *
 * @param gateways - gateway base URLs, e.g. the seller server's `http://127.0.0.1:PORT`
 * @returns the fetcher; it holds nothing between calls
 */
export function createDescriptorFetcher(
  gateways: readonly string[],
  options: DescriptorFetcherOptions = {},
): DescriptorFetcher {
  const fetchBlock = options.fetch ?? globalThis.fetch.bind(globalThis)
  return {
    async fetch(cidInput, timeoutMs = 10_000, signal) {
      const cid = parseCid(cidInput)
      const hasher = hasherOf(cid)
      const deadline = AbortSignal.timeout(timeoutMs)
      const abort = signal ? AbortSignal.any([signal, deadline]) : deadline
      const failures: string[] = []
      for (const gateway of gateways) {
        if (abort.aborted) break
        try {
          const bytes = await readBlock(fetchBlock, gateway, cid, abort)
          if (!(await matches(cid, hasher, bytes))) {
            failures.push(`${gateway}: block does not match the CID`)
            continue
          }
          return decodeDescriptor(bytes)
        } catch (err) {
          if ((err as { code?: unknown }).code === 'DESCRIPTOR_INVALID') throw err
          failures.push(`${gateway}: ${(err as Error).message}`)
        }
      }
      throw new TrickleError('DESCRIPTOR_UNAVAILABLE', `descriptor ${cid} could not be fetched`, {
        details: failures.join('; ') || (abort.aborted ? 'timed out' : 'no gateway configured'),
      })
    },
  }
}

function parseCid(input: Uint8Array | string): CID {
  try {
    return typeof input === 'string' ? CID.parse(input) : CID.decode(input)
  } catch (cause) {
    throw new TrickleError('DESCRIPTOR_INVALID', 'the descriptor CID does not parse', { cause })
  }
}

async function readBlock(
  fetchBlock: typeof globalThis.fetch,
  gateway: string,
  cid: CID,
  signal: AbortSignal,
): Promise<Uint8Array> {
  const url = `${gateway.replace(/\/+$/, '')}/ipfs/${cid.toString()}?format=raw`
  const response = await fetchBlock(url, { headers: { accept: 'application/vnd.ipld.raw' }, signal })
  if (!response.ok) {
    await response.body?.cancel()
    throw new Error(`HTTP ${response.status}`)
  }
  return readBounded(response, MAX_DESCRIPTOR_BYTES)
}

/**
 * The hash function of the CID's multihash, which the fetcher recomputes.
 * @throws TrickleError `DESCRIPTOR_INVALID` for a hash function other than sha2-256 or identity
 */
function hasherOf(cid: CID): typeof sha256 | typeof identity {
  if (cid.multihash.code === sha256.code) return sha256
  if (cid.multihash.code === identity.code) return identity
  throw new TrickleError(
    'DESCRIPTOR_INVALID',
    `the descriptor CID uses hash 0x${cid.multihash.code.toString(16)}`,
    {
      details: 'only sha2-256 and identity can be verified',
    },
  )
}

/** Whether `bytes` hash to the CID's multihash. */
async function matches(
  cid: CID,
  hasher: typeof sha256 | typeof identity,
  bytes: Uint8Array,
): Promise<boolean> {
  const digest = (await hasher.digest(bytes)).digest
  const expected = cid.multihash.digest
  return digest.length === expected.length && digest.every((b, i) => b === expected[i])
}
