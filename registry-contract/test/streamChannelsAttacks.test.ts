import {
  ChannelStatus,
  type ChannelView,
  channelsAt,
  RECEIPT_TYPES,
  receiptDomain,
  STREAM_CHANNELS_ABI,
  type StreamChannelsContract,
} from '@trickle/contracts'
import { increaseTime, loadArtifacts } from '@trickle/devnet'
import {
  type BaseContract,
  Contract,
  ContractFactory,
  concat,
  getBytes,
  hexlify,
  Interface,
  randomBytes,
  Signature,
  type TransactionReceipt,
  toBeHex,
  type Wallet,
  ZeroAddress,
} from 'ethers'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type AttackArtifacts, compileAttackContracts } from './attackContracts.ts'
import { mined, revertName, revertOf, setNextBlockTimestamp, setupChain, type TestChain } from './helpers.ts'

const CHALLENGE_PERIOD = 600n
/** secp256k1 group order n (SEC 2, section 2.4.1). */
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
const channelsInterface = new Interface(STREAM_CHANNELS_ABI)

interface Signed {
  channelId: string
  cumulativeAmount: bigint
  seq: bigint
  ackHash: string
  signature: string
}

type ReceiptArgs = [string, bigint, bigint, string, string]

const args = (r: Signed): ReceiptArgs => [r.channelId, r.cumulativeAmount, r.seq, r.ackHash, r.signature]

/** A channel's fields as a plain object, for equality checks. */
function fieldsOf(c: ChannelView) {
  const { payer, payee, token, signer, deposit, claimed, closeDeadline, status } = c
  const { previousSigner, previousSignerValidUntil } = c
  return {
    payer,
    payee,
    token,
    signer,
    deposit,
    claimed,
    closeDeadline,
    status,
    previousSigner,
    previousSignerValidUntil,
  }
}

/** A contract of `contracts/test/` that calls StreamChannels back once armed. */
interface Hook extends BaseContract {
  hookCalled(): Promise<boolean>
  hookSucceeded(): Promise<boolean>
  hookResult(): Promise<string>
}

