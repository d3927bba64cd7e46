import { loadAirQuality } from '@trickle/devices'
import { DEMO_DEVICE_KEY, type LocalMarketplace, startLocalMarketplace } from '@trickle/devnet'
import { type Address, signReading } from '@trickle/protocol'
import { BuyerClient, type Chunk } from '@trickle/sdk'
import { computeAddress, JsonRpcProvider, SigningKey, Wallet } from 'ethers'
import mqtt from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

describe('device-signed readings end to end (replayer → broker → seller → SDK)', () => {
  let market: LocalMarketplace
  let provider: JsonRpcProvider

  beforeAll(async () => {
    market = await startLocalMarketplace({ rowsPerSecond: 20, deviceKey: DEMO_DEVICE_KEY })
    provider = new JsonRpcProvider(market.rpcUrl, market.chainId, { staticNetwork: true, cacheTimeout: -1 })
  })
  afterAll(async () => {
    provider?.destroy()
    await market?.stop()
  })

  it('verifies every reading the device signed, and flags one changed on its way as invalid', async () => {
    const client = await BuyerClient.create({
      ...market.config,
      wallet: new Wallet(market.buyerKeys[0]!, provider),
    })
    const product = (await client.products()).find((p) =>
      p.descriptor?.topics.some((t) => t.endsWith('/co')),
    )!
    const device = computeAddress(DEMO_DEVICE_KEY) as Address
    expect(product.descriptor!.devices).toEqual([{ id: 'airquality-uci', address: device }])
    const price = BigInt(product.descriptor!.pricePerChunk)
    const { channelId } = await client.openChannel(product.descriptor!.seller as Address, price * 100n)
    const stream = await client.stream(product, { channelId, maxSpend: price * 100n, maxChunks: 30 })

    // Someone between the device and the buyer changes a value but keeps the device's signature.
    const genuine = JSON.parse(
      new TextDecoder().decode(signReading(new SigningKey(DEMO_DEVICE_KEY), '{"value":1.1}')),
    ) as Record<string, string>
    const forged = JSON.stringify({ ...genuine, payload: '{"value":99.9}' })
    const topic = product.descriptor!.topics[0]!
    const publisher = await mqtt.connectAsync(market.brokerUrl)
    const rows = await loadAirQuality()
    const chunks: Chunk[] = []
    try {
      for await (const chunk of stream) {
        chunks.push(chunk)
        if (chunks.length === 5) await publisher.publishAsync(topic, forged)
      }
    } finally {
      await publisher.endAsync()
    }
    expect(chunks).toHaveLength(30)
    const invalid = chunks.filter((c) => c.provenance?.status === 'invalid')
    expect(invalid).toHaveLength(1)
    expect(invalid[0]!.provenance).toMatchObject({
      reason: expect.stringContaining('not the stated device'),
      device,
    })
    const verified = chunks.filter((c) => c.provenance?.status === 'verified')
    expect(verified).toHaveLength(29)
    for (const c of verified) {
      // the signed bytes are the replayer's reading of the UCI row, as published
      const reading = JSON.parse(new TextDecoder().decode((c.provenance as { payload: Uint8Array }).payload))
      expect(reading.value).toEqual(rows[reading.row]!.values.co)
    }
    // paid for what was delivered, provenance aside
    expect((await stream.finished).paid).toBe(30n * price)
  }, 60_000)
})
