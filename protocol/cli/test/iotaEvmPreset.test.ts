import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CHAIN_PRESETS } from '@trickle/contracts'
import {
  type Deployment,
  deployContracts,
  increaseTime,
  type LocalChain,
  startLocalChain,
} from '@trickle/devnet'
import type { Address, Hex } from '@trickle/protocol'
import { BuyerClient } from '@trickle/sdk'
import { encryptKeystoreJson, Wallet } from 'ethers'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runTrickle } from './helpers/runTrickle.ts'

const IOTA = CHAIN_PRESETS['iota-evm']
const CHALLENGE_PERIOD = 300n
const MILLI = 10n ** 15n // wei
const PASSWORD = 'correct horse battery staple'

/**
 * The unchanged contracts on an anvil that presents itself as IOTA EVM (chain id 8822), driven through
 * the `iota-evm` preset with only the RPC URL overridden and the addresses from the config file.
 */
// several cold CLI starts per case, one decrypting a keystore: slow on a loaded machine
describe('the iota-evm chain preset (anvil with chain id 8822)', { timeout: 180_000 }, () => {
  let chain: LocalChain
  let deployment: Deployment
  let dir: string
  let config: string
  let payer: Wallet
  let payee: Wallet
  let channelId: Hex
  /** a second channel that stays open */
  let openChannelId: Hex

  /** `trickle --chain iota-evm --rpc-url <anvil> --config <addresses> …`, keystore from the config file */
  const trickle = (...args: string[]) =>
    runTrickle(['--chain', 'iota-evm', '--rpc-url', chain.rpcUrl, '--config', config, ...args], {
      TRICKLE_KEYSTORE_PASSWORD: PASSWORD,
    })

  /** The type of a mined transaction: 0 legacy, 2 EIP-1559. */
  const txType = async (hash: string) => (await chain.provider.getTransaction(hash))!.type

  beforeAll(async () => {
    chain = await startLocalChain({ chainId: IOTA.chainId })
    const wallets = chain.privateKeys.map((key) => new Wallet(key, chain.provider))
    payee = wallets[1]!
    payer = wallets[2]!
    deployment = await deployContracts(wallets[0]!, { challengePeriodSeconds: CHALLENGE_PERIOD })
    dir = mkdtempSync(join(tmpdir(), 'trickle-iota-'))
    // a cheap scrypt cost keeps the test fast; real keystores use ethers' default (N = 2^17)
    const keystore = await encryptKeystoreJson(
      { address: payer.address, privateKey: payer.privateKey },
      PASSWORD,
      {
        scrypt: { N: 1 << 10 },
      },
    )
    writeFileSync(join(dir, 'payer.json'), keystore, { mode: 0o600 })
    config = join(dir, 'iota.json')
    // no rpcUrl / chainId / fees: those come from the preset; the key path is relative to this file
    writeFileSync(
      config,
      JSON.stringify({
        chain: 'iota-evm',
        registry: deployment.registry,
        channels: deployment.channels,
        deployBlock: deployment.deployBlock,
        gateways: [],
        keystore: 'payer.json',
      }),
    )
  })

  afterAll(async () => {
    await chain?.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('opens a channel through the SDK with a legacy (type 0) transaction at the node’s gas price', async () => {
    const buyer = await BuyerClient.create({
      wallet: payer,
      chainId: IOTA.chainId,
      fees: IOTA.fees,
      registry: deployment.registry as Address,
      channels: deployment.channels as Address,
      gateways: [],
    })
    try {
      const gasPrice = BigInt(String(await chain.provider.send('eth_gasPrice', [])))
      const opened = await buyer.openChannel(payee.address as Address, 10n * MILLI)
      channelId = opened.channelId
      openChannelId = (await buyer.openChannel(payee.address as Address, MILLI)).channelId
      const tx = (await chain.provider.getTransaction(opened.txHash))!
      expect(tx.type).toBe(0)
      expect(tx.maxFeePerGas).toBeNull()
      expect(tx.gasPrice).toBe(gasPrice)
      expect(opened.fee).toBe(tx.gasPrice * opened.receipt.gasUsed)
      // the same client without the preset's fee mode sends EIP-1559 (type 2) transactions
      const eip1559 = await BuyerClient.create({
        wallet: payer,
        chainId: IOTA.chainId,
        registry: deployment.registry as Address,
        channels: deployment.channels as Address,
        gateways: [],
      })
      const other = await eip1559.openChannel(payee.address as Address, MILLI)
      expect(await txType(other.txHash)).toBe(2)
      await eip1559.close()
    } finally {
      await buyer.close()
    }
  })

  it('tops up, closes and finalizes through the CLI with legacy transactions only', async () => {
    const topup = await trickle('topup', channelId, (2n * MILLI).toString(), '--json')
    expect(topup.stderr).toBe('')
    expect(topup.code).toBe(0)
    const t = JSON.parse(topup.stdout) as Record<string, string>
    expect(t.depositWei).toBe((12n * MILLI).toString())
    expect(await txType(t.txHash!)).toBe(0)

    const close = await trickle('close', channelId, '--json')
    expect(close.code).toBe(0)
    const c = JSON.parse(close.stdout) as Record<string, string>
    expect(await txType(c.txHash!)).toBe(0)

    await increaseTime(chain.provider, Number(CHALLENGE_PERIOD))
    const before = await chain.provider.getBalance(payer.address)
    const fin = await trickle('finalize', channelId, '--json')
    expect(fin.stderr).toBe('')
    expect(fin.code).toBe(0)
    const f = JSON.parse(fin.stdout) as Record<string, string>
    expect(await txType(f.txHash!)).toBe(0)
    expect(f.refundWei).toBe((12n * MILLI).toString())
    expect((await chain.provider.getBalance(payer.address)) - before).toBe(12n * MILLI - BigInt(f.feeWei!))

    const listed = await trickle('channels', '--json')
    expect(listed.code).toBe(0)
    const rows = JSON.parse(listed.stdout) as Record<string, string>[]
    expect(rows.find((r) => r.channelId === channelId)).toMatchObject({
      status: 'closed',
      deposit: (12n * MILLI).toString(),
    })

    // the human output links the transaction in the preset's explorer
    const human = await trickle('topup', openChannelId, '1')
    expect(human.code).toBe(0)
    expect(human.stdout).toMatch(/\(https:\/\/explorer\.evm\.iota\.org\/tx\/0x[0-9a-f]{64}\)/)
  })

  it('refuses an RPC of another chain with CHAIN_MISMATCH before signing anything', async () => {
    const nonce = await chain.provider.getTransactionCount(payer.address)
    // the testnet preset (chain id 1076) with this 8822 node's URL
    const run = await runTrickle(
      ['--chain', 'iota-evm-testnet', '--rpc-url', chain.rpcUrl, '--config', config, 'topup', channelId, '1'],
      { TRICKLE_KEYSTORE_PASSWORD: PASSWORD },
    )
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/^error CHAIN_MISMATCH: the RPC serves chain id 8822, but chain id 1076/m)
    expect(await chain.provider.getTransactionCount(payer.address)).toBe(nonce)
  })

  it('exits 2 when the keystore password is missing or wrong', async () => {
    const missing = await runTrickle([
      '--chain',
      'iota-evm',
      '--rpc-url',
      chain.rpcUrl,
      '--config',
      config,
      'topup',
      channelId,
      '1',
    ])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/TRICKLE_KEYSTORE_PASSWORD/)
    const wrong = await runTrickle(
      ['--chain', 'iota-evm', '--rpc-url', chain.rpcUrl, '--config', config, 'topup', channelId, '1'],
      { TRICKLE_KEYSTORE_PASSWORD: 'wrong' },
    )
    expect(wrong.code).toBe(2)
    expect(wrong.stderr).toMatch(/keystore .*payer\.json could not be opened/)
  })
})
