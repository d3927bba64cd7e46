// A provider's key to seal jobs to (SPEC.md §Jobs, "Sealed jobs") comes over plain HTTP: a relay or a
// hostile server in between may answer its own key. The buyer seals only to the provider's registered
// key; anything else is refused before a byte of the module or its arguments leaves.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type Address, hasCode } from '@trickle/protocol'
import { computeAddress, Wallet } from 'ethers'
import { afterEach, describe, expect, it } from 'vitest'
import { fetchJobSealingKey } from '../src/index.ts'

const registered = Wallet.createRandom()
const SELLER_KEY = computeAddress(registered.signingKey.publicKey) as Address

let server: Server | undefined
afterEach(() => server?.close())

/** A provider (or a relay posing as one) on 127.0.0.1 answering `GET /jobs/key` with `body`. */
async function answering(status: number, body: string): Promise<string> {
  server = createServer((_, res) => res.writeHead(status, { 'content-type': 'application/json' }).end(body))
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`
}

describe('fetchJobSealingKey: the key a buyer seals a job to', () => {
  it('takes the provider’s registered key', async () => {
    const endpoint = await answering(200, JSON.stringify({ publicKey: registered.signingKey.publicKey }))
    expect(await fetchJobSealingKey(endpoint, SELLER_KEY)).toBe(registered.signingKey.publicKey)
  })

  it('refuses a relay’s own key in its place', async () => {
    const relay = Wallet.createRandom().signingKey.publicKey
    const endpoint = await answering(200, JSON.stringify({ publicKey: relay }))
    await expect(fetchJobSealingKey(endpoint, SELLER_KEY)).rejects.toSatisfy((err: unknown) =>
      hasCode(err, 'JOB_REJECTED'),
    )
  })

  it('refuses no key, a malformed key, a compressed one, or an error answer', async () => {
    for (const [status, body] of [
      [200, '{}'],
      [200, JSON.stringify({ publicKey: '0x04zz' })],
      [200, JSON.stringify({ publicKey: registered.signingKey.compressedPublicKey })],
      [404, 'not found'],
    ] as const) {
      server?.close()
      const endpoint = await answering(status, body)
      await expect(fetchJobSealingKey(endpoint, SELLER_KEY)).rejects.toSatisfy(
        (err: unknown) => hasCode(err, 'JOB_REJECTED') || hasCode(err, 'CONNECTION_FAILED'),
      )
    }
  })
})
