import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { channelsAt } from '@trickle/contracts'
import {
  type Deployment,
  deployContracts,
  increaseTime,
  type LocalChain,
  startLocalChain,
} from '@trickle/devnet'
import { type Address, type Hex, receiptDomainSeparator, signReceipt, ZERO_HASH } from '@trickle/protocol'
import { BuyerClient } from '@trickle/sdk'
import { Wallet } from 'ethers'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runTrickle } from './helpers/runTrickle.ts'

const CHALLENGE_PERIOD = 600n
const MILLI = 10n ** 15n // wei

describe('trickle channels / topup / close / finalize against anvil', () => {
  let chain: LocalChain
  let deployment: Deployment
  let dir: string
  let config: string
  let keyFile: string
  let buyer: BuyerClient
  let payee: Wallet
  let channelA: Hex
  let channelB: Hex
  const CLAIMED = 3n * MILLI + 7n

  /** `trickle --config <config> --key-file <buyer key> …` */
  const trickle = (...args: string[]) => runTrickle(['--config', config, '--key-file', keyFile, ...args])

  beforeAll(async () => {
    chain = await startLocalChain()
    const wallets = chain.privateKeys.map((key) => new Wallet(key, chain.provider))
    payee = wallets[1]!
    deployment = await deployContracts(wallets[0]!, { challengePeriodSeconds: CHALLENGE_PERIOD })
    dir = mkdtempSync(join(tmpdir(), 'trickle-cli-channels-'))
    config = join(dir, 'local.json')
    writeFileSync(
      config,
      JSON.stringify({
        rpcUrl: chain.rpcUrl,
        chainId: chain.chainId,
        registry: deployment.registry,
        channels: deployment.channels,
        deployBlock: deployment.deployBlock,
        gateways: [],
      }),
    )
    keyFile = join(dir, 'buyer.key')
    // bare hex with a trailing newline, as `cast wallet new` or an editor would leave it
    writeFileSync(keyFile, `${chain.privateKeys[2]!.slice(2)}\n`, { mode: 0o600 })
    buyer = await BuyerClient.create({
      wallet: new Wallet(chain.privateKeys[2]!, chain.provider),
      chainId: chain.chainId,
      registry: deployment.registry as Address,
      channels: deployment.channels as Address,
      gateways: [],
    })
    channelA = (await buyer.openChannel(payee.address as Address, 10n * MILLI)).channelId
    channelB = (await buyer.openChannel(payee.address as Address, 2n * MILLI)).channelId
    // the payee claims part of channel A with a receipt from the buyer's session key
    const separator = receiptDomainSeparator({ chainId: chain.chainId, channels: deployment.channels as Hex })
    const signature = signReceipt(buyer.sessionKey, separator, {
      channelId: channelA,
      amount: CLAIMED,
      seq: 1,
      ackHash: ZERO_HASH,
    })
    await (
      await channelsAt(deployment.channels, payee).claim(channelA, CLAIMED, 1, ZERO_HASH, signature)
    ).wait()
  })

  afterAll(async () => {
    await buyer?.close()
    await chain?.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('lists the payer’s channels as JSON with exact amounts, and as a table', async () => {
    const json = await trickle('channels', '--json')
    expect(json.stderr).toBe('')
    expect(json.code).toBe(0)
    const rows = JSON.parse(json.stdout) as Record<string, unknown>[]
    expect(rows.map((r) => r.channelId)).toEqual([channelA, channelB])
    expect(rows[0]).toMatchObject({
      deposit: (10n * MILLI).toString(),
      claimed: CLAIMED.toString(),
      remaining: (10n * MILLI - CLAIMED).toString(),
      status: 'open',
      closeDeadline: '0',
      finalizable: false,
    })
    expect(String(rows[0]!.payee).toLowerCase()).toBe(payee.address.toLowerCase())

    const table = await trickle('channels', '--page-blocks', '2')
    expect(table.code).toBe(0)
    for (const line of table.stdout.split('\n')) expect(line.length).toBeLessThanOrEqual(100)
    const [blockA, blockB] = table.stdout.split(/\n(?=0x)/)
    expect(blockA).toMatch(new RegExp(`^${channelA} +open`))
    // no catalog here (no gateway): the product is unknown, the seller is named
    expect(blockA).toMatch(/product +unknown/)
    expect(blockA).toMatch(new RegExp(`seller +${payee.address}`, 'i'))
    expect(blockA).toMatch(/deposit +0\.01 ETH/)
    expect(blockA).toMatch(/remaining +0\.006999999999999993 ETH/)
    expect(blockB).toMatch(new RegExp(`^${channelB} +open`))
    const wei = await trickle('--units', 'wei', 'channels')
    expect(wei.stdout).toContain(`remaining  ${(10n * MILLI - CLAIMED).toString()} wei`)

    const byAddress = await runTrickle(['--config', config, 'channels', '--json', '--payer', payee.address])
    expect(byAddress.code).toBe(0)
    expect(JSON.parse(byAddress.stdout)).toEqual([])
  })

  it('refuses to top up a channel another key pays for unless --force (NOT_PAYER)', async () => {
    const other = { TRICKLE_PRIVATE_KEY: chain.privateKeys[3]! }
    const refused = await runTrickle(['--config', config, 'topup', channelB, '0.001eth'], other)
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/^error NOT_PAYER: .*--force/m)
    const before = await channelsAt(deployment.channels, chain.provider).getChannel(channelB)
    const forced = await runTrickle(['--config', config, 'topup', channelB, '0.001eth', '--force'], other)
    expect(forced.stderr).toBe('')
    expect(forced.code).toBe(0)
    const after = await channelsAt(deployment.channels, chain.provider).getChannel(channelB)
    expect(after.deposit - before.deposit).toBe(MILLI)
  })

  it('says the marketplace is not running, and how to start it, when the RPC refuses the connection', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`
    const run = await runTrickle(['--config', config, '--rpc-url', url, 'channels', '--payer', payee.address])
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/^error CHAIN_UNAVAILABLE: /m)
    expect(run.stderr).toContain(url)
    expect(run.stderr).toMatch(/not running/)
    expect(run.stderr).toContain('npm start')
  })

  it('tops up a channel by exactly the amount', async () => {
    const run = await trickle('topup', channelB, (5n * MILLI).toString(), '--json')
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    const out = JSON.parse(run.stdout) as Record<string, string>
    expect(out).toMatchObject({ channelId: channelB, amountWei: (5n * MILLI).toString() })
    expect(out.depositWei).toBe((8n * MILLI).toString())
    const view = await channelsAt(deployment.channels, chain.provider).getChannel(channelB)
    expect(view.deposit).toBe(8n * MILLI)
  })

  it('closes (printing the deadline), refuses an early finalize, then refunds deposit − claimed', async () => {
    const notPayer = await runTrickle(['--config', config, 'close', channelA], {
      TRICKLE_PRIVATE_KEY: chain.privateKeys[3]!,
    })
    expect(notPayer.code).toBe(1)
    expect(notPayer.stderr).toMatch(/^error NOT_PAYER: /m)

    const close = await trickle('close', channelA)
    expect(close.stderr).toBe('')
    expect(close.code).toBe(0)
    const view = await channelsAt(deployment.channels, chain.provider).getChannel(channelA)
    const iso = new Date(Number(view.closeDeadline) * 1000).toISOString().replace('.000Z', 'Z')
    expect(close.stdout).toContain(`until ${iso} (unix ${view.closeDeadline})`)

    const early = await trickle('finalize', channelA)
    expect(early.code).toBe(1)
    expect(early.stderr).toMatch(/^error CHALLENGE_PERIOD_NOT_OVER: .*challenge period ends at unix \d+/m)

    await increaseTime(chain.provider, Number(CHALLENGE_PERIOD))
    const listed = JSON.parse((await trickle('channels', '--json')).stdout) as Record<string, unknown>[]
    expect(listed[0]).toMatchObject({ status: 'closing', finalizable: true })

    const before = await chain.provider.getBalance(buyer.payerAddress)
    const fin = await trickle('finalize', channelA, '--json')
    expect(fin.stderr).toBe('')
    expect(fin.code).toBe(0)
    const out = JSON.parse(fin.stdout) as Record<string, string>
    expect(out.refundWei).toBe((10n * MILLI - CLAIMED).toString())
    expect(out.paidToPayeeWei).toBe(CLAIMED.toString())
    const after = await chain.provider.getBalance(buyer.payerAddress)
    expect(after - before).toBe(10n * MILLI - CLAIMED - BigInt(out.feeWei!))

    const shown = JSON.parse((await trickle('channel', channelA)).stdout) as Record<string, unknown>
    expect(shown).toMatchObject({ status: 'closed', remaining: '0', claimed: CLAIMED.toString() })
  })

  it('exits 2 for a missing key, a zero amount and two key sources', async () => {
    const noKey = await runTrickle(['--config', config, 'topup', channelB, '1'])
    expect(noKey.code).toBe(2)
    expect(noKey.stderr).toMatch(/needs a payer key/)
    const zero = await trickle('topup', channelB, '0')
    expect(zero.code).toBe(2)
    expect(zero.stderr).toMatch(/amount/)
    const both = await runTrickle(['--config', config, 'channels'], {
      TRICKLE_PRIVATE_KEY: chain.privateKeys[2]!,
      TRICKLE_KEY_FILE: keyFile,
    })
    expect(both.code).toBe(2)
    expect(both.stderr).toMatch(/TRICKLE_PRIVATE_KEY and TRICKLE_KEY_FILE both name the payer key/)
  })
})

/** A local TCP port nothing listens on (bound, then released). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}
