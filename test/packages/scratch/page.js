// The page of test/packages/install.test.ts: bundled by Vite from a project that installed the packed
// tarballs (what a developer's bundle holds), loaded in Chromium, driven through `window.trickle`.
// Values cross page.evaluate as JSON: bigints travel as decimal strings, bytes as 0x hex.
import {
  decodeFrame,
  encodeFrame,
  fromHex,
  nextAckHash,
  receiptDomainSeparator,
  recoverReceiptSigner,
  signReceipt,
  toHex,
  ZERO_HASH,
} from '@trickle/protocol'
import { BuyerClient } from '@trickle/sdk'
import { JsonRpcProvider, SigningKey, Wallet } from 'ethers'

/** The frame codec and receipt signatures of the core, on inputs made in Node. */
function core({ frame, key, domain, receipt, signature, chunk }) {
  const separator = receiptDomainSeparator(domain)
  const value = { ...receipt, amount: BigInt(receipt.amount) }
  const decoded = decodeFrame(fromHex(frame))
  let malformed = 'accepted'
  try {
    decodeFrame(new Uint8Array([0xc1]))
  } catch (err) {
    malformed = err.code
  }
  return {
    bufferGlobal: typeof globalThis.Buffer,
    decoded: { ...decoded, amount: decoded.amount.toString() },
    reencoded: toHex(encodeFrame(decoded)),
    signature: signReceipt(new SigningKey(key), separator, value),
    signer: recoverReceiptSigner(separator, value, signature),
    tamperedSigner: recoverReceiptSigner(separator, { ...value, amount: value.amount + 1n }, signature),
    ackHash: nextAckHash(ZERO_HASH, fromHex(chunk)),
    malformed,
  }
}

/** A BuyerClient on the marketplace, with a private-key wallet; closed after `use`. */
async function withBuyer({ rpcUrl, config, buyerKey }, use) {
  const provider = new JsonRpcProvider(rpcUrl, config.chainId, {
    staticNetwork: true,
    cacheTimeout: -1,
    pollingInterval: 100,
  })
  const buyer = await BuyerClient.create({ wallet: new Wallet(buyerKey, provider), ...config })
  try {
    return await use(buyer)
  } finally {
    await buyer.close()
    provider.destroy()
  }
}

/** The SDK's catalog: registry logs over anvil's RPC, descriptors from the seller's gateway (CORS). */
function listProducts(market) {
  return withBuyer(market, async (buyer) =>
    (await buyer.products()).map((p) => ({ name: p.descriptor?.name, problem: p.problem?.code })),
  )
}

/**
 * Opens a channel and buys `chunks` chunks of the first product, like scratch/buyer.mjs in Node.
 * Needs an SDK that streams over the WHATWG WebSocket (the SDK of this commit still imports `ws`).
 */
function buyChunks(market, chunks) {
  return withBuyer(market, async (buyer) => {
    const product = (await buyer.products()).find((p) => p.descriptor)
    const price = BigInt(product.descriptor.pricePerChunk)
    const deposit = price * BigInt(chunks) * 2n
    const { channelId } = await buyer.openChannel(product.descriptor.seller, deposit)
    const stream = await buyer.stream(product, { channelId, maxSpend: deposit, maxChunks: chunks })
    const received = []
    for await (const chunk of stream) received.push(chunk.seq)
    const summary = await stream.finished
    return { received, paid: summary.paid.toString(), price: price.toString(), reason: summary.reason }
  })
}

window.trickle = { core, listProducts, buyChunks }
document.body.dataset.ready = 'true'
