import { channelsAt, decodeRevert, type StreamChannelsContract } from '@trickle/contracts'
import { type Deployment, deployContracts, type LocalChain, startLocalChain } from '@trickle/devnet'
import { SigningKey, Wallet, ZeroAddress } from 'ethers'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type Hex,
  nextAckHash,
  type ReceiptValue,
  receiptDigest,
  receiptDomainSeparator,
  signReceipt,
  ZERO_HASH,
} from '../src/index.ts'

const ETH = 10n ** 18n
const sessionKey = new SigningKey(`0x${'00'.repeat(31)}01`)
const SESSION_SIGNER = new Wallet(sessionKey).address

describe('receipts on StreamChannels (anvil)', () => {
  let chain: LocalChain
  let deployment: Deployment
  let payer: Wallet
  let payee: Wallet
  let relayer: Wallet
  let channels: StreamChannelsContract
  let separator: Hex

  beforeAll(async () => {
    chain = await startLocalChain()
    const wallets = chain.privateKeys.map((key) => new Wallet(key, chain.provider))
    ;[, payer, payee, relayer] = wallets as [Wallet, Wallet, Wallet, Wallet]
    deployment = await deployContracts(wallets[0]!, { challengePeriodSeconds: 60n })
    channels = channelsAt(deployment.channels, payer)
    separator = receiptDomainSeparator({ chainId: chain.chainId, channels: deployment.channels as Hex })
  })

  afterAll(async () => {
    await chain?.stop()
  })

  /** Opens a native-coin channel to `payee` whose receipts the session key signs; returns its id. */
  async function openChannel(deposit: bigint): Promise<Hex> {
    const sent = await channels.open(payee.address, ZeroAddress, deposit, SESSION_SIGNER, { value: deposit })
    const mined = await sent.wait()
    expect(mined?.status).toBe(1)
    for (const log of mined!.logs) {
      const event = channels.interface.parseLog(log)
      if (event?.name === 'ChannelOpened') return event.args.getValue('channelId') as Hex
    }
    throw new Error('no ChannelOpened event')
  }

  it('computes the same domain separator as the contract', async () => {
    expect(separator).toBe(await channels.domainSeparator())
  })

  it('computes the same receipt digest as the contract', async () => {
    const receipts: ReceiptValue[] = [
      { channelId: ZERO_HASH, amount: 0n, seq: 0, ackHash: ZERO_HASH },
      { channelId: `0x${'ab'.repeat(32)}`, amount: 123_456_789n, seq: 42, ackHash: `0x${'cd'.repeat(32)}` },
      {
        channelId: `0x${'ff'.repeat(32)}`,
        amount: 2n ** 256n - 1n,
        seq: Number.MAX_SAFE_INTEGER,
        ackHash: nextAckHash(ZERO_HASH, Uint8Array.of(1, 2, 3)),
      },
    ]
    for (const r of receipts) {
      const onChain = await channels.receiptDigest(r.channelId, r.amount, r.seq, r.ackHash)
      expect(receiptDigest(separator, r)).toBe(onChain)
    }
  })

  it('lets the payee claim a receipt signed with signReceipt: its balance rises by the amount', async () => {
    const deposit = ETH
    const channelId = await openChannel(deposit)
    const ackHash = [Uint8Array.of(1), Uint8Array.of(2), Uint8Array.of(3)].reduce<Hex>(
      (h, chunk) => nextAckHash(h, chunk),
      ZERO_HASH,
    )
    const receipt: ReceiptValue = { channelId, amount: 3n * 10n ** 15n, seq: 3, ackHash }
    const signature = signReceipt(sessionKey, separator, receipt)

    const before = await chain.provider.getBalance(payee.address)
    // A relayer submits the claim, so the payee's balance moves by exactly what it is paid.
    const claim = await channels
      .connect(relayer)
      .claim(channelId, receipt.amount, receipt.seq, receipt.ackHash, signature)
    expect((await claim.wait())?.status).toBe(1)
    const after = await chain.provider.getBalance(payee.address)

    expect(after - before).toBe(receipt.amount)
    const state = await channels.getChannel(channelId)
    expect(state.claimed).toBe(receipt.amount)
    expect(state.deposit).toBe(deposit)
  })

  it('pays only the difference for a later cumulative receipt on the same channel', async () => {
    const channelId = await openChannel(ETH)
    const first: ReceiptValue = { channelId, amount: 10n ** 15n, seq: 1, ackHash: `0x${'01'.repeat(32)}` }
    const second: ReceiptValue = {
      channelId,
      amount: 4n * 10n ** 15n,
      seq: 4,
      ackHash: `0x${'04'.repeat(32)}`,
    }
    const asRelayer = channels.connect(relayer)
    for (const r of [first, second]) {
      const signature = signReceipt(sessionKey, separator, r)
      const before = await chain.provider.getBalance(payee.address)
      await (await asRelayer.claim(channelId, r.amount, r.seq, r.ackHash, signature)).wait()
      const after = await chain.provider.getBalance(payee.address)
      expect(after - before).toBe(r === first ? first.amount : second.amount - first.amount)
    }
  })

  it('rejects on-chain a receipt signed for another channel', async () => {
    const channelId = await openChannel(ETH)
    const otherChannel: Hex = `0x${'ee'.repeat(32)}`
    const r: ReceiptValue = { channelId: otherChannel, amount: 10n ** 15n, seq: 1, ackHash: ZERO_HASH }
    const signature = signReceipt(sessionKey, separator, r)
    const reverted = await channels
      .connect(relayer)
      .claim.staticCall(channelId, r.amount, r.seq, r.ackHash, signature)
      .then(
        () => undefined,
        (error: unknown) => decodeRevert(error)?.name,
      )
    expect(reverted).toBe('InvalidSigner')
    expect((await channels.getChannel(channelId)).claimed).toBe(0n)
  })
})
