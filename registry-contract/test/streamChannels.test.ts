import {
  ChannelStatus,
  channelsAt,
  RECEIPT_TYPES,
  receiptDomain,
  type StreamChannelsContract,
} from '@trickle/contracts'
import { deployContracts, increaseTime, loadArtifacts } from '@trickle/devnet'
import { ContractFactory, hexlify, randomBytes, TypedDataEncoder, type Wallet, ZeroAddress } from 'ethers'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mined, reportGas, revertName, setupChain, type TestChain } from './helpers.ts'

const CHALLENGE_PERIOD = 3600n
const ETH = 10n ** 18n

describe('StreamChannels', () => {
  let t: TestChain
  let payer: Wallet
  let payee: Wallet
  let relayer: Wallet
  let sessionKey: Wallet
  let otherKey: Wallet
  let channels: StreamChannelsContract

  beforeAll(async () => {
    t = await setupChain(CHALLENGE_PERIOD)
    ;[, payer, payee, relayer, sessionKey, otherKey] = t.wallets as [
      Wallet,
      Wallet,
      Wallet,
      Wallet,
      Wallet,
      Wallet,
    ]
    channels = channelsAt(t.deployment.channels, payer)
  })
  afterAll(async () => {
    await t?.chain.stop()
  })

  const balance = (address: string) => t.chain.provider.getBalance(address)

  async function openNative(deposit: bigint, signer: string = ZeroAddress): Promise<string> {
    const receipt = await mined(
      channels.open(payee.address, ZeroAddress, deposit, signer, { value: deposit }),
    )
    const event = channels.interface.parseLog(receipt.logs[0]!)
    return event?.args.getValue('channelId') as string
  }

  interface Signed {
    channelId: string
    cumulativeAmount: bigint
    seq: bigint
    ackHash: string
    signature: string
  }

  async function sign(by: Wallet, channelId: string, cumulativeAmount: bigint, seq = 1n): Promise<Signed> {
    const value = { channelId, cumulativeAmount, seq, ackHash: hexlify(randomBytes(32)) }
    const domain = receiptDomain(t.chain.chainId, t.deployment.channels)
    return { ...value, signature: await by.signTypedData(domain, RECEIPT_TYPES, value) }
  }

  function claimBy(who: Wallet, r: Signed) {
    return channels.connect(who).claim(r.channelId, r.cumulativeAmount, r.seq, r.ackHash, r.signature)
  }

  it('opens a native channel with an event, the escrowed deposit and the payer as default signer', async () => {
    const contractBefore = await balance(t.deployment.channels)
    const receipt = await mined(channels.open(payee.address, ZeroAddress, ETH, ZeroAddress, { value: ETH }))
    reportGas('StreamChannels.open (native)', receipt)
    const event = channels.interface.parseLog(receipt.logs[0]!)
    expect(event?.name).toBe('ChannelOpened')
    const channelId = event?.args.getValue('channelId') as string
    expect(event?.args.toObject()).toEqual({
      channelId,
      payer: payer.address,
      payee: payee.address,
      token: ZeroAddress,
      signer: payer.address,
      deposit: ETH,
    })
    const channel = await channels.getChannel(channelId)
    expect(channel.payer).toBe(payer.address)
    expect(channel.payee).toBe(payee.address)
    expect(channel.token).toBe(ZeroAddress)
    expect(channel.signer).toBe(payer.address)
    expect(channel.deposit).toBe(ETH)
    expect(channel.claimed).toBe(0n)
    expect(channel.closeDeadline).toBe(0n)
    expect(channel.status).toBe(ChannelStatus.open)
    expect(await balance(t.deployment.channels)).toBe(contractBefore + ETH)
    expect((await channels.getChannel(hexlify(randomBytes(32)))).status).toBe(ChannelStatus.none)
    const later = await mined(
      channels.open(payee.address, ZeroAddress, ETH, sessionKey.address, { value: ETH }),
    )
    reportGas('StreamChannels.open (native, later channel, session-key signer)', later)
  })

  it('refuses a challenge period under 60 s or over a year, on-chain and in deployContracts', async () => {
    const artifacts = await loadArtifacts()
    const factory = new ContractFactory(
      artifacts.StreamChannels.abi,
      artifacts.StreamChannels.bytecode,
      relayer,
    )
    for (const period of [0n, 59n, 365n * 86_400n + 1n]) {
      expect(await revertName(factory.deploy(period))).toBe('InvalidChallengePeriod')
      await expect(deployContracts(relayer, { challengePeriodSeconds: period })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      })
    }
    const shortest = await factory.deploy(60n)
    await shortest.waitForDeployment()
    expect(await channelsAt(await shortest.getAddress(), relayer).challengePeriod()).toBe(60n)
  })

  it('rejects a deposit that does not match msg.value and a zero payee', async () => {
    expect(await revertName(channels.open(payee.address, ZeroAddress, ETH, ZeroAddress, { value: 1n }))).toBe(
      'WrongValue',
    )
    expect(await revertName(channels.open(ZeroAddress, ZeroAddress, 1n, ZeroAddress, { value: 1n }))).toBe(
      'InvalidPayee',
    )
  })

  it('pays the payee exactly the receipt amount when anyone submits a valid receipt', async () => {
    const channelId = await openNative(ETH, sessionKey.address)
    const first = await sign(sessionKey, channelId, 3n * 10n ** 15n)
    const payeeBefore = await balance(payee.address)
    await mined(claimBy(relayer, first))
    expect(await balance(payee.address)).toBe(payeeBefore + first.cumulativeAmount)

    const second = await sign(sessionKey, channelId, 5n * 10n ** 15n, 2n)
    const receipt = await mined(claimBy(relayer, second))
    const gas = reportGas('StreamChannels.claim (native, session-key signer, second claim)', receipt)
    expect(gas).toBeLessThanOrEqual(60_000n)
    expect(await balance(payee.address)).toBe(payeeBefore + second.cumulativeAmount)
    const event = channels.interface.parseLog(receipt.logs[0]!)
    expect(event?.name).toBe('Claimed')
    expect(event?.args.toObject()).toEqual({
      channelId,
      payee: payee.address,
      cumulativeAmount: second.cumulativeAmount,
      paid: 2n * 10n ** 15n,
      seq: 2n,
    })
    expect((await channels.getChannel(channelId)).claimed).toBe(second.cumulativeAmount)
  })

  it('measures a first claim signed by the payer itself', async () => {
    const channelId = await openNative(ETH)
    const receipt = await mined(claimBy(payee, await sign(payer, channelId, 10n ** 15n)))
    const gas = reportGas('StreamChannels.claim (native, payer signer, first claim)', receipt)
    expect(gas).toBeLessThanOrEqual(60_000n)
  })

  it('rejects a wrong signer, a receipt for another channel and a stale amount with named errors', async () => {
    const channelId = await openNative(ETH, sessionKey.address)
    const otherChannel = await openNative(ETH, sessionKey.address)
    expect(await revertName(claimBy(relayer, await sign(otherKey, channelId, 100n)))).toBe('InvalidSigner')
    const forOther = await sign(sessionKey, otherChannel, 100n)
    expect(await revertName(claimBy(relayer, { ...forOther, channelId }))).toBe('InvalidSigner')
    // a receipt signed for another chain id is worthless here
    const value = { channelId, cumulativeAmount: 100n, seq: 1n, ackHash: hexlify(randomBytes(32)) }
    const foreign = await sessionKey.signTypedData(
      receiptDomain(1, t.deployment.channels),
      RECEIPT_TYPES,
      value,
    )
    expect(await revertName(claimBy(relayer, { ...value, signature: foreign }))).toBe('InvalidSigner')

    await mined(claimBy(relayer, await sign(sessionKey, channelId, 500n, 5n)))
    expect(await revertName(claimBy(relayer, await sign(sessionKey, channelId, 400n, 6n)))).toBe(
      'StaleReceipt',
    )
    expect(await revertName(claimBy(relayer, await sign(sessionKey, channelId, 500n, 7n)))).toBe(
      'StaleReceipt',
    )
    expect((await channels.getChannel(channelId)).claimed).toBe(500n)
    expect(await revertName(claimBy(relayer, await sign(sessionKey, hexlify(randomBytes(32)), 1n)))).toBe(
      'UnknownChannel',
    )
  })

  it('pays no more than the deposit for a larger receipt, and the rest after a top-up', async () => {
    const deposit = 10n ** 15n
    const channelId = await openNative(deposit)
    const big = await sign(payer, channelId, 3n * deposit)
    const payeeBefore = await balance(payee.address)
    await mined(claimBy(relayer, big))
    expect(await balance(payee.address)).toBe(payeeBefore + deposit)
    expect(await revertName(claimBy(relayer, await sign(payer, channelId, 4n * deposit)))).toBe(
      'NothingToClaim',
    )

    const topUp = await mined(channels.connect(relayer).topUp(channelId, deposit, { value: deposit }))
    const event = channels.interface.parseLog(topUp.logs[0]!)
    expect(event?.args.toObject()).toEqual({ channelId, amount: deposit, deposit: 2n * deposit })
    await mined(claimBy(relayer, big))
    expect(await balance(payee.address)).toBe(payeeBefore + 2n * deposit)
    const channel = await channels.getChannel(channelId)
    expect([channel.deposit, channel.claimed]).toEqual([2n * deposit, 2n * deposit])
  })

  it('refunds deposit − claimed only after the challenge period, while the payee may still claim', async () => {
    const deposit = 10n ** 16n
    const channelId = await openNative(deposit)
    await mined(claimBy(relayer, await sign(payer, channelId, 1_000n)))
    expect(await revertName(channels.connect(payee).requestClose(channelId))).toBe('NotPayer')
    const request = await mined(channels.requestClose(channelId))
    const block = await t.chain.provider.getBlock(request.blockNumber)
    const deadline = BigInt(block!.timestamp) + CHALLENGE_PERIOD
    expect(channels.interface.parseLog(request.logs[0]!)?.args.toObject()).toEqual({
      channelId,
      closeDeadline: deadline,
    })
    expect((await channels.getChannel(channelId)).status).toBe(ChannelStatus.closing)
    expect(await revertName(channels.connect(relayer).finalize(channelId))).toBe('ChallengePeriodNotOver')
    expect(await revertName(channels.connect(relayer).topUp(channelId, 1n, { value: 1n }))).toBe(
      'ChannelNotOpen',
    )

    // the payer cannot front-run the payee: claims still work during the challenge period
    const payeeBefore = await balance(payee.address)
    await mined(claimBy(relayer, await sign(payer, channelId, 4_000n, 2n)))
    expect(await balance(payee.address)).toBe(payeeBefore + 3_000n)

    await increaseTime(t.chain.provider, Number(CHALLENGE_PERIOD))
    expect(await revertName(claimBy(relayer, await sign(payer, channelId, 5_000n, 3n)))).toBe(
      'ChallengePeriodOver',
    )
    const payerBefore = await balance(payer.address)
    const finalize = await mined(channels.connect(relayer).finalize(channelId))
    expect(await balance(payer.address)).toBe(payerBefore + deposit - 4_000n)
    expect(channels.interface.parseLog(finalize.logs[0]!)?.args.toObject()).toEqual({
      channelId,
      paidToPayee: 4_000n,
      refundedToPayer: deposit - 4_000n,
    })
    expect((await channels.getChannel(channelId)).status).toBe(ChannelStatus.closed)
    expect(await revertName(channels.connect(relayer).finalize(channelId))).toBe('ChannelNotOpen')
  })

  it('closes cooperatively with a receipt, paying payee and payer at once', async () => {
    const deposit = 10n ** 16n
    const channelId = await openNative(deposit, sessionKey.address)
    await mined(claimBy(relayer, await sign(sessionKey, channelId, 2_000n)))
    const last = await sign(sessionKey, channelId, 7_000n, 9n)
    expect(
      await revertName(
        channels
          .connect(relayer)
          .closeWithReceipt(channelId, last.cumulativeAmount, last.seq, last.ackHash, last.signature),
      ),
    ).toBe('NotPayee')
    const payerBefore = await balance(payer.address)
    const payeeBefore = await balance(payee.address)
    const contractBefore = await balance(t.deployment.channels)
    const receipt = await mined(
      channels
        .connect(payee)
        .closeWithReceipt(channelId, last.cumulativeAmount, last.seq, last.ackHash, last.signature),
    )
    expect(await balance(payer.address)).toBe(payerBefore + deposit - 7_000n)
    expect(await balance(payee.address)).toBe(payeeBefore + 5_000n - receipt.fee)
    expect(await balance(t.deployment.channels)).toBe(contractBefore - (deposit - 2_000n))
    const names = receipt.logs.map((log) => channels.interface.parseLog(log)?.name)
    expect(names).toEqual(['Claimed', 'ChannelClosed'])
    expect(channels.interface.parseLog(receipt.logs[1]!)?.args.toObject()).toEqual({
      channelId,
      paidToPayee: 7_000n,
      refundedToPayer: deposit - 7_000n,
    })
    const channel = await channels.getChannel(channelId)
    expect([channel.status, channel.claimed]).toEqual([ChannelStatus.closed, 7_000n])
    expect(await revertName(claimBy(relayer, await sign(sessionKey, channelId, 8_000n)))).toBe(
      'ChannelNotOpen',
    )
  })

  it('keeps the previous signer valid for one challenge period after setSigner', async () => {
    const channelId = await openNative(ETH, sessionKey.address)
    const heldByPayee = await sign(sessionKey, channelId, 1_000n)
    expect(await revertName(channels.connect(payee).setSigner(channelId, otherKey.address))).toBe('NotPayer')
    const rotation = await mined(channels.setSigner(channelId, otherKey.address))
    expect(channels.interface.parseLog(rotation.logs[0]!)?.args.toObject()).toEqual({
      channelId,
      signer: otherKey.address,
    })
    const channel = await channels.getChannel(channelId)
    expect([channel.signer, channel.previousSigner]).toEqual([otherKey.address, sessionKey.address])
    // a second rotation inside the window would void the first key's receipts: refused
    expect(await revertName(channels.setSigner(channelId, relayer.address))).toBe('SignerRotationPending')

    await mined(claimBy(relayer, heldByPayee))
    await mined(claimBy(relayer, await sign(otherKey, channelId, 2_000n, 2n)))
    await increaseTime(t.chain.provider, Number(CHALLENGE_PERIOD))
    expect(await revertName(claimBy(relayer, await sign(sessionKey, channelId, 3_000n, 3n)))).toBe(
      'InvalidSigner',
    )
    const payeeBefore = await balance(payee.address)
    await mined(claimBy(relayer, await sign(otherKey, channelId, 3_000n, 3n)))
    await mined(claimBy(relayer, await sign(payer, channelId, 4_000n, 4n)))
    expect(await balance(payee.address)).toBe(payeeBefore + 2_000n)
    await mined(channels.setSigner(channelId, ZeroAddress))
    expect((await channels.getChannel(channelId)).signer).toBe(payer.address)
  })

  it('exposes the EIP-712 digest, domain separator and challenge period ethers computes', async () => {
    const domain = receiptDomain(t.chain.chainId, t.deployment.channels)
    const value = {
      channelId: hexlify(randomBytes(32)),
      cumulativeAmount: 123n * ETH,
      seq: 42n,
      ackHash: hexlify(randomBytes(32)),
    }
    expect(
      await channels.receiptDigest(value.channelId, value.cumulativeAmount, value.seq, value.ackHash),
    ).toBe(TypedDataEncoder.hash(domain, RECEIPT_TYPES, value))
    expect(await channels.domainSeparator()).toBe(TypedDataEncoder.hashDomain(domain))
    expect(await channels.challengePeriod()).toBe(CHALLENGE_PERIOD)
  })

  it('escrows ERC-20 deposits by balance delta, including fee-on-transfer tokens', async () => {
    const artifacts = await loadArtifacts()
    for (const feeBps of [0n, 100n]) {
      const factory = new ContractFactory(artifacts.TestToken.abi, artifacts.TestToken.bytecode, payer)
      const token = await factory.deploy(feeBps)
      await token.waitForDeployment()
      const tokenAddress = await token.getAddress()
      const call = (name: string, ...args: unknown[]) => token.getFunction(name)(...args)
      await (await call('mint', payer.address, 10_000n)).wait()
      await (await call('approve', t.deployment.channels, 10_000n)).wait()
      expect(
        await revertName(channels.open(payee.address, tokenAddress, 10_000n, ZeroAddress, { value: 1n })),
      ).toBe('WrongValue')
      const receipt = await mined(channels.open(payee.address, tokenAddress, 10_000n, ZeroAddress))
      reportGas(`StreamChannels.open (ERC-20, fee ${feeBps} bps)`, receipt)
      const opened = receipt.logs
        .map((log) => channels.interface.parseLog(log))
        .find((e) => e?.name === 'ChannelOpened')
      const channelId = opened?.args.getValue('channelId') as string
      const credited = 10_000n - (10_000n * feeBps) / 10_000n
      expect(opened?.args.getValue('deposit')).toBe(credited)
      expect((await channels.getChannel(channelId)).token).toBe(tokenAddress)

      const claim = await mined(claimBy(relayer, await sign(payer, channelId, 4_000n)))
      reportGas(`StreamChannels.claim (ERC-20, fee ${feeBps} bps)`, claim)
      expect(await call('balanceOf', payee.address)).toBe(4_000n - (4_000n * feeBps) / 10_000n)
      await mined(channels.requestClose(channelId))
      await increaseTime(t.chain.provider, Number(CHALLENGE_PERIOD))
      const payerBefore = (await call('balanceOf', payer.address)) as bigint
      await mined(channels.connect(relayer).finalize(channelId))
      const refund = credited - 4_000n
      expect(await call('balanceOf', payer.address)).toBe(payerBefore + refund - (refund * feeBps) / 10_000n)
      expect(await call('balanceOf', t.deployment.channels)).toBe(0n)
    }
  })

  it('never pays out more than the deposit, whatever order receipts are claimed in', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.bigInt({ min: 1n, max: 10_000n }),
        fc.array(fc.bigInt({ min: 1n, max: 20_000n }), { minLength: 1, maxLength: 5 }),
        async (deposit, amounts) => {
          const channelId = await openNative(deposit)
          const payeeBefore = await balance(payee.address)
          let claimed = 0n
          for (const [index, amount] of amounts.entries()) {
            const outcome = await claimBy(relayer, await sign(payer, channelId, amount, BigInt(index)))
              .then((sent) => sent.wait())
              .then(() => 'paid')
              .catch((error: unknown) => revertName(Promise.reject(error)))
            const owed = [amount, deposit].sort((a, b) => (a < b ? -1 : 1))[0]!
            if (amount <= claimed) expect(outcome).toBe('StaleReceipt')
            else if (owed <= claimed) expect(outcome).toBe('NothingToClaim')
            else {
              expect(outcome).toBe('paid')
              claimed = owed
            }
          }
          expect(await balance(payee.address)).toBe(payeeBefore + claimed)
          expect(claimed).toBeLessThanOrEqual(deposit)
          expect((await channels.getChannel(channelId)).claimed).toBe(claimed)
        },
      ),
      { numRuns: 12 },
    )
  })
})
