// The trickle-seller config file: validation with field paths and positions, keys, and the earnings
// split. No chain or broker: these are the pure parts.
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Hex } from '@trickle/protocol'
import { encryptKeystoreJsonSync, Wallet } from 'ethers'
import { beforeAll, describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { EXAMPLE_CONFIG } from '../src/tool/exampleConfig.ts'
import { keyAddress, loadKey } from '../src/tool/loadKey.ts'
import { parseSellerConfig } from '../src/tool/parseSellerConfig.ts'
import { type LedgerReceipt, splitByProduct } from '../src/tool/readLedger.ts'
import { formatProducts, productRows } from '../src/tool/reports.ts'
import { productSpecOf, serverOptionsOf } from '../src/tool/serverOptions.ts'

const FILE = 'trickle-seller.yaml'

/** The error `parseSellerConfig` throws for `text`. */
function problem(text: string, file = FILE): { code: string; message: string } {
  try {
    parseSellerConfig(text, file)
  } catch (err) {
    return err as { code: string; message: string }
  }
  throw new Error('the config was accepted')
}

/** The 1-based line of the first line of `text` that contains `needle`. */
function lineOf(text: string, needle: string): number {
  return text.split('\n').findIndex((l) => l.includes(needle)) + 1
}

/** A throwaway key for options that need one (never a key of value). */
const KEY = `0x${'5'.repeat(64)}`

describe('parseSellerConfig', () => {
  it('accepts the example `init` writes, amounts in wei and the preset applied', () => {
    const parsed = parseSellerConfig(EXAMPLE_CONFIG, FILE)
    expect(parsed.chain).toMatchObject({ rpcUrl: 'http://127.0.0.1:8545', chainId: 31337, fees: 'eip1559' })
    expect(parsed.config.products.map((p) => [p.key, p.pricePerChunk, p.encoding])).toEqual([
      ['office1-air', 10n ** 12n, 'application/json'],
      ['office1-door-camera', 10n ** 13n, 'image/jpeg'],
      ['office1-air-history', 5n * 10n ** 11n, 'application/json'],
    ])
    expect(parsed.config.listen).toEqual({ host: '127.0.0.1', port: 4312 })
    expect(parsed.dataDir).toBe(join(process.cwd(), 'seller-data'))
  })

  it('reads the same config from JSON', () => {
    const yaml = parseSellerConfig(EXAMPLE_CONFIG, FILE).config
    const json = JSON.stringify({
      ...yaml,
      products: yaml.products.map((p) => ({ ...p, pricePerChunk: p.pricePerChunk.toString() })),
    })
    expect(parseSellerConfig(json, 'trickle-seller.json').config).toEqual(yaml)
  })

  it('names the file, line, column and field of a bad amount', () => {
    const text = EXAMPLE_CONFIG.replace('pricePerChunk: "0.00001 ETH"', 'pricePerChunk: "0.00001 pounds"')
    const line = lineOf(text, '0.00001 pounds')
    expect(problem(text)).toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringMatching(
        new RegExp(
          `^trickle-seller.yaml:${line}:20 products\\[1\\]\\.pricePerChunk: must be an amount like "0.000001 ETH"`,
        ),
      ),
    })
  })

  it('reports every problem, each with its position; a missing field at its parent', () => {
    const text = EXAMPLE_CONFIG.replace('    name: Office 1 door camera stills\n', '')
      .replace('  port: 4312', '  prot: 4312')
      .replace('      - office1/sensors/#', '      - office1/#/co2')
    const { message } = problem(text)
    const lines = message.split('\n').map((l) => l.trim())
    expect(lines).toEqual([
      `${FILE}:${lineOf(text, 'prot: 4312')}:3 listen.prot: unknown field (\`trickle-seller init\` writes every field, commented)`,
      `${FILE}:${lineOf(text, 'office1/#/co2')}:9 products[0].topics[0]: is not an MQTT topic filter: '#' must be the last level, alone (as in office1/#)`,
      `${FILE}:${lineOf(text, 'key: office1-door-camera')}:5 products[1].name: is required`,
    ])
  })

  it.each([
    [
      'kind: dataset',
      /products\[0\]\.recordingOf: is required: a dataset sells the recording of a stream product/,
    ],
    ['kind: compute', /products\[0\]\.job: is required: a compute product needs its job settings/],
  ])('refuses %s with a clear message', (kind, expected) => {
    expect(problem(EXAMPLE_CONFIG.replace('kind: stream', kind)).message).toMatch(expected)
  })

  it('reads a dataset of a stream product, and refuses one whose recordingOf is not a stream product of the file', () => {
    const { config } = parseSellerConfig(EXAMPLE_CONFIG, FILE)
    const history = config.products.find((p) => p.key === 'office1-air-history')!
    expect(history).toMatchObject({ kind: 'dataset', recordingOf: 'office1-air', topics: [] })
    expect(
      problem(EXAMPLE_CONFIG.replace('recordingOf: office1-air ', 'recordingOf: office2-air ')).message,
    ).toMatch(/products\[2\]\.recordingOf: "office2-air" is not the key of a stream product of this config/)
  })

  it('refuses duplicate keys, a receiptEvery above the window, a bad MIME type and a chain id against the preset', () => {
    expect(problem(EXAMPLE_CONFIG.replace('key: office1-door-camera', 'key: office1-air')).message).toMatch(
      /products\[1\]\.key: "office1-air" is already the key of products\[0\]/,
    )
    expect(
      problem(
        EXAMPLE_CONFIG.replace('# receiptEvery: 8 ', 'receiptEvery: 32').replace(
          '# window: { initial: 16',
          'window: { initial: 16',
        ),
      ).message,
    ).toMatch(/products\[0\]\.receiptEvery: must not be above the window's initial size \(16\)/)
    expect(problem(EXAMPLE_CONFIG.replace('encoding: image/jpeg', 'encoding: jpeg')).message).toMatch(
      /products\[1\]\.encoding: must be a MIME type/,
    )
    expect(problem(EXAMPLE_CONFIG.replace('# chainId: 31337', 'chainId: 1')).message).toMatch(
      /chain\.chainId: 1 contradicts preset anvil \(chain id 31337\)/,
    )
    expect(problem(EXAMPLE_CONFIG.replace('  preset: anvil\n', '')).message).toMatch(
      /^trickle-seller.yaml:\d+:3 chain: needs a preset, or both rpcUrl and chainId/,
    )
  })

  it('refuses a private key written anywhere in the file, naming where', () => {
    const key = Wallet.createRandom().privateKey
    const text = EXAMPLE_CONFIG.replace('#   keyFile: payee.key', `#   key: ${key}`)
    expect(problem(text)).toMatchObject({
      code: 'KEY_UNSAFE',
      message: expect.stringMatching(
        new RegExp(`^${FILE}:${lineOf(text, key)}:10 a private key must never be written in the config`),
      ),
    })
    // bare hex too, as a whole value, in JSON
    expect(problem(`{"payee": {"keyFile": "${key.slice(2)}"}}`, 'c.json').code).toBe('KEY_UNSAFE')
    // but a 64-hex device id inside a topic is a topic
    const hexTopic = EXAMPLE_CONFIG.replace('office1/sensors/#', `office1/${key.slice(2)}/#`)
    expect(parseSellerConfig(hexTopic, FILE).config.products[0]!.topics).toEqual([
      `office1/${key.slice(2)}/#`,
    ])
  })

  it('points at the YAML syntax error', () => {
    expect(problem('chain:\n  preset: anvil\n products: [\n')).toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringMatching(/^trickle-seller.yaml:3:\d+ /),
    })
  })

  it('passes the broker client id and the recording limits to the seller server, defaults when absent', () => {
    const plain = parseSellerConfig(EXAMPLE_CONFIG, FILE)
    const options = serverOptionsOf(plain, { payee: KEY, terms: KEY }, {})
    expect(options).not.toHaveProperty('mqttClientId')
    expect(options).not.toHaveProperty('retention')
    const set = parseSellerConfig(
      EXAMPLE_CONFIG.replace('  # clientId: trickle-office1', '  clientId: trickle-office1').replace(
        '# recording:                        # readings kept on disk per product, replayed to resuming buyers\n#   maxReadings: 100000',
        'recording:\n  maxReadings: 5000',
      ),
      FILE,
    )
    expect(serverOptionsOf(set, { payee: KEY, terms: KEY }, {})).toMatchObject({
      mqttClientId: 'trickle-office1',
      retention: { maxReadings: 5000 },
    })
  })

  it('turns a product into the seller server’s spec: wildcard topics, encoding, window, location, devices', () => {
    const p = parseSellerConfig(EXAMPLE_CONFIG, FILE).config.products
    expect(productSpecOf(p[0]!)).toMatchObject({
      key: 'office1-air',
      topics: ['office1/sensors/#'],
      policy: { maxChunkBytes: 4096 },
      location: { lat: 52.52, lon: 13.405 },
    })
    expect(productSpecOf(p[1]!)).toMatchObject({
      encoding: 'image/jpeg',
      chunkUnit: 'one JPEG image',
      policy: { maxChunkBytes: 200000 },
    })
    const signed = parseSellerConfig(
      EXAMPLE_CONFIG.replace(
        '    location: { lat: 52.52, lon: 13.405 }',
        '    location: { lat: 52.52, lon: 13.405 }\n    devices: [{ id: office1-hub, address: "0x70997970c51812dc3a010c7d01b50e0d17dc79c8" }]',
      ),
      FILE,
    ).config.products[0]!
    // the descriptor gets the checksummed address
    expect(productSpecOf(signed).devices).toEqual([
      { id: 'office1-hub', address: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8' },
    ])
  })
})

