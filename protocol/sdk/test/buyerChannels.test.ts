import { channelsAt } from '@trickle/contracts'
import {
  type Deployment,
  deployContracts,
  increaseTime,
  type LocalChain,
  loadArtifacts,
  startLocalChain,
} from '@trickle/devnet'
import { type Address, type Hex, receiptDomainSeparator, signReceipt, ZERO_HASH } from '@trickle/protocol'
import { BuyerClient } from '@trickle/sdk'
import { Contract, ContractFactory, JsonRpcProvider, Wallet } from 'ethers'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'

const CHALLENGE_PERIOD = 600n
const MILLI = 10n ** 15n // wei

/** Rejects with the TrickleError code `action` failed with. */
async function codeOf(action: Promise<unknown>): Promise<string> {
  try {
    await action
  } catch (err) {
    return String((err as { code?: unknown }).code)
  }
  throw new Error('expected the action to fail')
}

describe('BuyerClient channel management (anvil)', () => {
  let chain: LocalChain
  let deployment: Deployment
  let payee: Wallet
  let buyer: BuyerClient
  let other: BuyerClient

  const client = (key: string) =>
    BuyerClient.create({
      wallet: new Wallet(key, chain.provider),
      chainId: chain.chainId,
      registry: deployment.registry as Address,
      channels: deployment.channels as Address,
      deployBlock: deployment.deployBlock,
      gateways: [],
    })

  /** The payee claims `amount` with a receipt signed by the buyer's session key, as a seller would. */
  async function claim(channelId: Hex, amount: bigint): Promise<void> {
    const separator = receiptDomainSeparator({ chainId: chain.chainId, channels: deployment.channels as Hex })
    const receipt = { channelId, amount, seq: 1, ackHash: ZERO_HASH }
    const signature = signReceipt(buyer.sessionKey, separator, receipt)
    const channels = channelsAt(deployment.channels, payee)
    await (await channels.claim(channelId, amount, 1, ZERO_HASH, signature)).wait()
  }

  beforeAll(async () => {
    chain = await startLocalChain()
    const wallets = chain.privateKeys.map((key) => new Wallet(key, chain.provider))
    payee = wallets[1]!
    deployment = await deployContracts(wallets[0]!, { challengePeriodSeconds: CHALLENGE_PERIOD })
    buyer = await client(chain.privateKeys[2]!)
    other = await client(chain.privateKeys[3]!)
  })

  afterAll(async () => {
    await buyer?.close()
    await other?.close()
    await chain?.stop()
  })

  it('refuses an RPC that serves another chain id with CHAIN_MISMATCH', async () => {
    const create = BuyerClient.create({
      wallet: new Wallet(chain.privateKeys[2]!, chain.provider),
      chainId: 8822,
      registry: deployment.registry as Address,
      channels: deployment.channels as Address,
      gateways: [],
    })
    expect(await codeOf(create)).toBe('CHAIN_MISMATCH')
  })

  it('sends transactions back to back through a caching provider, also after the key sent one elsewhere', async () => {
    // ethers' default JsonRpcProvider caches identical calls for 250 ms, eth_getTransactionCount included.
    const caching = new JsonRpcProvider(chain.rpcUrl, chain.chainId, { staticNetwork: true })
    const key = chain.privateKeys[4]!
    const client4 = await BuyerClient.create({
      signer: new Wallet(key, caching),
      chainId: chain.chainId,
      registry: deployment.registry as Address,
      channels: deployment.channels as Address,
      gateways: [],
    })
    try {
      const first = await client4.openChannel(payee.address as Address, MILLI)
      // The same key, outside the client, in the same cache window.
      await (await new Wallet(key, chain.provider).sendTransaction({ to: payee.address, value: 1n })).wait()
      const second = await client4.openChannel(payee.address as Address, MILLI)
      const third = await client4.topUp(second.channelId, MILLI)
      expect(new Set([first.channelId, second.channelId]).size).toBe(2)
      expect(third.deposit).toBe(2n * MILLI)
    } finally {
      await client4.close()
      caching.destroy()
    }
  })

  it('sends a client’s transactions one at a time: opens, a top-up and a close started together all land', async () => {
    // A programmatic buyer may start several at once; each takes the account's next nonce in turn.
    const key = chain.privateKeys[5]!
    const client5 = await BuyerClient.create({
      signer: new Wallet(key, chain.provider),
      chainId: chain.chainId,
      registry: deployment.registry as Address,
      channels: deployment.channels as Address,
      gateways: [],
    })
    try {
      const first = await client5.openChannel(payee.address as Address, MILLI)
      const [a, b, c, topped, closing] = await Promise.all([
        client5.openChannel(payee.address as Address, MILLI),
        client5.openChannel(payee.address as Address, 2n * MILLI),
        client5.openChannel(payee.address as Address, 3n * MILLI),
        client5.topUp(first.channelId, MILLI),
        client5.requestClose(first.channelId),
      ])
      expect(new Set([first.channelId, a.channelId, b.channelId, c.channelId]).size).toBe(4)
      expect([a.deposit, b.deposit, c.deposit]).toEqual([MILLI, 2n * MILLI, 3n * MILLI])
      expect(topped.deposit).toBe(2n * MILLI)
      expect(closing.closeDeadline).toBeGreaterThan(0n)
    } finally {
      await client5.close()
    }
  })

  it('tops up a native channel: the deposit grows by the amount and the payer pays amount + gas', async () => {
    const { channelId, deposit } = await buyer.openChannel(payee.address as Address, 5n * MILLI)
    expect(deposit).toBe(5n * MILLI)
    const before = await chain.provider.getBalance(buyer.payerAddress)
    const r = await buyer.topUp(channelId, 3n * MILLI)
    const after = await chain.provider.getBalance(buyer.payerAddress)
    expect(r.amount).toBe(3n * MILLI)
    expect(r.deposit).toBe(8n * MILLI)
    expect(r.approveTxHash).toBeUndefined()
    expect(before - after).toBe(3n * MILLI + r.fee)
    const view = await buyer.channel(channelId)
    expect(view).toMatchObject({ status: 'open', deposit: 8n * MILLI, claimed: 0n, remaining: 8n * MILLI })
    expect(view.closeDeadline).toBe(0n)
    expect(view.finalizable).toBe(false)
    expect(await codeOf(buyer.topUp(channelId, 0n))).toBe('INVALID_ARGUMENT')
    expect(await codeOf(buyer.topUp(`0x${'ab'.repeat(32)}`, 1n))).toBe('UNKNOWN_CHANNEL')
  })

  it('closes and finalizes: the refund is exactly deposit − claimed, after the challenge period only', async () => {
    const deposit = 10n * MILLI
    const claimed = 4n * MILLI + 123n
    const { channelId } = await buyer.openChannel(payee.address as Address, deposit)
    await claim(channelId, claimed)
    expect(await codeOf(buyer.finalize(channelId))).toBe('CLOSE_NOT_REQUESTED')
    expect(await codeOf(other.requestClose(channelId))).toBe('NOT_PAYER')

    const close = await buyer.requestClose(channelId)
    const block = await chain.provider.getBlock(close.blockNumber)
    expect(close.closeDeadline).toBe(BigInt(block!.timestamp) + CHALLENGE_PERIOD)
    const closing = await buyer.channel(channelId)
    expect(closing).toMatchObject({
      status: 'closing',
      closeDeadline: close.closeDeadline,
      finalizable: false,
      claimed,
      remaining: deposit - claimed,
    })
    expect(await codeOf(buyer.finalize(channelId))).toBe('CHALLENGE_PERIOD_NOT_OVER')
    expect(await codeOf(buyer.topUp(channelId, 1n))).toBe('CHANNEL_NOT_OPEN')
    expect(await codeOf(buyer.requestClose(channelId))).toBe('CHANNEL_NOT_OPEN')

    await increaseTime(chain.provider, Number(CHALLENGE_PERIOD))
    expect((await buyer.channel(channelId)).finalizable).toBe(true)
    const before = await chain.provider.getBalance(buyer.payerAddress)
    const fin = await buyer.finalize(channelId)
    const after = await chain.provider.getBalance(buyer.payerAddress)
    expect(fin.refund).toBe(deposit - claimed)
    expect(fin.paidToPayee).toBe(claimed)
    expect(after - before).toBe(deposit - claimed - fin.fee)
    expect(fin.txHash).toMatch(/^0x[0-9a-f]{64}$/)
    expect(await buyer.channel(channelId)).toMatchObject({
      status: 'closed',
      remaining: 0n,
      finalizable: false,
    })
    expect(await codeOf(buyer.finalize(channelId))).toBe('CHANNEL_NOT_OPEN')
  })

  it('tops up an ERC-20 channel: approves the contract first, then pulls exactly the amount', async () => {
    const artifacts = await loadArtifacts()
    const minter = new Wallet(chain.privateKeys[4]!, chain.provider)
    const factory = new ContractFactory(artifacts.TestToken.abi, artifacts.TestToken.bytecode, minter)
    const deployed = await factory.deploy(0)
    await deployed.waitForDeployment()
    const token = new Contract(await deployed.getAddress(), artifacts.TestToken.abi, minter)
    const tokenAddress = (await token.getAddress()) as Address
    await (await token.getFunction('mint')(buyer.payerAddress, 1_000n)).wait()
    const balanceOf = async (who: string) => (await token.getFunction('balanceOf')(who)) as bigint

    const opened = await buyer.openChannel(payee.address as Address, 600n, { token: tokenAddress })
    expect(opened.approveTxHash).toMatch(/^0x[0-9a-f]{64}$/)
    const r = await buyer.topUp(opened.channelId, 300n)
    expect(r.approveTxHash).toMatch(/^0x[0-9a-f]{64}$/)
    expect(r).toMatchObject({ amount: 300n, deposit: 900n })
    expect(await balanceOf(buyer.payerAddress)).toBe(100n)
    expect(await balanceOf(deployment.channels)).toBe(900n)
    expect(await buyer.channel(opened.channelId)).toMatchObject({ token: tokenAddress, deposit: 900n })
    expect(await codeOf(buyer.topUp(opened.channelId, 101n))).toBe('INSUFFICIENT_FUNDS')
  })

  it('lists only the payer’s channels, page by page, never asking for more blocks than a page', async () => {
    const mine = [
      (await buyer.openChannel(payee.address as Address, 1n * MILLI)).channelId,
      (await buyer.openChannel(payee.address as Address, 2n * MILLI)).channelId,
    ]
    const theirs = (await other.openChannel(payee.address as Address, 1n * MILLI)).channelId
    const getLogs = vi.spyOn(chain.provider, 'getLogs')
    let paged: Awaited<ReturnType<BuyerClient['channels']>>
    let ranges: { fromBlock: number; toBlock: number }[]
    try {
      paged = await buyer.channels({ pageBlocks: 3 })
      ranges = getLogs.mock.calls.map(([filter]) => filter as { fromBlock: number; toBlock: number })
    } finally {
      getLogs.mockRestore()
    }
    // pages of at most 3 blocks that cover deployBlock..latest without gaps
    expect(ranges.length).toBeGreaterThan(1)
    expect(ranges[0]!.fromBlock).toBe(deployment.deployBlock)
    expect(ranges.at(-1)!.toBlock).toBe(paged[0]!.blockNumber)
    ranges.forEach((r, i) => {
      expect(r.toBlock - r.fromBlock).toBeLessThan(3)
      if (i > 0) expect(r.fromBlock).toBe(ranges[i - 1]!.toBlock + 1)
    })

    const whole = await buyer.channels()
    const ids = paged.map((c) => c.channelId)
    expect(whole.map((c) => c.channelId)).toEqual(ids)
    expect(ids).not.toContain(theirs)
    // in opening order: the two just opened come last
    expect(ids.slice(-2)).toEqual(mine)
    expect(paged.every((c) => c.payer.toLowerCase() === buyer.payerAddress.toLowerCase())).toBe(true)
    const last = paged.at(-1)!
    expect(last).toMatchObject({ deposit: 2n * MILLI, claimed: 0n, remaining: 2n * MILLI, status: 'open' })
    expect(last.openTxHash).toMatch(/^0x[0-9a-f]{64}$/)
    expect((await other.channels()).map((c) => c.channelId)).toEqual([theirs])
  })
})
