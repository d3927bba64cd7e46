import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { type LocalMarketplace, startLocalMarketplace } from '@trickle/seller'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toChunkRecord } from '../src/cli/chunkRecord.ts'
import { resolveConfig } from '../src/cli/resolveConfig.ts'

const MAIN = resolve(import.meta.dirname, '../src/cli/main.ts')

interface Run {
  code: number
  stdout: string
  stderr: string
}

/** Runs the CLI as a child process with this Node (24, type stripping) and the test's config. */
function trickle(configPath: string, ...args: string[]): Promise<Run> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [MAIN, '--config', configPath, ...args],
      { timeout: 30_000, env: { ...process.env, TRICKLE_PRIVATE_KEY: '' } },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0
        done({ code, stdout, stderr })
      },
    )
  })
}

describe('trickle CLI against a local marketplace', () => {
  let market: LocalMarketplace
  let dir: string
  let config: string

  beforeAll(async () => {
    market = await startLocalMarketplace({ rowsPerSecond: 100 })
    dir = mkdtempSync(join(tmpdir(), 'trickle-cli-'))
    config = join(dir, 'local.json')
    writeFileSync(
      config,
      JSON.stringify({
        rpcUrl: market.rpcUrl,
        chainId: market.chainId,
        registry: market.deployment.registry,
        channels: market.deployment.channels,
        deployBlock: market.deployment.deployBlock,
        gateways: [market.seller.httpUrl],
        buyerKey: market.buyerKeys[0],
      }),
    )
  })

  afterAll(async () => {
    await market?.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('lists the three products with names and prices as JSON', async () => {
    const run = await trickle(config, 'products', '--json')
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    const rows = JSON.parse(run.stdout) as { productId: string; name: string; pricePerChunk: string }[]
    expect(rows).toHaveLength(3)
    expect(rows.map((r) => r.productId)).toEqual(['1', '2', '3'])
    for (const r of rows) {
      expect(r.name).toMatch(/\w/)
      expect(BigInt(r.pricePerChunk)).toBeGreaterThan(0n)
    }
  })

  it('buys 20 chunks: writes them in sequence, pays 20 × price, shows the channel', async () => {
    const rows = JSON.parse((await trickle(config, 'products', '--json')).stdout) as {
      productId: string
      pricePerChunk: string
    }[]
    const price = BigInt(rows.find((r) => r.productId === '2')!.pricePerChunk)
    const out = join(dir, 'out.ndjson')
    const run = await trickle(
      config,
      'buy',
      '2',
      '--chunks',
      '20',
      '--max-spend',
      (price * 100n).toString(),
      '--out',
      out,
    )
    expect(run.stderr).not.toMatch(/^error/m)
    expect(run.code).toBe(0)

    const lines = readFileSync(out, 'utf8').trimEnd().split('\n')
    expect(lines).toHaveLength(20)
    const records = lines.map((l) => JSON.parse(l) as { seq: number; reading: Record<string, unknown> })
    const first = records[0]!.seq
    records.forEach((r, i) => {
      expect(r.seq).toBe(first + i)
      expect(r.reading).toHaveProperty('sensor')
      expect(r.reading).toHaveProperty('value')
    })

    const summary = JSON.parse(run.stdout.trim()) as Record<string, unknown>
    expect(summary).toMatchObject({ productId: '2', chunks: 20, paidWei: (price * 20n).toString(), out })
    expect(summary.channelId).toMatch(/^0x[0-9a-f]{64}$/)

    const channel = await trickle(config, 'channel', summary.channelId as string)
    expect(channel.code).toBe(0)
    const view = JSON.parse(channel.stdout) as Record<string, string>
    expect(view).toMatchObject({ status: 'open', deposit: (price * 100n).toString() })
    expect(view.payee?.toLowerCase()).toBe(market.seller.address.toLowerCase())
  })

  it('refuses a --max-spend below one chunk’s price with SPENDING_CAP_REACHED, before opening a channel', async () => {
    const out = join(dir, 'cap.ndjson')
    const run = await trickle(config, 'buy', '1', '--chunks', '5', '--max-spend', '1', '--out', out)
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/^error SPENDING_CAP_REACHED: /m)
    expect(run.stdout).toBe('')
  })

  it('fails with PRODUCT_NOT_FOUND for an unknown product id', async () => {
    const out = join(dir, 'none.ndjson')
    const run = await trickle(config, 'buy', '999', '--chunks', '1', '--max-spend', '1000', '--out', out)
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/^error PRODUCT_NOT_FOUND: /m)
  })

  it('fails with UNKNOWN_CHANNEL for a channel id that was never opened', async () => {
    const run = await trickle(config, 'channel', `0x${'ab'.repeat(32)}`)
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/^error UNKNOWN_CHANNEL: /m)
  })

  it('exits 2 on a usage error', async () => {
    const run = await trickle(config, 'buy', '2', '--chunks', 'many', '--max-spend', '1', '--out', 'x')
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/--chunks/)
  })
})

describe('resolveConfig', () => {
  const file = JSON.stringify({
    rpcUrl: 'http://127.0.0.1:8545',
    chainId: 31337,
    registry: `0x${'11'.repeat(20)}`,
    channels: `0x${'22'.repeat(20)}`,
    deployBlock: 3,
    gateways: ['http://127.0.0.1:9000'],
    buyerKey: `0x${'33'.repeat(32)}`,
  })

  it('lets flags override the environment and the environment override the file', () => {
    const cfg = resolveConfig(
      { rpcUrl: 'http://flag:1', gateway: ['http://flag-gw:1'] },
      { TRICKLE_RPC_URL: 'http://env:1', TRICKLE_CHAIN_ID: '5', TRICKLE_GATEWAYS: 'http://a:1, http://b:1' },
      () => file,
    )
    expect(cfg).toMatchObject({
      rpcUrl: 'http://flag:1',
      chainId: 5,
      gateways: ['http://flag-gw:1'],
      deployBlock: 3,
      privateKey: `0x${'33'.repeat(32)}`,
    })
    const fromEnv = resolveConfig({}, { TRICKLE_GATEWAYS: 'http://a:1, http://b:1' }, () => file)
    expect(fromEnv.gateways).toEqual(['http://a:1', 'http://b:1'])
  })

  it('names the missing field and where to set it when there is no config file', () => {
    expect(() => resolveConfig({}, {}, () => undefined)).toThrow(/rpcUrl is not set: set it with --rpc-url/)
  })
})

describe('toChunkRecord', () => {
  it('keeps a JSON payload as the reading and falls back to base64 otherwise', () => {
    const json = new TextEncoder().encode('{"sensor":"co","value":1.2}')
    expect(toChunkRecord({ seq: 4, data: json })).toEqual({ seq: 4, reading: { sensor: 'co', value: 1.2 } })
    expect(toChunkRecord({ seq: 5, data: new Uint8Array([0xff, 0x00]) })).toEqual({ seq: 5, base64: '/wA=' })
  })
})