describe('StreamChannels under attack', () => {
  let t: TestChain
  let payer: Wallet
  let payee: Wallet
  let relayer: Wallet
  let sessionKey: Wallet
  let otherKey: Wallet
  let channels: StreamChannelsContract
  let attack: AttackArtifacts
  /** Every channel opened on `t.deployment.channels` in this file, for the escrow invariant. */
  const opened = new Set<string>()

  beforeAll(async () => {
    ;[t, attack] = await Promise.all([setupChain(CHALLENGE_PERIOD), compileAttackContracts()])
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

  const provider = () => t.chain.provider
  const balance = (address: string) => provider().getBalance(address)
  const latestTimestamp = async () => BigInt((await provider().getBlock('latest'))!.timestamp)

  /** Records the ids of all ChannelOpened events in `receipt`; returns them. */
  function track(receipt: TransactionReceipt): string[] {
    const ids: string[] = []
    for (const log of receipt.logs) {
      if (log.address !== t.deployment.channels) continue
      const event = channelsInterface.parseLog(log)
      if (event?.name === 'ChannelOpened') ids.push(event.args.getValue('channelId') as string)
    }
    for (const id of ids) opened.add(id)
    return ids
  }

  async function open(
    deposit: bigint,
    options: { from?: Wallet; to?: string; token?: string; signer?: string } = {},
  ): Promise<string> {
    const token = options.token ?? ZeroAddress
    const value = token === ZeroAddress ? deposit : 0n
    const receipt = await mined(
      channels
        .connect(options.from ?? payer)
        .open(options.to ?? payee.address, token, deposit, options.signer ?? ZeroAddress, { value }),
    )
    return track(receipt)[0]!
  }

  async function sign(
    by: Wallet,
    channelId: string,
    cumulativeAmount: bigint,
    options: { seq?: bigint; chainId?: number; contract?: string } = {},
  ): Promise<Signed> {
    const value = { channelId, cumulativeAmount, seq: options.seq ?? 1n, ackHash: hexlify(randomBytes(32)) }
    const domain = receiptDomain(
      options.chainId ?? t.chain.chainId,
      options.contract ?? t.deployment.channels,
    )
    return { ...value, signature: await by.signTypedData(domain, RECEIPT_TYPES, value) }
  }

  const claimBy = (who: Wallet, r: Signed) => channels.connect(who).claim(...args(r))

  /**
   * The escrow invariant: for the native coin and each token, the contract holds exactly the sum over
   * open and closing channels of deposit − claimed, and no channel ever claimed more than its deposit.
   */
  async function expectEscrowInvariant(): Promise<void> {
    const owed = new Map<string, bigint>()
    for (const c of await Promise.all([...opened].map((id) => channels.getChannel(id)))) {
      expect(c.claimed).toBeLessThanOrEqual(c.deposit)
      const held = c.status === ChannelStatus.closed ? 0n : c.deposit - c.claimed
      owed.set(c.token, (owed.get(c.token) ?? 0n) + held)
    }
    for (const [token, amount] of owed) {
      const erc20 = new Contract(token, ['function balanceOf(address) view returns (uint256)'], provider())
      const held =
        token === ZeroAddress
          ? await balance(t.deployment.channels)
          : ((await erc20.getFunction('balanceOf')(t.deployment.channels)) as bigint)
      expect([token, held]).toEqual([token, amount])
    }
  }

  describe('receipt replay', () => {
    it('rejects a receipt signed for another StreamChannels deployment on the same chain', async () => {
      const artifacts = await loadArtifacts()
      const factory = new ContractFactory(
        artifacts.StreamChannels.abi,
        artifacts.StreamChannels.bytecode,
        t.wallets[0]!,
      )
      const second = await factory.deploy(CHALLENGE_PERIOD)
      await second.waitForDeployment()
      const secondAddress = await second.getAddress()

      const channelId = await open(10_000n, { signer: sessionKey.address })
      const forSecond = await sign(sessionKey, channelId, 1_000n, { contract: secondAddress })
      const rejected = await revertOf(claimBy(relayer, forSecond))
      expect(rejected.name).toBe('InvalidSigner')
      expect(rejected.args.getValue('recovered')).not.toBe(sessionKey.address)
      // the same values signed for this deployment are good
      const forThis = await sign(sessionKey, channelId, 1_000n)
      await mined(claimBy(relayer, forThis))
      expect((await channels.getChannel(channelId)).claimed).toBe(1_000n)
      await expectEscrowInvariant()
    })

    it('rejects a receipt of the old chain id after the chain id changes (replay across a fork)', async () => {
      const channelId = await open(10_000n, { signer: sessionKey.address })
      const beforeFork = await sign(sessionKey, channelId, 2_000n)
      const forkChainId = t.chain.chainId + 1000
      const separatorBefore = await channels.domainSeparator()
      await provider().send('anvil_setChainId', [forkChainId])
      try {
        // eth_call needs no transaction signature, so it runs on the forked chain id
        expect(await channels.domainSeparator()).not.toBe(separatorBefore)
        expect(await revertName(channels.claim.staticCall(...args(beforeFork)))).toBe('InvalidSigner')
        const onFork = await sign(sessionKey, channelId, 2_000n, { chainId: forkChainId })
        expect(await channels.claim.staticCall(...args(onFork))).toBe(2_000n)
      } finally {
        await provider().send('anvil_setChainId', [t.chain.chainId])
      }
      expect(await channels.domainSeparator()).toBe(separatorBefore)
      await mined(claimBy(relayer, beforeFork))
    })

    it('accepts only the canonical 65-byte low-s encoding of a receipt signature', async () => {
      const channelId = await open(10_000n, { signer: sessionKey.address })
      const good = await sign(sessionKey, channelId, 3_000n)
      const { r, s, v } = Signature.from(good.signature)
      const highS = toBeHex(SECP256K1_N - BigInt(s), 32)
      const flippedV = v === 27 ? 28 : 27
      const variants: Record<string, string> = {
        // (r, n − s, v ^ 1) recovers the same key with plain ecrecover: the malleable twin
        'high s': concat([r, highS, toBeHex(flippedV, 1)]),
        'v as 0/1': concat([r, s, toBeHex(v - 27, 1)]),
        'EIP-2098 compact (64 bytes)': Signature.from(good.signature).compactSerialized,
        'trailing byte (66 bytes)': concat([good.signature, '0x00']),
      }
      for (const [label, signature] of Object.entries(variants)) {
        const rejected = await revertOf(claimBy(relayer, { ...good, signature }))
        expect([label, rejected.name]).toEqual([label, 'InvalidSigner'])
        expect([label, rejected.args.getValue('recovered')]).toEqual([label, ZeroAddress])
      }
      expect(getBytes(variants['high s']!)).toHaveLength(65)
      expect((await channels.getChannel(channelId)).claimed).toBe(0n)
      await mined(claimBy(relayer, good))
      expect((await channels.getChannel(channelId)).claimed).toBe(3_000n)
    })
  })

  describe('what is owed', () => {
    it('pays an over-deposit receipt as the deposit, to the payee only, whoever submits it', async () => {
      const deposit = 5_000n
      const channelId = await open(deposit, { signer: sessionKey.address })
      const before = await Promise.all([payee, relayer, payer].map((w) => balance(w.address)))
      const contractBefore = await balance(t.deployment.channels)
      const receipt = await mined(claimBy(relayer, await sign(sessionKey, channelId, 10n * deposit)))
      const after = await Promise.all([payee, relayer, payer].map((w) => balance(w.address)))
      expect(after[0]! - before[0]!).toBe(deposit)
      expect(after[1]! - before[1]!).toBe(-receipt.fee)
      expect(after[2]!).toBe(before[2]!)
      expect(await balance(t.deployment.channels)).toBe(contractBefore - deposit)
      await expectEscrowInvariant()
    })

    it('never lowers what was claimed: a stale receipt moves no coin, also in a cooperative close', async () => {
      const deposit = 10_000n
      const channelId = await open(deposit, { signer: sessionKey.address })
      await mined(claimBy(relayer, await sign(sessionKey, channelId, 7_000n, { seq: 7n })))
      const stale = await sign(sessionKey, channelId, 3_000n, { seq: 3n })
      const contractBefore = await balance(t.deployment.channels)
      expect(await revertName(claimBy(relayer, stale))).toBe('StaleReceipt')
      expect(await balance(t.deployment.channels)).toBe(contractBefore)

      // the payee closing with an old receipt gets nothing more, and the payer gets deposit − 7,000
      const payerBefore = await balance(payer.address)
      const close = await mined(channels.connect(payee).closeWithReceipt(...args(stale)))
      expect(close.logs.map((log) => channelsInterface.parseLog(log)?.name)).toEqual(['ChannelClosed'])
      expect(channelsInterface.parseLog(close.logs[0]!)?.args.toObject()).toEqual({
        channelId,
        paidToPayee: 7_000n,
        refundedToPayer: deposit - 7_000n,
      })
      expect(await balance(payer.address)).toBe(payerBefore + deposit - 7_000n)
      const channel = await channels.getChannel(channelId)
      expect([channel.status, channel.claimed]).toEqual([ChannelStatus.closed, 7_000n])
      await expectEscrowInvariant()
    })
  })

  describe('challenge period', () => {
    it('accepts claims until one second before the deadline, and only finalize from the deadline on', async () => {
      const deposit = 10_000n
      const channelId = await open(deposit, { signer: sessionKey.address })
      await mined(claimBy(relayer, await sign(sessionKey, channelId, 1_000n)))
      await mined(channels.requestClose(channelId))
      const deadline = (await channels.getChannel(channelId)).closeDeadline
      expect(await revertName(channels.requestClose(channelId))).toBe('ChannelNotOpen')

      await setNextBlockTimestamp(provider(), deadline - 1n)
      const lastClaim = await mined(claimBy(relayer, await sign(sessionKey, channelId, 4_000n, { seq: 2n })))
      expect(BigInt((await provider().getBlock(lastClaim.blockNumber))!.timestamp)).toBe(deadline - 1n)
      await setNextBlockTimestamp(provider(), deadline - 1n)
      expect(await revertName(channels.connect(relayer).finalize(channelId))).toBe('ChallengePeriodNotOver')

      await setNextBlockTimestamp(provider(), deadline)
      const late = await revertOf(claimBy(relayer, await sign(sessionKey, channelId, 5_000n, { seq: 3n })))
      expect(late.name).toBe('ChallengePeriodOver')
      expect(late.args.getValue('closeDeadline')).toBe(deadline)
      expect(
        await revertName(
          channels.connect(payee).closeWithReceipt(...args(await sign(sessionKey, channelId, 5_000n))),
        ),
      ).toBe('ChallengePeriodOver')
      const payerBefore = await balance(payer.address)
      await setNextBlockTimestamp(provider(), deadline)
      await mined(channels.connect(relayer).finalize(channelId))
      expect(await balance(payer.address)).toBe(payerBefore + deposit - 4_000n)
      await expectEscrowInvariant()
    })

    it('cannot void receipts the payee holds by rotating the signer during the challenge period', async () => {
      const channelId = await open(10_000n, { signer: sessionKey.address })
      const held = await sign(sessionKey, channelId, 6_000n)
      await mined(channels.requestClose(channelId))
      await mined(channels.setSigner(channelId, otherKey.address))
      const c = await channels.getChannel(channelId)
      // the old key outlives the challenge period, so it is valid up to the last claimable second
      expect(c.previousSignerValidUntil).toBeGreaterThanOrEqual(c.closeDeadline)
      await setNextBlockTimestamp(provider(), c.closeDeadline - 1n)
      await mined(claimBy(relayer, held))
      expect((await channels.getChannel(channelId)).claimed).toBe(6_000n)
    })

    it('accepts the previous signer until one second before its window ends, not at its end', async () => {
      const channelId = await open(10_000n, { signer: sessionKey.address })
      await mined(channels.setSigner(channelId, otherKey.address))
      const validUntil = (await channels.getChannel(channelId)).previousSignerValidUntil
      expect(validUntil).toBe((await latestTimestamp()) + CHALLENGE_PERIOD)
      await setNextBlockTimestamp(provider(), validUntil - 1n)
      await mined(claimBy(relayer, await sign(sessionKey, channelId, 1_000n, { seq: 1n })))
      await setNextBlockTimestamp(provider(), validUntil)
      expect(await revertName(claimBy(relayer, await sign(sessionKey, channelId, 2_000n, { seq: 2n })))).toBe(
        'InvalidSigner',
      )
      await setNextBlockTimestamp(provider(), validUntil)
      await mined(claimBy(relayer, await sign(otherKey, channelId, 2_000n, { seq: 2n })))
      expect((await channels.getChannel(channelId)).claimed).toBe(2_000n)
    })
  })

  /** The entry points that move money, re-entered from inside a transfer. */
  const innerCalls = ['claim', 'finalize', 'topUp', 'open', 'closeWithReceipt'] as const
  type InnerCall = (typeof innerCalls)[number]

  /**
   * Prepares a call of `kind` that would succeed if it were not re-entrant, on a channel other than the
   * one under attack, made by `attacker` (the malicious contract): returns its calldata and the state
   * of the channel it targets.
   */
  async function prepareInner(
    kind: InnerCall,
    attacker: string,
    token: string,
  ): Promise<{ data: string; target?: string; targetBefore?: ChannelView }> {
    const deposit = 1_000n
    let data: string
    let target: string | undefined
    if (kind === 'open') {
      data = channelsInterface.encodeFunctionData('open', [payee.address, token, 100n, ZeroAddress])
    } else if (kind === 'closeWithReceipt') {
      target = await open(deposit, { to: attacker, token })
      data = channelsInterface.encodeFunctionData(kind, args(await sign(payer, target, 300n)))
    } else {
      target = await open(deposit, { token })
      if (kind === 'claim') {
        data = channelsInterface.encodeFunctionData(kind, args(await sign(payer, target, 300n)))
      } else if (kind === 'topUp') {
        data = channelsInterface.encodeFunctionData(kind, [target, 100n])
      } else {
        await mined(channels.requestClose(target))
        await increaseTime(provider(), Number(CHALLENGE_PERIOD))
        data = channelsInterface.encodeFunctionData(kind, [target])
      }
    }
    if (target === undefined) return { data }
    return { data, target, targetBefore: await channels.getChannel(target) }
  }

  /** Asserts the armed call was made, failed with ReentrancyGuardReentrantCall and changed nothing. */
  async function expectReentryRefused(
    hook: Hook,
    inner: { target?: string; targetBefore?: ChannelView },
  ): Promise<void> {
    expect(await hook.hookCalled()).toBe(true)
    expect(await hook.hookSucceeded()).toBe(false)
    expect(channelsInterface.parseError(await hook.hookResult())?.name).toBe('ReentrancyGuardReentrantCall')
    if (inner.target !== undefined) {
      expect(fieldsOf(await channels.getChannel(inner.target))).toEqual(fieldsOf(inner.targetBefore!))
    }
  }

  /** Makes the refused call again outside any transfer: it succeeds, so only the guard stopped it. */
  async function expectValidOutsideTransfer(hook: Hook): Promise<void> {
    track(await mined(hook.getFunction('replay')()))
    expect(await hook.hookSucceeded(), 'the same call made outside a transfer').toBe(true)
    await expectEscrowInvariant()
  }

  describe('re-entrancy through a malicious ERC-20', () => {
    let token: Hook & { getAddress(): Promise<string> }
    let tokenAddress: string
    const call = (name: string, ...callArgs: unknown[]) => token.getFunction(name)(...callArgs)
    const tokenBalance = async (address: string) => (await call('balanceOf', address)) as bigint

    beforeAll(async () => {
      const factory = new ContractFactory(
        attack.ReentrantToken.abi,
        attack.ReentrantToken.bytecode,
        t.wallets[0]!,
      )
      const deployed = await factory.deploy(t.deployment.channels)
      await deployed.waitForDeployment()
      token = deployed as unknown as typeof token
      tokenAddress = await token.getAddress()
      await mined(call('mint', payer.address, 10n ** 12n))
      await mined(call('mint', tokenAddress, 10n ** 12n))
      await mined(call('approveFromSelf', t.deployment.channels, 2n ** 255n))
      await mined(
        (token.connect(payer) as typeof token).getFunction('approve')(t.deployment.channels, 2n ** 255n),
      )
    })

    /** The outer operations that move tokens, each on a fresh channel; returns the expected flows. */
    const outerCalls = ['open', 'topUp', 'claim', 'closeWithReceipt', 'finalize'] as const
    type OuterCall = (typeof outerCalls)[number]

    async function prepareOuter(kind: OuterCall): Promise<{
      run: () => Promise<unknown>
      flows: { payer: bigint; payee: bigint }
    }> {
      const deposit = 1_000n
      if (kind === 'open') {
        return { run: () => open(deposit, { token: tokenAddress }), flows: { payer: -deposit, payee: 0n } }
      }
      const channelId = await open(deposit, { token: tokenAddress })
      if (kind === 'topUp') {
        return { run: () => mined(channels.topUp(channelId, deposit)), flows: { payer: -deposit, payee: 0n } }
      }
      const receipt = await sign(payer, channelId, 400n)
      if (kind === 'claim')
        return { run: () => mined(claimBy(relayer, receipt)), flows: { payer: 0n, payee: 400n } }
      if (kind === 'closeWithReceipt') {
        return {
          run: () => mined(channels.connect(payee).closeWithReceipt(...args(receipt))),
          flows: { payer: 600n, payee: 400n },
        }
      }
      await mined(channels.requestClose(channelId))
      await increaseTime(provider(), Number(CHALLENGE_PERIOD))
      return {
        run: () => mined(channels.connect(relayer).finalize(channelId)),
        flows: { payer: deposit, payee: 0n },
      }
    }

    const cases = outerCalls.flatMap((outer) => innerCalls.map((inner) => [outer, inner] as const))

    it.each(cases)(
      '%s: a re-entrant %s from inside the transfer fails and moves no extra token',
      async (outer, inner) => {
        const prepared = await prepareInner(inner, tokenAddress, tokenAddress)
        const outerCall = await prepareOuter(outer)
        const holders = [payer.address, payee.address, tokenAddress, t.deployment.channels]
        const before = await Promise.all(holders.map(tokenBalance))
        await mined(call('arm', prepared.data, false))

        await outerCall.run()

        await expectReentryRefused(token, prepared)
        const after = await Promise.all(holders.map(tokenBalance))
        const { payer: toPayer, payee: toPayee } = outerCall.flows
        expect(after.map((value, i) => value - before[i]!)).toEqual([
          toPayer,
          toPayee,
          0n,
          -toPayer - toPayee,
        ])
        await expectEscrowInvariant()
        await expectValidOutsideTransfer(token)
      },
    )

    it.each(outerCalls)(
      '%s: reverts as a whole when the token bubbles the refused re-entry',
      async (outer) => {
        const prepared = await prepareInner('claim', tokenAddress, tokenAddress)
        const outerCall = await prepareOuter(outer)
        const holders = [payer.address, payee.address, tokenAddress, t.deployment.channels]
        const before = await Promise.all(holders.map(tokenBalance))
        await mined(call('arm', prepared.data, true))
        expect(await revertName(outerCall.run())).toBe('ReentrancyGuardReentrantCall')
        expect(await Promise.all(holders.map(tokenBalance))).toEqual(before)
        await mined(call('disarm'))
        await expectEscrowInvariant()
      },
    )
  })

  // One CI run in three on this 2-core box once hung a case here for the full 60 s test timeout
  // (no assertion failed; not reproduced alone or under load since). The suspect is ethers'
  // tx.wait() poller, now bounded in `mined()`; the retry stays until a run shows the hang gone.
  describe('re-entrancy through a malicious native payee or payer', { retry: 1 }, () => {
    let account: Hook & { getAddress(): Promise<string> }
    let accountAddress: string
    const call = (name: string, ...callArgs: unknown[]) => account.getFunction(name)(...callArgs)

    beforeAll(async () => {
      const factory = new ContractFactory(
        attack.ReentrantAccount.abi,
        attack.ReentrantAccount.bytecode,
        t.wallets[0]!,
      )
      const deployed = await factory.deploy(t.deployment.channels, { value: 10n ** 18n })
      await deployed.waitForDeployment()
      account = deployed as unknown as typeof account
      accountAddress = await account.getAddress()
    })

    /** Where the malicious account sits and which outer call pays it. */
    const outerCalls = [
      'claim (payee)',
      'closeWithReceipt (payee)',
      'closeWithReceipt (payer)',
      'finalize (payer)',
    ] as const
    type OuterCall = (typeof outerCalls)[number]

    async function prepareOuter(kind: OuterCall): Promise<{
      run: () => Promise<unknown>
      /** Coin the account receives, in wei. */
      toAccount: bigint
      /** Coin the other party (payer wallet or payee wallet) receives, in wei; the sender's gas excluded. */
      toOther: bigint
      other: Wallet
    }> {
      const deposit = 1_000n
      if (kind === 'claim (payee)' || kind === 'closeWithReceipt (payee)') {
        const channelId = await open(deposit, { to: accountAddress })
        const receipt = await sign(payer, channelId, 400n)
        if (kind === 'claim (payee)') {
          return { run: () => mined(claimBy(relayer, receipt)), toAccount: 400n, toOther: 0n, other: payer }
        }
        const data = channelsInterface.encodeFunctionData('closeWithReceipt', args(receipt))
        return { run: () => mined(call('execute', data, 0n)), toAccount: 400n, toOther: 600n, other: payer }
      }
      const openData = channelsInterface.encodeFunctionData('open', [
        payee.address,
        ZeroAddress,
        deposit,
        sessionKey.address,
      ])
      const channelId = track(await mined(call('execute', openData, deposit)))[0]!
      const receipt = await sign(sessionKey, channelId, 400n)
      if (kind === 'closeWithReceipt (payer)') {
        return {
          run: () => mined(channels.connect(payee).closeWithReceipt(...args(receipt))),
          toAccount: 600n,
          toOther: 400n,
          other: payee,
        }
      }
      await mined(call('execute', channelsInterface.encodeFunctionData('requestClose', [channelId]), 0n))
      await increaseTime(provider(), Number(CHALLENGE_PERIOD))
      return {
        run: () => mined(channels.connect(relayer).finalize(channelId)),
        toAccount: deposit,
        toOther: 0n,
        other: payee,
      }
    }

    const cases = outerCalls.flatMap((outer) => innerCalls.map((inner) => [outer, inner] as const))

    it.each(cases)(
      '%s: a re-entrant %s from receive() fails and moves no extra coin',
      async (outer, inner) => {
        const prepared = await prepareInner(inner, accountAddress, ZeroAddress)
        const outerCall = await prepareOuter(outer)
        // the inner call carries value for open/topUp, as an attacker's would
        const value = inner === 'open' || inner === 'topUp' ? 100n : 0n
        await mined(call('arm', prepared.data, value, false))
        const accountBefore = await balance(accountAddress)
        const otherBefore = await balance(outerCall.other.address)
        const contractBefore = await balance(t.deployment.channels)

        const receipt = (await outerCall.run()) as TransactionReceipt

        await expectReentryRefused(account, prepared)
        expect(await balance(accountAddress)).toBe(accountBefore + outerCall.toAccount)
        const otherPaidGas = receipt.from === outerCall.other.address ? receipt.fee : 0n
        expect(await balance(outerCall.other.address)).toBe(otherBefore + outerCall.toOther - otherPaidGas)
        expect(await balance(t.deployment.channels)).toBe(
          contractBefore - outerCall.toAccount - outerCall.toOther,
        )
        await expectEscrowInvariant()
        await expectValidOutsideTransfer(account)
      },
    )

    it.each(outerCalls)(
      '%s: reverts with TransferFailed when receive() bubbles the refused re-entry',
      async (outer) => {
        const prepared = await prepareInner('claim', accountAddress, ZeroAddress)
        const outerCall = await prepareOuter(outer)
        await mined(call('arm', prepared.data, 0n, true))
        const accountBefore = await balance(accountAddress)
        const contractBefore = await balance(t.deployment.channels)
        const name = await revertName(outerCall.run())
        // the contract reports a refused native payment as TransferFailed; through execute() the
        // account's own revert data surfaces instead, which is that same TransferFailed
        expect(name).toBe('TransferFailed')
        expect(await balance(accountAddress)).toBe(accountBefore)
        expect(await balance(t.deployment.channels)).toBe(contractBefore)
        await mined(call('disarm'))
        await expectEscrowInvariant()
      },
    )
  })
})
