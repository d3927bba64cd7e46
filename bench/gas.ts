/**
 * Gas benchmark of the Trickle contracts on a fresh anvil chain: gasUsed of every state-changing call
 * a buyer, a seller or a relayer makes, plus the amortized cost per chunk when one claim settles
 * 10,000 chunks. Deterministic: same contracts, same compiler settings, same figures.
 */
import { createHash } from 'node:crypto'
import { attestationsAt, channelsAt, RECEIPT_TYPES, receiptDomain, registryAt } from '@trickle/contracts'
import { deployContracts, increaseTime, loadArtifacts, startLocalChain } from '@trickle/devnet'
import { ContractFactory, type ContractTransactionResponse, Wallet, ZeroAddress } from 'ethers'
import type { BenchMeasurement, Benchmark } from './results.ts'

/** Chunks one claim settles in the amortized figure. */
const CHUNKS_PER_CLAIM = 10_000
const CLAIM_GOAL = { atMost: 60_000 }
const REGISTER_GOAL = { atMost: 100_000 }
const CHALLENGE_PERIOD = 3600n
const REGISTRY = 'Gas: DataRegistry'
const CHANNELS = 'Gas: StreamChannels'
const ATTESTATIONS = 'Gas: JobAttestations'

/** The gas benchmark, for `bench/run.ts`. */
export const gasBenchmark: Benchmark = { name: 'gas', run: measureGas }

/**
 * Starts anvil, deploys DataRegistry, StreamChannels, JobAttestations and a fee-less TestToken, and measures gasUsed of
 * each operation from its transaction receipt. Claims are sent by the payee (the usual case: the seller
 * settles its own receipts) and signed by a session key; "first" and "later" differ in cold and
 * zero-to-nonzero storage (EIP-2929, EIP-2200).
 *
 * @returns one measurement per operation, unit `gas`, and the per-chunk figures, unit `gas/chunk`
 * @throws ContractsError from anvil start-up, compilation or deployment; Error when a transaction fails
 */