describe('payee keys', () => {
  let dir: string
  const wallet = Wallet.createRandom()
  const config = (payee: Record<string, string>) =>
    parseSellerConfig(
      stringify({
        ...parseSellerConfig(EXAMPLE_CONFIG, FILE).config,
        products: [{ key: 'p', name: 'P', topics: ['a/#'], pricePerChunk: 1 }],
        payee,
      }),
      join(dir, FILE),
    )

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trickle-keys-'))
    writeFileSync(join(dir, 'payee.key'), `${wallet.privateKey}\n`, { mode: 0o600 })
    writeFileSync(join(dir, 'open.key'), `${wallet.privateKey}\n`)
    chmodSync(join(dir, 'open.key'), 0o644)
    // a cheap scrypt, for the test's speed
    writeFileSync(
      join(dir, 'payee.json'),
      encryptKeystoreJsonSync({ address: wallet.address, privateKey: wallet.privateKey }, 'secret', {
        scrypt: { N: 1024 },
      }),
    )
  })

  it('reads a key file only its owner can read', async () => {
    expect(await loadKey(config({ keyFile: 'payee.key' }), 'payee', {})).toBe(wallet.privateKey)
  })

  it('refuses a key file group or others can read', async () => {
    await expect(loadKey(config({ keyFile: 'open.key' }), 'payee', {})).rejects.toMatchObject({
      code: 'KEY_UNSAFE',
      message: expect.stringMatching(
        /payee\.keyFile: open\.key may be read by group or others \(mode 0644\).*chmod 600 open\.key/,
      ),
    })
  })

  it('opens a keystore with the password from the named variable; reads its address without it', async () => {
    const parsed = config({ keystore: 'payee.json', passwordEnv: 'SELLER_PW' })
    expect(await keyAddress(parsed, 'payee', {})).toBe(wallet.address)
    expect(await loadKey(parsed, 'payee', { SELLER_PW: 'secret' })).toBe(wallet.privateKey)
    await expect(loadKey(parsed, 'payee', {})).rejects.toMatchObject({
      code: 'KEY_UNAVAILABLE',
      message: expect.stringMatching(/payee\.passwordEnv: the variable SELLER_PW is not set/),
    })
    await expect(loadKey(parsed, 'payee', { SELLER_PW: 'wrong' })).rejects.toMatchObject({
      code: 'KEY_UNAVAILABLE',
    })
    // the terms key defaults to the payee's
    expect(await loadKey(parsed, 'termsKey', { SELLER_PW: 'secret' })).toBe(wallet.privateKey)
  })
})

