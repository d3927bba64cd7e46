import type { IncomingMessage, ServerResponse } from 'node:http'
import { dagJson } from '@helia/dag-json'
import { encodeDescriptor, type ProductDescriptor } from '@trickle/protocol'
import { FsBlockstore } from 'blockstore-fs'
import type { Helia } from 'helia'
import { createHeliaLight } from 'helia'
import { CID } from 'multiformats/cid'

/** The seller's IPFS node: a helia node with a persistent blockstore that serves its own blocks. */
export interface IpfsNode {
  readonly helia: Helia
  /**
   * Adds a descriptor as a dag-json block.
   * @returns its CID (CIDv1, dag-json, sha2-256)
   */
  publish(descriptor: ProductDescriptor): Promise<CID>
  /**
   * Serves `GET /ipfs/<cid>` per the IPFS trustless gateway spec (raw blocks only,
   * `application/vnd.ipld.raw`), so buyers' IPFS clients fetch and verify descriptors by CID.
   * @returns whether the request was an `/ipfs/` request (handled)
   */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>
  stop(): Promise<void>
}

/**
 * Starts the node.
 * @param blockstorePath - directory of the persistent blockstore
 */
export async function startIpfsNode(blockstorePath: string): Promise<IpfsNode> {
  const blockstore = new FsBlockstore(blockstorePath)
  const helia = createHeliaLight({ blockstore })
  await helia.start()
  const dag = dagJson(helia)
  return {
    helia,
    async publish(descriptor) {
      const { cid } = await encodeDescriptor(descriptor)
      const added = await dag.add(descriptor)
      if (!added.equals(cid)) throw new Error(`helia CID ${added} differs from ${cid}`)
      return added
    },
    async handle(req, res) {
      const url = new URL(req.url ?? '/', 'http://localhost')
      const match = /^\/ipfs\/([^/?#]+)$/.exec(url.pathname)
      if (!match) return false
      let cid: CID
      try {
        cid = CID.parse(match[1]!)
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
      if (!(await helia.blockstore.has(cid))) {
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
