import { mkdtempSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadKey, parseSellerConfig, serverOptionsOf } from '@trickle/seller'
import { Wallet } from 'ethers'
import { describe, expect, it } from 'vitest'
import { airQualityProducts, DEMO_DEVICE_KEY, writeSellerConfig } from '../src/index.ts'

describe('writeSellerConfig (the config npm start runs its seller from)', () => {
  it('writes a trickle-seller config the seller tool accepts, its key only in a 0600 file, products unchanged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trickle-config-'))
    const payeeKey = Wallet.createRandom().privateKey
    const products = airQualityProducts(1_000_000_000_000n, {
      rowsPerSecond: 50,
      deviceAddress: new Wallet(DEMO_DEVICE_KEY).address as `0x${string}`,
    })
    const file = writeSellerConfig(dir, {
      rpcUrl: 'http://127.0.0.1:8545',
      chainId: 31337,
      registry: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
      channels: '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512',
      deployBlock: 1,
      payeeKey,
      brokerUrl: 'mqtt://127.0.0.1:1883',
      host: '127.0.0.1',
      port: 0,
      products,
    })
    const text = readFileSync(file, 'utf8')
    expect(text).not.toContain(payeeKey.slice(2))
    expect(statSync(join(dir, 'payee.key')).mode & 0o777).toBe(0o600)
    const parsed = parseSellerConfig(text, file)
    expect(await loadKey(parsed, 'payee', {})).toBe(payeeKey)
    const options = serverOptionsOf(parsed, { payee: payeeKey, terms: payeeKey }, {})
    expect(options).toMatchObject({ dataDir: dir, port: 0, chainId: 31337 })
    expect(options.products).toEqual(products.map((p) => ({ ...p, encoding: 'application/json' })))
    expect(parsed.chain).not.toHaveProperty('attestations')
  })

  it('writes the JobAttestations address when the deployment has one, and the seller tool accepts it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'trickle-config-'))
    const attestations = '0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0'
    const file = writeSellerConfig(dir, {
      rpcUrl: 'http://127.0.0.1:8545',
      chainId: 31337,
      registry: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
      channels: '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512',
      attestations,
      deployBlock: 1,
      payeeKey: Wallet.createRandom().privateKey,
      brokerUrl: 'mqtt://127.0.0.1:1883',
      host: '127.0.0.1',
      port: 0,
      products: airQualityProducts(1n, {}),
    })
    expect(parseSellerConfig(readFileSync(file, 'utf8'), file).chain.attestations).toBe(attestations)
  })
})