describe('splitByProduct', () => {
  const r = (productId: bigint, amount: bigint, seq: number): LedgerReceipt => ({
    channelId: '0x01' as Hex,
    productId,
    amount,
    seq,
  })

  it('gives each receipt’s increase to its product, the first `claimed` wei as claimed', () => {
    // product 1: 0 → 30, product 2: 30 → 50, product 1 again: 50 → 60
    const receipts = [r(2n, 50n, 5), r(1n, 10n, 1), r(1n, 30n, 3), r(1n, 60n, 6)]
    expect(splitByProduct(receipts, 0n)).toEqual([
      { productId: 1n, claimed: 0n, unclaimed: 40n },
      { productId: 2n, claimed: 0n, unclaimed: 20n },
    ])
    expect(splitByProduct(receipts, 40n)).toEqual([
      { productId: 1n, claimed: 30n, unclaimed: 10n },
      { productId: 2n, claimed: 10n, unclaimed: 10n },
    ])
    expect(splitByProduct(receipts, 60n)).toEqual([
      { productId: 1n, claimed: 40n, unclaimed: 0n },
      { productId: 2n, claimed: 20n, unclaimed: 0n },
    ])
  })
})

describe('trickle-seller products report', () => {
  const products = [
    { productId: 1n, key: 'office1-air', active: true, kind: 'stream', cid: 'a' },
    { productId: 2n, key: 'office1-door', active: true, kind: 'stream', cid: 'b' },
  ]
  const format = { units: 'eth', symbol: 'ETH' } as const

  it('shows the buyers streaming each product now when the service runs, and no column when it does not', () => {
    const keys = new Set(['office1-air', 'office1-door'])
    const live = productRows(products, keys, new Map([['office1-air', 2]]))
    expect(live.map((r) => r.sessions)).toEqual([2, 0])
    const text = formatProducts(live, [], format, 2)
    expect(text).toMatch(/^id +key +status +price\/chunk +buyers +name/)
    expect(text).toMatch(/\n1 +office1-air +active +\? +2 +\?/)
    const idle = productRows(products, keys)
    expect(idle.map((r) => r.sessions)).toEqual([null, null])
    expect(formatProducts(idle, [], format, undefined)).not.toContain('buyers')
  })
})
