import type { IncomingMessage, ServerResponse } from 'node:http'
import { dagJson } from '@helia/dag-json'
import { encodeDescriptor, type ProductDescriptor } from '@trickle/protocol'
import { FsBlockstore } from 'blockstore-fs'
import type { Helia } from 'helia'
import { createHeliaLight } from 'helia'
import type { MultibaseDecoder } from 'multiformats'
import { bases } from 'multiformats/basics'
import { CID } from 'multiformats/cid'

/** The seller's IPFS node: a helia node with a persistent blockstore that serves its own blocks. */
export interface IpfsNode {
  readonly helia: Helia
  /**
   * Adds a descriptor as a dag-json block; from then on {@link IpfsNode.handle} serves it.
   * @returns its CID (CIDv1, dag-json, sha2-256)
   */
  publish(descriptor: ProductDescriptor): Promise<CID>
  /**
   * Serves `GET /ipfs/<cid>` (and `HEAD`) per the IPFS trustless gateway spec (raw blocks only,
   * `application/vnd.ipld.raw`), so buyers' IPFS clients fetch and verify descriptors by CID. Only the
   * blocks this node published since it started are served: any other CID gets 404, identity CIDs
   * (whose "block" is the attacker's own bytes inside the CID) included. The CID may be written in
   * any multibase the `multiformats` library decodes (base32 and base32 upper, base16, base36,
   * base58btc, base64…; {@link parseAnyCid}). Other methods get 405 with `Allow: GET, HEAD`.
   * @returns whether the request was an `/ipfs/` request (handled)
   */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>
  stop(): Promise<void>
}

/** Every multibase `multiformats/basics` knows, as one decoder that picks the base by its prefix. */
const ANY_MULTIBASE: MultibaseDecoder<string> = Object.values(bases).reduce<
  ReturnType<typeof bases.base32.decoder.or<string>>
>((all, base) => all.or(base.decoder), bases.base32.decoder.or(bases.base58btc.decoder))

/**
 * Parses a CID written in any multibase `multiformats/basics` knows (CIDv0 as base58btc without a
 * prefix, as usual).
 * @throws Error when the text is not a CID in one of those bases
 */
export function parseAnyCid(text: string): CID {
  return CID.parse(text, ANY_MULTIBASE)
}

/** Methods the gateway answers. */
const ALLOWED_METHODS = 'GET, HEAD'

/**
 * Starts the node.
 * @param blockstorePath - directory of the persistent blockstore
 */
export async function startIpfsNode(blockstorePath: string): Promise<IpfsNode> {
  const blockstore = new FsBlockstore(blockstorePath)
  const helia = createHeliaLight({ blockstore })
  await helia.start()
  const dag = dagJson(helia)
  /** multihashes (base64) of the blocks published since the start: the only ones served */
  const published = new Set<string>()
  const multihashKey = (cid: CID) => Buffer.from(cid.multihash.bytes).toString('base64')
  return {
    helia,
    async publish(descriptor) {
      const { cid } = await encodeDescriptor(descriptor)
      const added = await dag.add(descriptor)
      if (!added.equals(cid)) throw new Error(`helia CID ${added} differs from ${cid}`)
      published.add(multihashKey(added))
      return added
    },
    async handle(req, res) {
      const url = new URL(req.url ?? '/', 'http://localhost')
      const match = /^\/ipfs\/([^/?#]+)$/.exec(url.pathname)
      if (!match) return false
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: ALLOWED_METHODS, 'content-type': 'text/plain' }).end('method not allowed')
        return true
      }
      let cid: CID
      try {
        cid = parseAnyCid(decodeURIComponent(match[1]!))
      } catch {
        res.writeHead(400, { 'content-type': 'text/plain' }).end('invalid CID')
        return true
      }
      const format = url.searchParams.get('format')
      const accept = req.headers.accept ?? ''
      if (format !== 'raw' && !accept.includes('application/vnd.ipld.raw')) {
        res.writeHead(406, { 'content-type': 'text/plain' }).end('only raw blocks (?format=raw) are served')
        return true
      }
      if (!published.has(multihashKey(cid)) || !(await helia.blockstore.has(cid))) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('block not found')
        return true
      }
      const parts: Uint8Array[] = []
      for await (const part of helia.blockstore.get(cid)) parts.push(part)
      const body = Buffer.concat(parts)
      res
        .writeHead(200, {
          'content-type': 'application/vnd.ipld.raw',
          'content-length': body.byteLength,
          'cache-control': 'public, max-age=29030400, immutable',
          etag: `"${cid.toString()}.raw"`,
        })
        .end(req.method === 'HEAD' ? undefined : body)
      return true
    },
    async stop() {
      await helia.stop()
    },
  }
}
