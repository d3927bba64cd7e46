// A developer's first buyer, run by test/packages/install.test.ts in a project that installed the
// packed tarballs: list the products, open a channel, buy a few chunks, print one JSON line.
// Input: TRICKLE_MARKET = { rpcUrl, config (MarketplaceConfig), buyerKey, chunks }.
import { channelsAt } from '@trickle/contracts'
import { decodeFrame, encodeFrame } from '@trickle/protocol'
import { BuyerClient } from '@trickle/sdk'
import { JsonRpcProvider, Wallet } from 'ethers'

const { rpcUrl, config, buyerKey, chunks } = JSON.parse(process.env.TRICKLE_MARKET)
const provider = new JsonRpcProvider(rpcUrl, config.chainId, {
  staticNetwork: true,
  cacheTimeout: -1,
  pollingInterval: 100,
})
const buyer = await BuyerClient.create({ wallet: new Wallet(buyerKey, provider), ...config })
try {
  const products = await buyer.products()
  const product = products.find((p) => p.descriptor)
  const price = BigInt(product.descriptor.pricePerChunk)
  const deposit = price * BigInt(chunks) * 2n
  const { channelId } = await buyer.openChannel(product.descriptor.seller, deposit)
  const stream = await buyer.stream(product, { channelId, maxSpend: deposit, maxChunks: chunks })
  const received = []
  for await (const chunk of stream) received.push(chunk.seq)
  const summary = await stream.finished
  const channel = await channelsAt(config.channels, provider).getChannel(channelId)
  const ping = decodeFrame(encodeFrame({ t: 'ping', n: 7 }))
  console.log(
    JSON.stringify({
      products: products.map((p) => p.descriptor?.name),
      bought: product.descriptor.name,
      received,
      paid: summary.paid.toString(),
      price: price.toString(),
      reason: summary.reason,
      deposit: channel.deposit.toString(),
      ping,
    }),
  )
} finally {
  await buyer.close()
  provider.destroy()
}
