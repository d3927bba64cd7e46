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
import { BuyerClient, createTrickle, indexedDbKeyStore } from '@trickle/sdk'
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
 * A stand-in for a browser wallet: an EIP-1193 provider (`window.ethereum`'s interface) that forwards
 * every request to anvil, whose unlocked dev accounts sign `eth_sendTransaction`.
 */
function devWallet(rpcUrl) {
  let id = 0
  return {
    async request({ method, params }) {
      const response = await fetch(rpcUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params: params ?? [] }),
      })
      const body = await response.json()
      if (body.error) throw Object.assign(new Error(body.error.message), body.error)
      return body.result
    },
  }
}

/**
 * What a storefront does: `createTrickle` with the wallet as signer and the browser's IndexedDB as the
 * session-key store, then `subscribe` to a product until the budget (wei, decimal) is spent.
 */
async function subscribeWithWallet(market, productId, budget) {
  const trickle = await createTrickle({
    rpcUrl: market.rpcUrl,
    ...market.config,
    signer: devWallet(market.rpcUrl),
    keyStore: indexedDbKeyStore('trickle-test'),
  })
  try {
    const received = []
    for await (const chunk of trickle.subscribe(BigInt(productId), { budget: BigInt(budget) })) {
      received.push(chunk.seq)
    }
    const [channel] = await trickle.channels()
    return {
      received,
      payer: trickle.payerAddress,
      channelId: channel.channelId,
      channelSigner: channel.signer,
      deposit: channel.deposit.toString(),
    }
  } finally {
    await trickle.close()
  }
}

window.trickle = { core, listProducts, subscribeWithWallet }
document.body.dataset.ready = 'true'
