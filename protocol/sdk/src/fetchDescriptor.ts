import { type ProductDescriptor, parseDescriptor, TrickleError } from '@trickle/protocol'
import { CID } from 'multiformats/cid'

/** A running IPFS client that fetches blocks from trustless gateways and verifies them by CID. */
export interface DescriptorFetcher {
  /**
   * Fetches and validates the descriptor block named by `cid`.
   * @param cid - binary CID (as stored on-chain) or its string form
   * @param timeoutMs - ms before giving up
   * @throws TrickleError `DESCRIPTOR_UNAVAILABLE` (no gateway had it in time), `DESCRIPTOR_INVALID`
   */
  fetch(cid: Uint8Array | string, timeoutMs?: number): Promise<ProductDescriptor>
  stop(): Promise<void>
}

/**
 * Starts a helia node (no libp2p) whose only block source is the given IPFS trustless gateways
 * (https://specs.ipfs.tech/http-gateways/trustless-gateway/); every block is checked against its CID.
 *
 * @param gateways - gateway base URLs, e.g. the seller server's `http://127.0.0.1:PORT`
 */
export async function createDescriptorFetcher(gateways: readonly string[]): Promise<DescriptorFetcher> {
  // Loaded on first use: helia takes most of a second to import, and channel commands never need it.
  const [{ dagJson }, { fallbackRouter }, { trustlessGatewayBlockBroker }, { createHeliaLight }] =
    await Promise.all([
      import('@helia/dag-json'),
      import('@helia/fallback-router'),
      import('@helia/trustless-gateway-client'),
      import('helia'),
    ])
  // The gateways are our primary routing, not a fallback: helia 7 waits forever for "default"
  // routers to go idle when it has none (routing.js findProviders), so expose them as a plain router.
  const gatewayRouter = fallbackRouter({ gateways: [...gateways], shuffle: false })
  const helia = createHeliaLight({
    blockBrokers: [trustlessGatewayBlockBroker({ allowInsecure: true, allowLocal: true })],
    routers: [
      {
        name: 'trickle-gateways',
        findProviders: (cid, options) => gatewayRouter.findProviders!(cid, options),
      },
    ],
  })
  await helia.start()
  const dag = dagJson(helia)
  return {
    async fetch(cidInput, timeoutMs = 10_000) {
      const cid = typeof cidInput === 'string' ? CID.parse(cidInput) : CID.decode(cidInput)
      let value: unknown
      try {
        value = await dag.get(cid, { signal: AbortSignal.timeout(timeoutMs) })
      } catch (cause) {
        throw new TrickleError('DESCRIPTOR_UNAVAILABLE', `descriptor ${cid} could not be fetched`, { cause })
      }
      return parseDescriptor(value)
    },
    async stop() {
      await helia.stop()
    },
  }
}
