import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { type LocalMarketplace, localConfig, startLocalMarketplace } from '@trickle/devnet'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toChunkRecord } from '../src/chunkRecord.ts'
import { resolveConfig } from '../src/resolveConfig.ts'

const MAIN = resolve(import.meta.dirname, '../src/main.ts')

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
    writeFileSync(config, JSON.stringify(localConfig(market)))
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

  it('shows each product’s description, fields with units, licence, kind and seller, as JSON and as text', async () => {
    const json = await trickle(config, 'products', '--json')
    const rows = JSON.parse(json.stdout) as Record<string, unknown>[]
    const co = rows.find((r) => r.productId === '1')!
    expect(co).toMatchObject({ kind: 'stream', licence: expect.stringMatching(/\w/) })
    expect(co.description).toMatch(/CO\(GT\)/)
    expect(co.fields).toEqual([{ name: 'CO(GT)', unit: 'mg/m³' }])
    expect(String(co.seller).toLowerCase()).toBe(market.seller.address.toLowerCase())

    const text = await trickle(config, 'products')
    expect(text.code).toBe(0)
    for (const line of text.stdout.split('\n')) expect(line.length).toBeLessThanOrEqual(100)
    expect(text.stdout).toMatch(/^1 +stream +active +Carbon monoxide, road level$/m)
    expect(text.stdout).toMatch(/^ +Hourly CO\(GT\) from the reference analyser/m)
    expect(text.stdout).toMatch(/^ +fields +CO\(GT\) \(mg\/m³\)$/m)
    expect(text.stdout).toMatch(
      new RegExp(`^ +licence +${String(co.licence).replace(/[.()]/g, '\\$&')}`, 'm'),
    )
    expect(text.stdout).toMatch(/^ +price +0\.000001 ETH per chunk/m)
    expect(text.stdout).toContain(String(co.seller))
  })

  it('states each product’s rate (100 rows/s × its sensors) and its price per hour, as JSON and as text', async () => {
    const json = await trickle(config, 'products', '--json')
    const rows = JSON.parse(json.stdout) as { chunksPerSecond: number | null; pricePerHour: string | null }[]
    // 10^12 wei per chunk: an hour of 100 chunks/s is 360 000 chunks, 0.36 ETH.
    expect(rows.map((r) => r.chunksPerSecond)).toEqual([100, 200, 300])
    expect(rows.map((r) => r.pricePerHour)).toEqual([
      '360000000000000000',
      '720000000000000000',
      '1080000000000000000',
    ])

    const text = await trickle(config, 'products')
    expect(text.stdout).toMatch(
      /^ +price +0\.000001 ETH per chunk \(one sensor reading\)\n +rate +100 chunks\/s, 0\.36 ETH per hour$/m,
    )
    expect(text.stdout).toMatch(/^ +rate +300 chunks\/s, 1\.08 ETH per hour$/m)
    const wei = await trickle(config, '--wei', 'products')
    expect(wei.stdout).toMatch(/^ +rate +200 chunks\/s, 720000000000000000 wei per hour$/m)
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

  it('reads the JobAttestations address from the file when it has one, and loads a file without it', () => {
    const attestations = `0x${'44'.repeat(20)}`
    const withIt = JSON.stringify({ ...JSON.parse(file), attestations })
    expect(resolveConfig({}, {}, () => withIt).attestations).toBe(attestations)
    expect(resolveConfig({}, {}, () => file)).not.toHaveProperty('attestations')
    expect(() =>
      resolveConfig({}, {}, () => JSON.stringify({ ...JSON.parse(file), attestations: '0x12' })),
    ).toThrow(/attestations/)
  })

  it('names the missing field and where to set it when there is no config file', () => {
    expect(() => resolveConfig({}, {}, () => undefined)).toThrow(/rpcUrl is not set: set it with --rpc-url/)
  })

  const addresses = JSON.stringify({ registry: `0x${'11'.repeat(20)}`, channels: `0x${'22'.repeat(20)}` })

  it('fills rpcUrl, chainId and the legacy fee mode from the iota-evm preset; the rest still overrides', () => {
    const cfg = resolveConfig({ chain: 'iota-evm' }, {}, () => addresses)
    expect(cfg).toMatchObject({
      chain: 'iota-evm',
      rpcUrl: 'https://json-rpc.evm.iotaledger.net',
      chainId: 8822,
      fees: 'legacy',
    })
    const local = resolveConfig(
      { rpcUrl: 'http://127.0.0.1:9' },
      { TRICKLE_CHAIN: 'iota-evm' },
      () => addresses,
    )
    expect(local).toMatchObject({ rpcUrl: 'http://127.0.0.1:9', chainId: 8822, fees: 'legacy' })
    expect(resolveConfig({ chain: 'iota-evm', fees: 'eip1559' }, {}, () => addresses).fees).toBe('eip1559')
    expect(resolveConfig({}, {}, () => file).fees).toBe('eip1559')
  })

  it('refuses a chain id that contradicts the preset, and an unknown preset', () => {
    expect(() => resolveConfig({ chain: 'iota-evm' }, {}, () => file)).toThrow(
      /chain id 31337 \(from the config file's chainId\) contradicts chain preset iota-evm \(chain id 8822\)/,
    )
    expect(() => resolveConfig({}, { TRICKLE_CHAIN: 'iota' }, () => addresses)).toThrow(
      /chain "iota" is not a preset; known: anvil, iota-evm, iota-evm-testnet/,
    )
  })

  it('reads the payer key from a key file, with or without 0x, relative to the config file', () => {
    const key = `${'44'.repeat(32)}`
    const files: Record<string, string> = {
      '/etc/trickle/local.json': JSON.stringify({
        ...JSON.parse(file),
        buyerKey: undefined,
        keyFile: 'payer.key',
      }),
      '/etc/trickle/payer.key': `${key}\n`,
      '/home/me/other.key': `0x${'55'.repeat(32)}`,
      '/home/me/bad.key': 'not a key',
    }
    const read = (path: string) => files[path]
    expect(resolveConfig({ config: '/etc/trickle/local.json' }, {}, read).privateKey).toBe(`0x${key}`)
    expect(
      resolveConfig({ config: '/etc/trickle/local.json', keyFile: '/home/me/other.key' }, {}, read)
        .privateKey,
    ).toBe(`0x${'55'.repeat(32)}`)
    const bad = () =>
      resolveConfig({ config: '/etc/trickle/local.json', keyFile: '/home/me/bad.key' }, {}, read)
    expect(bad).toThrow(/--key-file: \/home\/me\/bad.key does not hold a 32-byte hex private key/)
    expect(bad).not.toThrow(/not a key/)
  })

  it('refuses two key sources at one level, and a keystore without its password', () => {
    expect(() =>
      resolveConfig(
        {},
        { TRICKLE_PRIVATE_KEY: `0x${'33'.repeat(32)}`, TRICKLE_KEYSTORE: 'k.json' },
        () => file,
      ),
    ).toThrow(/TRICKLE_PRIVATE_KEY and TRICKLE_KEYSTORE both name the payer key/)
    const keystore = JSON.stringify({
      address: '11'.repeat(20),
      version: 3,
      crypto: { cipher: 'aes-128-ctr' },
    })
    const read = (path: string) => (path.endsWith('k.json') ? keystore : file)
    expect(() => resolveConfig({ keystore: 'k.json' }, {}, read)).toThrow(/set TRICKLE_KEYSTORE_PASSWORD/)
    const cfg = resolveConfig({ keystore: 'k.json' }, { TRICKLE_KEYSTORE_PASSWORD: 'pw' }, read)
    // a keystore flag outranks the file's buyerKey; the key stays encrypted until a command needs it
    expect(cfg.privateKey).toBeUndefined()
    expect(cfg.keystore).toMatchObject({ path: 'k.json', password: 'pw' })
  })
})

describe('toChunkRecord', () => {
  it('keeps a JSON payload as the reading and falls back to base64 otherwise', () => {
    const json = new TextEncoder().encode('{"sensor":"co","value":1.2}')
    expect(toChunkRecord({ seq: 4, data: json })).toEqual({ seq: 4, reading: { sensor: 'co', value: 1.2 } })
    expect(toChunkRecord({ seq: 5, data: new Uint8Array([0xff, 0x00]) })).toEqual({ seq: 5, base64: '/wA=' })
  })
})
