import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { encodeDescriptor, type ProductDescriptor } from '@trickle/protocol'
import { CID } from 'multiformats/cid'
import { sha512 } from 'multiformats/hashes/sha2'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDescriptorFetcher, MAX_DESCRIPTOR_BYTES } from '../src/index.ts'

const descriptor: ProductDescriptor = {
  schema: 'trickle.descriptor/1',
  name: 'CO',
  description: 'carbon monoxide, one reading per message',
  kind: 'stream',
  seller: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  endpoint: 'ws://127.0.0.1:1',
  pricePerChunk: '1000',
  chunk: { encoding: 'application/json', maxBytes: 512, unit: 'one reading' },
  topics: ['air/co'],
  fields: [{ name: 'co', unit: 'mg/m³' }],
  tags: ['co'],
  source: { title: 'test', licence: 'CC BY 4.0', attribution: 'test' },
  createdAt: '2026-01-01T00:00:00.000Z',
}

/** A gateway on 127.0.0.1 that answers every block request with `reply`. */
async function gateway(
  reply: (res: import('node:http').ServerResponse) => void,
): Promise<{ url: string; server: Server; hits: () => number }> {
  let hits = 0
  const server = createServer((req, res) => {
    hits++
    expect(req.url).toMatch(/^\/ipfs\/b[a-z2-7]+\?format=raw$/)
    reply(res)
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, hits: () => hits }
}

describe('createDescriptorFetcher (trustless gateway, CID-checked)', () => {
  let block: { cid: CID; bytes: Uint8Array }
  const servers: Server[] = []
  beforeAll(async () => {
    block = await encodeDescriptor(descriptor)
  })
  afterAll(() => {
    for (const server of servers) server.close()
  })

  it('skips a gateway that serves other bytes under the CID and takes the next one that serves the block', async () => {
    const liar = await gateway((res) => res.end(new TextEncoder().encode('{"v":1,"name":"forged"}')))
    const honest = await gateway((res) => res.end(block.bytes))
    servers.push(liar.server, honest.server)
    const fetcher = createDescriptorFetcher([liar.url, honest.url])
    const got = await fetcher.fetch(block.cid.bytes)
    expect(got.name).toBe('CO')
    expect([liar.hits(), honest.hits()]).toEqual([1, 1])
  })

  it('fails with DESCRIPTOR_UNAVAILABLE, naming each gateway, when none serves a matching block', async () => {
    const liar = await gateway((res) => res.end('nope'))
    const missing = await gateway((res) => {
      res.statusCode = 404
      res.end()
    })
    servers.push(liar.server, missing.server)
    const fetcher = createDescriptorFetcher([liar.url, missing.url])
    const err = await fetcher.fetch(block.cid.toString()).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'DESCRIPTOR_UNAVAILABLE' })
    expect((err as Error).message).toContain('does not match the CID')
    expect((err as Error).message).toContain('HTTP 404')
  })

  it('stops reading a body above MAX_DESCRIPTOR_BYTES instead of holding it', async () => {
    const chunk = new Uint8Array(64 * 1024)
    let sent = 0
    const flood = await gateway((res) => {
      const write = () => {
        while (sent < 64 * MAX_DESCRIPTOR_BYTES && res.write(chunk)) sent += chunk.length
        if (sent < 64 * MAX_DESCRIPTOR_BYTES) res.once('drain', write)
        else res.end()
      }
      res.on('close', () => res.removeAllListeners('drain'))
      write()
    })
    servers.push(flood.server)
    const fetcher = createDescriptorFetcher([flood.url])
    const err = await fetcher.fetch(block.cid.bytes).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'DESCRIPTOR_UNAVAILABLE' })
    expect((err as Error).message).toContain(`above ${MAX_DESCRIPTOR_BYTES} bytes`)
    expect(sent).toBeLessThan(64 * MAX_DESCRIPTOR_BYTES)
  })

  it('gives up at the timeout on a gateway that never answers', async () => {
    const silent = await gateway(() => {})
    servers.push(silent.server)
    const fetcher = createDescriptorFetcher([silent.url])
    const err = await fetcher.fetch(block.cid.bytes, 300).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'DESCRIPTOR_UNAVAILABLE' })
  })

  it('refuses a CID whose hash it cannot verify (DESCRIPTOR_INVALID), and one that does not parse', async () => {
    const fetcher = createDescriptorFetcher(['http://127.0.0.1:9'])
    const other = CID.createV1(0x0129, await sha512.digest(block.bytes))
    await expect(fetcher.fetch(other.bytes)).rejects.toMatchObject({ code: 'DESCRIPTOR_INVALID' })
    await expect(fetcher.fetch('not a cid')).rejects.toMatchObject({ code: 'DESCRIPTOR_INVALID' })
  })
})
