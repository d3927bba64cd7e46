import { type LocalMarketplace, startLocalMarketplace } from '@trickle/devnet'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

describe('seller gateway CORS', () => {
  let market: LocalMarketplace

  beforeAll(async () => {
    market = await startLocalMarketplace({ rowsPerSecond: 0 })
  })
  afterAll(async () => {
    await market?.stop()
  })

  it('lets a page of another origin read descriptors and health (GET and HEAD)', async () => {
    const origin = { origin: 'http://127.0.0.1:1' }
    const health = await fetch(`${market.seller.httpUrl}/health`, { headers: origin })
    const { products } = (await health.json()) as { products: { cid: string }[] }
    expect(health.headers.get('access-control-allow-origin')).toBe('*')
    for (const method of ['GET', 'HEAD']) {
      const res = await fetch(`${market.seller.httpUrl}/ipfs/${products[0]!.cid}?format=raw`, {
        method,
        headers: origin,
      })
      expect(res.status).toBe(200)
      expect(res.headers.get('access-control-allow-origin')).toBe('*')
    }
  })
})
