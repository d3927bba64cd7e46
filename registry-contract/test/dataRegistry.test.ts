import { type DataRegistryContract, ProductKind, registryAt } from '@trickle/contracts'
import { hexlify, randomBytes, type Wallet, ZeroAddress } from 'ethers'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  dagCborCid,
  dagJsonCid,
  mined,
  reportGas,
  revertName,
  setupChain,
  type TestChain,
} from './helpers.ts'

describe('DataRegistry', () => {
  let t: TestChain
  let seller: Wallet
  let stranger: Wallet
  let registry: DataRegistryContract

  beforeAll(async () => {
    t = await setupChain()
    seller = t.wallets[1]!
    stranger = t.wallets[2]!
    registry = registryAt(t.deployment.registry, seller)
  })
  afterAll(async () => {
    await t?.chain.stop()
  })

  async function register(cid: Uint8Array, kind: number = ProductKind.stream): Promise<bigint> {
    const id = await registry.register.staticCall(cid, kind)
    await mined(registry.register(cid, kind))
    return id
  }

  it('registers a product from id 1, emits ProductRegistered and returns the CID bytes exactly', async () => {
    const cid = dagJsonCid('{"name":"air quality, Zurich"}')
    const countBefore = await registry.productCount()
    expect(countBefore).toBe(0n)
    const receipt = await mined(registry.register(cid, ProductKind.stream))
    const gas = reportGas('DataRegistry.register (first product, 37-byte dag-json CID)', receipt)
    const event = registry.interface.parseLog(receipt.logs[0]!)
    expect(event?.name).toBe('ProductRegistered')
    expect(event?.args.toObject()).toEqual({
      productId: 1n,
      owner: seller.address,
      kind: 0n,
      descriptorCid: hexlify(cid),
    })
    const product = await registry.getProduct(1n)
    expect(product.owner).toBe(seller.address)
    expect(product.kind).toBe(ProductKind.stream)
    expect(product.active).toBe(true)
    expect(product.descriptorCid).toBe(hexlify(cid))
    const [owner, kind, active, descriptorCid] = product
    expect([owner, kind, active, descriptorCid]).toEqual([seller.address, 0, true, hexlify(cid)])
    expect(await registry.productCount()).toBe(1n)
    expect(gas).toBeLessThanOrEqual(100_000n)

    const second = await mined(registry.register(dagCborCid('dataset'), ProductKind.dataset))
    const secondGas = reportGas('DataRegistry.register (later product, 36-byte dag-cbor CID)', second)
    expect(secondGas).toBeLessThanOrEqual(100_000n)
    expect(await registry.productCount()).toBe(2n)
    expect((await registry.getProduct(2n)).kind).toBe(ProductKind.dataset)
  })

  it('stores CIDs of any length from 1 to 256 bytes and returns them unchanged', async () => {
    for (const length of [1, 31, 32, 33, 41, 42, 68, 256]) {
      const cid = randomBytes(length)
      const id = await register(cid, ProductKind.app)
      expect((await registry.getProduct(id)).descriptorCid).toBe(hexlify(cid))
    }
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 256 }), async (cid) => {
        const id = await register(cid, ProductKind.compute)
        expect((await registry.getProduct(id)).descriptorCid).toBe(hexlify(cid))
      }),
      { numRuns: 15 },
    )
  })

  it('rejects an empty CID, a CID over 256 bytes and a kind above 3', async () => {
    expect(await revertName(registry.register('0x', 0))).toBe('EmptyCid')
    expect(await revertName(registry.register(randomBytes(257), 0))).toBe('CidTooLong')
    expect(await revertName(registry.register(dagJsonCid('x'), 4))).toBe('InvalidKind')
  })

  it('lets only the owner update, switching between packed and long CIDs', async () => {
    const id = await register(dagJsonCid('v1'))
    expect(await revertName(registry.connect(stranger).update(id, dagJsonCid('evil')))).toBe('NotOwner')
    const long = randomBytes(100)
    const receipt = await mined(registry.update(id, long))
    const event = registry.interface.parseLog(receipt.logs[0]!)
    expect(event?.name).toBe('ProductUpdated')
    expect(event?.args.toObject()).toEqual({ productId: id, descriptorCid: hexlify(long) })
    expect((await registry.getProduct(id)).descriptorCid).toBe(hexlify(long))
    const v2 = dagJsonCid('v2')
    await mined(registry.update(id, v2))
    expect((await registry.getProduct(id)).descriptorCid).toBe(hexlify(v2))
    expect(await revertName(registry.update(id, '0x'))).toBe('EmptyCid')
    expect(await revertName(registry.update(999_999n, v2))).toBe('UnknownProduct')
  })

  it('lets only the owner deactivate, once, and keeps the product readable', async () => {
    const cid = dagJsonCid('to retire')
    const id = await register(cid)
    expect(await revertName(registry.connect(stranger).deactivate(id))).toBe('NotOwner')
    const receipt = await mined(registry.deactivate(id))
    const event = registry.interface.parseLog(receipt.logs[0]!)
    expect(event?.name).toBe('ProductDeactivated')
    expect(event?.args.toObject()).toEqual({ productId: id })
    const product = await registry.getProduct(id)
    expect(product.active).toBe(false)
    expect(product.descriptorCid).toBe(hexlify(cid))
    expect(await revertName(registry.deactivate(id))).toBe('ProductInactive')
    expect(await revertName(registry.getProduct(0n))).toBe('UnknownProduct')
  })

  it('records the seller terms-signing key and emits SellerKeySet', async () => {
    const key = t.wallets[5]!.address
    expect(await registry.sellerKey(seller.address)).toBe(ZeroAddress)
    const receipt = await mined(registry.setSellerKey(key))
    const event = registry.interface.parseLog(receipt.logs[0]!)
    expect(event?.name).toBe('SellerKeySet')
    expect(event?.args.toObject()).toEqual({ seller: seller.address, key })
    expect(await registry.sellerKey(seller.address)).toBe(key)
    expect(await registry.sellerKey(stranger.address)).toBe(ZeroAddress)
  })
})