export async function measureGas(): Promise<BenchMeasurement[]> {
  const chain = await startLocalChain()
  try {
    const [deployer, payer, payee, sessionKey] = chain.privateKeys.map(
      (key) => new Wallet(key, chain.provider),
    ) as [Wallet, Wallet, Wallet, Wallet]
    const deployment = await deployContracts(deployer, { challengePeriodSeconds: CHALLENGE_PERIOD })
    const results: BenchMeasurement[] = []
    const record = async (
      section: string,
      name: string,
      sent: Promise<ContractTransactionResponse>,
      extra: Partial<BenchMeasurement> = {},
    ): Promise<number> => {
      const receipt = await (await sent).wait()
      if (receipt?.status !== 1) throw new Error(`${name}: transaction failed`)
      const value = Number(receipt.gasUsed)
      results.push({ name, section, value, unit: 'gas', ...extra })
      return value
    }

    // DataRegistry: a 37-byte dag-json CIDv1 (sha2-256), the descriptor CIDs sellers register.
    const registry = registryAt(deployment.registry, payee)
    const cid = (text: string) =>
      Uint8Array.from([0x01, 0xa9, 0x02, 0x12, 0x20, ...createHash('sha256').update(text).digest()])
    const registerNote = '37-byte dag-json CID'
    await record(REGISTRY, 'DataRegistry.register (first product)', registry.register(cid('first'), 0), {
      goal: REGISTER_GOAL,
      note: `${registerNote}; product counter 0 → 1`,
    })
    await record(REGISTRY, 'DataRegistry.register (later product)', registry.register(cid('later'), 0), {
      goal: REGISTER_GOAL,
      note: registerNote,
    })
    await record(REGISTRY, 'DataRegistry.setSellerKey', registry.setSellerKey(sessionKey.address))

    const channels = channelsAt(deployment.channels, payer)
    const domain = receiptDomain(chain.chainId, deployment.channels)
    let seq = 0n
    const signed = async (channelId: string, cumulativeAmount: bigint) => {
      seq += 1n
      const value = { channelId, cumulativeAmount, seq, ackHash: `0x${seq.toString(16).padStart(64, '0')}` }
      const signature = await sessionKey.signTypedData(domain, RECEIPT_TYPES, value)
      return [channelId, cumulativeAmount, seq, value.ackHash, signature] as const
    }
    const openedId = (token: string, amount: bigint, value: bigint): Promise<string> =>
      channels.open.staticCall(payee.address, token, amount, sessionKey.address, { value })

    // Native coin.
    const deposit = 10n ** 18n
    let channelId = await openedId(ZeroAddress, deposit, deposit)
    await record(
      CHANNELS,
      'StreamChannels.open (native, first channel)',
      channels.open(payee.address, ZeroAddress, deposit, sessionKey.address, { value: deposit }),
      { note: 'session-key signer; channel nonce 0 → 1' },
    )
    const asPayee = channels.connect(payee)
    await record(
      CHANNELS,
      'StreamChannels.claim (native, first claim)',
      asPayee.claim(...(await signed(channelId, 10n ** 15n))),
      {
        goal: CLAIM_GOAL,
        note: 'sent by the payee; claimed shares its slot with the deposit, so no 0 → x SSTORE',
      },
    )
    const nativeClaim = await record(
      CHANNELS,
      'StreamChannels.claim (native, later claim)',
      asPayee.claim(...(await signed(channelId, 2n * 10n ** 15n))),
      { goal: CLAIM_GOAL, note: 'sent by the payee' },
    )
    await record(
      CHANNELS,
      'StreamChannels.topUp (native)',
      channels.topUp(channelId, deposit, { value: deposit }),
      { note: 'by the payer' },
    )
    await record(CHANNELS, 'StreamChannels.setSigner', channels.setSigner(channelId, payer.address), {
      note: 'session key → payer; previous signer kept one challenge period',
    })
    await record(CHANNELS, 'StreamChannels.requestClose', channels.requestClose(channelId))
    await increaseTime(chain.provider, Number(CHALLENGE_PERIOD))
    await record(CHANNELS, 'StreamChannels.finalize (native)', channels.finalize(channelId), {
      note: 'refund to the payer',
    })

    channelId = await openedId(ZeroAddress, deposit, deposit)
    await record(
      CHANNELS,
      'StreamChannels.open (native, later channel)',
      channels.open(payee.address, ZeroAddress, deposit, sessionKey.address, { value: deposit }),
      { note: 'session-key signer' },
    )
    await asPayee.claim(...(await signed(channelId, 10n ** 15n))).then((sent) => sent.wait())
    await record(
      CHANNELS,
      'StreamChannels.closeWithReceipt (native)',
      asPayee.closeWithReceipt(...(await signed(channelId, 3n * 10n ** 15n))),
      { note: 'cooperative close: pays the payee, refunds the payer' },
    )

    // ERC-20 (OpenZeppelin ERC20 without fee).
    const artifacts = await loadArtifacts()
    const factory = new ContractFactory(artifacts.TestToken.abi, artifacts.TestToken.bytecode, deployer)
    const token = await factory.deploy(0)
    await token.waitForDeployment()
    const tokenAddress = await token.getAddress()
    const call = (name: string, from: Wallet, ...args: unknown[]) =>
      (token.connect(from) as typeof token)
        .getFunction(name)(...args)
        .then((sent) => sent.wait())
    await call('mint', deployer, payer.address, 10n ** 24n)
    await call('approve', payer, deployment.channels, 2n ** 255n)
    const units = 10n ** 21n
    channelId = await openedId(tokenAddress, units, 0n)
    await record(
      CHANNELS,
      'StreamChannels.open (ERC-20)',
      channels.open(payee.address, tokenAddress, units, sessionKey.address),
      { note: 'transferFrom, credited by balance delta' },
    )
    await record(
      CHANNELS,
      'StreamChannels.claim (ERC-20, first claim, new holder)',
      asPayee.claim(...(await signed(channelId, 10n ** 18n))),
      { note: "payee's token balance 0 → x: 20,000 of it is the token's own SSTORE" },
    )
    const tokenClaim = await record(
      CHANNELS,
      'StreamChannels.claim (ERC-20, later claim)',
      asPayee.claim(...(await signed(channelId, 2n * 10n ** 18n))),
      {
        goal: CLAIM_GOAL,
        note: "payee already holds the token; the token's transfer costs ~15,600, reading the channel's token slot 2,100",
      },
    )
    await record(CHANNELS, 'StreamChannels.topUp (ERC-20)', channels.topUp(channelId, units))
    await record(
      CHANNELS,
      'StreamChannels.closeWithReceipt (ERC-20)',
      asPayee.closeWithReceipt(...(await signed(channelId, 3n * 10n ** 18n))),
    )

    // JobAttestations: anchoring a job's attestation, apart from its claim and in one transaction with it.
    const attestations = attestationsAt(deployment.attestations, payee)
    const attestation = (job: number) =>
      `0x${createHash('sha256').update(`attestation ${job}`).digest('hex')}`
    channelId = await openedId(ZeroAddress, deposit, deposit)
    await channels
      .open(payee.address, ZeroAddress, deposit, sessionKey.address, { value: deposit })
      .then((sent) => sent.wait())
    await asPayee.claim(...(await signed(channelId, 10n ** 15n))).then((sent) => sent.wait())
    const claimApart = await record(
      ATTESTATIONS,
      'StreamChannels.claim (native, later claim, before an attest)',
      asPayee.claim(...(await signed(channelId, 2n * 10n ** 15n))),
      { note: 'the claim an attest sent apart pays with' },
    )
    const attestApart = await record(
      ATTESTATIONS,
      'JobAttestations.attest',
      attestations.attest(channelId, attestation(1), 2n * 10n ** 15n),
      {
        note: 'event only; ~12,700 of it reads the payee through StreamChannels.getChannel (six cold slots)',
      },
    )
    const [, amount, receiptSeq, ackHash, signature] = await signed(channelId, 3n * 10n ** 15n)
    const together = await record(
      ATTESTATIONS,
      'JobAttestations.claimAndAttest (native, later claim)',
      attestations.claimAndAttest(channelId, attestation(2), amount, receiptSeq, ackHash, signature),
      { note: 'one transaction: Claimed and Attested in one receipt' },
    )
    results.push({
      name: 'JobAttestations.claimAndAttest against claim + attest apart',
      section: ATTESTATIONS,
      value: Math.round((together / (claimApart + attestApart)) * 1000) / 1000,
      unit: 'ratio',
      note: `${together.toLocaleString('en-US')} against ${(claimApart + attestApart).toLocaleString('en-US')} gas in two transactions`,
    })

    const perChunk = `one later claim covering ${CHUNKS_PER_CLAIM.toLocaleString('en-US')} chunks`
    results.push(
      {
        name: 'StreamChannels.claim per chunk (native)',
        section: CHANNELS,
        value: nativeClaim / CHUNKS_PER_CLAIM,
        unit: 'gas/chunk',
        note: perChunk,
      },
      {
        name: 'StreamChannels.claim per chunk (ERC-20)',
        section: CHANNELS,
        value: tokenClaim / CHUNKS_PER_CLAIM,
        unit: 'gas/chunk',
        note: perChunk,
      },
    )
    return results
  } finally {
    await chain.stop()
  }
}
