import { connect, createServer } from 'node:net'
import { TrickleError } from '@trickle/protocol'
import { describe, expect, it } from 'vitest'
import { formatError } from '../src/formatError.ts'

/** A real ECONNREFUSED from a local port nothing listens on. */
async function refusedConnection(): Promise<{ port: number; error: Error }> {
  const port = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
  const error = await new Promise<Error>((resolve) => connect(port, '127.0.0.1').on('error', resolve))
  return { port, error }
}

describe('formatError', () => {
  it('says the seller is not running, how to start the local marketplace, and the URL it tried', async () => {
    const { port, error } = await refusedConnection()
    const url = `ws://127.0.0.1:${port}`
    const err = new TrickleError('CONNECTION_FAILED', `cannot connect to ${url}`, { cause: error })
    const line = formatError(err)
    expect(line).toMatch(/^error CONNECTION_FAILED: /)
    expect(line).toContain(url)
    expect(line).toMatch(/seller .*not running/)
    expect(line).toContain('npm start')
  })

  it('leaves other errors as they are', () => {
    expect(formatError(new TrickleError('PRODUCT_NOT_FOUND', 'product 9 is not listed'))).toBe(
      'error PRODUCT_NOT_FOUND: product 9 is not listed',
    )
  })
})
