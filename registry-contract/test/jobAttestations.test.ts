import {
  attestationsAt,
  ChannelStatus,
  channelsAt,
  type JobAttestationsContract,
  RECEIPT_TYPES,
  receiptDomain,
  type StreamChannelsContract,
} from '@trickle/contracts'
import { hexlify, id, randomBytes, type Wallet, ZeroAddress } from 'ethers'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mined, reportGas, revertOf, setupChain, type TestChain } from './helpers.ts'

const ETH = 10n ** 18n

describe('JobAttestations', () => {
  let t: TestChain
  let payer: Wallet
  let payee: Wallet
  let stranger: Wallet
  let sessionKey: Wallet
  let channels: StreamChannelsContract
  let attestations: JobAttestationsContract

  beforeAll(async () => {
    t = await setupChain()
    ;[, payer, payee, stranger, sessionKey] = t.wallets as [Wallet, Wallet, Wallet, Wallet, Wallet]
    channels = channelsAt(t.deployment.channels, payer)
    attestations = attestationsAt(t.deployment.attestations, payee)
  })
  afterAll(async () => {
    await t?.chain.stop()
  })

  async function openNative(deposit: bigint): Promise<string> {
    const receipt = await mined(
      channels.open(payee.address, ZeroAddress, deposit, sessionKey.address, { value: deposit }),
    )
    return channels.interface.parseLog(receipt.logs[0]!)?.args.getValue('channelId') as string
  }

  /** A receipt signed by the session key, as a buyer signs them (EIP-712, `RECEIPT_TYPES`). */
  async function receipt(channelId: string, cumulativeAmount: bigint, seq: bigint) {
    const value = { channelId, cumulativeAmount, seq, ackHash: hexlify(randomBytes(32)) }
    const domain = receiptDomain(t.chain.chainId, t.deployment.channels)
    return { ...value, signature: await sessionKey.signTypedData(domain, RECEIPT_TYPES, value) }
  }

  const attestationHash = (job: string) => id(`attestation of ${job}`)

  it('is deployed by deployContracts bound to the StreamChannels of the same deployment', async () => {
    expect(await attestations.channels()).toBe(t.deployment.channels)
  })

  it('anchors an attestation by the payee with an Attested event that findAttestation finds', async () => {
    const channelId = await openNative(ETH)
    const hash = attestationHash('job 1')
    const mine = await mined(attestations.attest(channelId, hash, 5n * 10n ** 15n))
    reportGas('JobAttestations.attest', mine)
    expect(mine.logs).toHaveLength(1)
    const event = attestations.interface.parseLog(mine.logs[0]!)
    expect(event?.name).toBe('Attested')
    expect(event?.args.toObject()).toEqual({
      channelId,
      attestationHash: hash,
      payee: payee.address,
      cumulativeAmount: 5n * 10n ** 15n,
    })
    const found = await attestations.findAttestation(hash, { fromBlock: t.deployment.deployBlock })
    expect(found).toEqual({
      channelId,
      payee: payee.address,
      cumulativeAmount: 5n * 10n ** 15n,
      blockNumber: mine.blockNumber,
      txHash: mine.hash,
    })
    // the same answer through pages of one block, and through a read-only provider
    const reader = attestationsAt(t.deployment.attestations, t.chain.provider)
    expect(
      await reader.findAttestation(hash, { fromBlock: t.deployment.deployBlock, pageBlocks: 1 }),
    ).toEqual(found)
    expect(await reader.findAttestation(attestationHash('never anchored'))).toBeUndefined()
    expect(await reader.findAttestation(hash, { toBlock: mine.blockNumber - 1 })).toBeUndefined()
  })

  it('refuses anyone but the payee, an unknown channel and a zero cumulative amount, with their errors', async () => {
    const channelId = await openNative(ETH)
    const hash = attestationHash('job 2')
    for (const who of [payer, stranger, sessionKey]) {
      const refused = await revertOf(attestations.connect(who).attest(channelId, hash, 1n))
      expect(refused.name).toBe('NotPayee')
      expect(refused.args.toArray()).toEqual([channelId, who.address])
    }
    const unknown = hexlify(randomBytes(32))
    const notFound = await revertOf(attestations.attest(unknown, hash, 1n))
    expect(notFound.name).toBe('UnknownChannel')
    expect(notFound.args.toArray()).toEqual([unknown])
    const zero = await revertOf(attestations.attest(channelId, hash, 0n))
    expect(zero.name).toBe('ZeroCumulativeAmount')
    expect(zero.args.toArray()).toEqual([channelId])
    expect(await attestations.findAttestation(hash)).toBeUndefined()
  })

  it('ties the anchor to the claim that paid for the job: claimed reaches the attested cumulative amount', async () => {
    const channelId = await openNative(ETH)
    const paying = await receipt(channelId, 7n * 10n ** 15n, 3n)
    await mined(
      channels
        .connect(payee)
        .claim(channelId, paying.cumulativeAmount, paying.seq, paying.ackHash, paying.signature),
    )
    const hash = attestationHash('job 3')
    await mined(attestations.attest(channelId, hash, paying.cumulativeAmount))

    // what a verifier does: find the anchor, check its payee is the channel's, and that the claims reach it
    const anchor = await attestations.findAttestation(hash, {
      channelId,
      fromBlock: t.deployment.deployBlock,
    })
    expect(anchor).toBeDefined()
    const channel = await channels.getChannel(anchor!.channelId)
    expect(anchor!.payee).toBe(channel.payee)
    expect(channel.claimed).toBeGreaterThanOrEqual(anchor!.cumulativeAmount)
  })

  it('attests on a closed channel, after a cooperative close', async () => {
    const channelId = await openNative(ETH)
    const last = await receipt(channelId, 10n ** 15n, 1n)
    await mined(
      channels
        .connect(payee)
        .closeWithReceipt(channelId, last.cumulativeAmount, last.seq, last.ackHash, last.signature),
    )
    expect((await channels.getChannel(channelId)).status).toBe(ChannelStatus.closed)
    await mined(attestations.attest(channelId, attestationHash('job 4'), last.cumulativeAmount))
  })

  it('finds the anchor for the given channel when another payee anchored the same hash first', async () => {
    const hash = attestationHash('copied job')
    // a second payee's channel: it copies the hash it saw and anchors it for its own channel first
    const copier = t.wallets[6]!
    const opened = await mined(channels.open(copier.address, ZeroAddress, ETH, ZeroAddress, { value: ETH }))
    const copierChannel = channels.interface.parseLog(opened.logs[0]!)?.args.getValue('channelId') as string
    await mined(attestations.connect(copier).attest(copierChannel, hash, 1n))
    const channelId = await openNative(ETH)
    await mined(attestations.attest(channelId, hash, 2n))
    expect((await attestations.findAttestation(hash))?.channelId).toBe(copierChannel)
    const mine = await attestations.findAttestation(hash, { channelId })
    expect(mine).toMatchObject({ channelId, payee: payee.address, cumulativeAmount: 2n })
  })

  it('claims and attests in one transaction: one receipt holds both Claimed and Attested, the payee is paid', async () => {
    const channelId = await openNative(ETH)
    const first = await receipt(channelId, 10n ** 15n, 1n)
    await mined(
      channels
        .connect(payee)
        .claim(channelId, first.cumulativeAmount, first.seq, first.ackHash, first.signature),
    )
    const paying = await receipt(channelId, 4n * 10n ** 15n, 2n)
    const hash = attestationHash('job 5')
    const args = [
      channelId,
      hash,
      paying.cumulativeAmount,
      paying.seq,
      paying.ackHash,
      paying.signature,
    ] as const
    expect(await attestations.claimAndAttest.staticCall(...args)).toBe(3n * 10n ** 15n)
    const before = await t.chain.provider.getBalance(payee.address)
    const mine = await mined(attestations.claimAndAttest(...args))
    reportGas('JobAttestations.claimAndAttest (native, later claim)', mine)
    expect(await t.chain.provider.getBalance(payee.address)).toBe(
      before + 3n * 10n ** 15n - mine.gasUsed * mine.gasPrice,
    )
    const names = mine.logs.map(
      (log) => (channels.interface.parseLog(log) ?? attestations.interface.parseLog(log))?.name,
    )
    expect(names).toEqual(['Claimed', 'Attested'])
    const claimed = channels.interface.parseLog(mine.logs[0]!)!
    expect(claimed.args.getValue('cumulativeAmount')).toBe(paying.cumulativeAmount)
    expect(claimed.args.getValue('payee')).toBe(payee.address)
    const anchor = await attestations.findAttestation(hash, { channelId })
    expect(anchor).toMatchObject({ txHash: mine.hash, cumulativeAmount: paying.cumulativeAmount })
    expect((await channels.getChannel(channelId)).claimed).toBe(paying.cumulativeAmount)
  })

  it('claimAndAttest refuses a non-payee holding a receipt (the payer who signed it) and stale receipts', async () => {
    const channelId = await openNative(ETH)
    const signed = await receipt(channelId, 10n ** 15n, 1n)
    const args = [
      channelId,
      attestationHash('job 6'),
      signed.cumulativeAmount,
      signed.seq,
      signed.ackHash,
      signed.signature,
    ] as const
    expect((await revertOf(attestations.connect(payer).claimAndAttest(...args))).name).toBe('NotPayee')
    expect((await channels.getChannel(channelId)).claimed).toBe(0n)
    await mined(attestations.claimAndAttest(...args))
    // the same receipt again: StreamChannels' own error comes through
    expect((await revertOf(attestations.claimAndAttest(...args))).name).toBe('StaleReceipt')
    expect(
      (await revertOf(attestations.claimAndAttest(args[0], args[1], 0n, 1n, args[4], args[5]))).name,
    ).toBe('ZeroCumulativeAmount')
  })
})
