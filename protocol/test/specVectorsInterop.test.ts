// What an outside implementer reads in protocol/SPEC.md to interoperate without the `.sol` files: the
// On-chain interface tables (declarations, selectors, topics, the getChannel layout) and the test
// vectors for the terms digest step by step, a resume base, the channel id and a descriptor CID.
// Unlike specVectors.test.ts, the values are READ FROM SPEC.md and recomputed here, so the test fails
// when the SPEC and the contracts or the reference code drift apart. The EIP-712 values are also
// recomputed independently of the reference code (ethers' TypedDataEncoder and abi.encode by hand).
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { DATA_REGISTRY_ABI, STREAM_CHANNELS_ABI } from '@trickle/contracts'
import { type Artifacts, type LocalChain, loadArtifacts, startLocalChain } from '@trickle/devnet'
import {
  AbiCoder,
  ContractFactory,
  concat,
  type ErrorFragment,
  type EventFragment,
  Fragment,
  type FunctionFragment,
  getBytes,
  Interface,
  type InterfaceAbi,
  id,
  keccak256,
  SigningKey,
  TypedDataEncoder,
  toUtf8Bytes,
  Wallet,
  ZeroAddress,
} from 'ethers'
import { base58btc } from 'multiformats/bases/base58'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  decodeDescriptor,
  encodeDescriptor,
  type Hex,
  nextAckHash,
  type ProductDescriptor,
  type ReceiptValue,
  receiptDigest,
  receiptDomainSeparator,
  recoverReceiptSigner,
  recoverTermsSigner,
  signReceipt,
  signTerms,
  TERMS_TYPES,
  type Terms,
  termsDigest,
  toHex,
  ZERO_HASH,
} from '../src/index.ts'

const SPEC = readFileSync(resolve(import.meta.dirname, '../SPEC.md'), 'utf8')

/** The text of the section that starts with the heading line `heading`, up to the next heading of its level or above. */
function section(markdown: string, heading: string): string {
  const lines = markdown.split('\n')
  const start = lines.indexOf(heading)
  if (start < 0) throw new Error(`SPEC.md has no heading "${heading}"`)
  const level = heading.indexOf(' ')
  const end = lines.findIndex((line, i) => i > start && /^#+ /.test(line) && line.indexOf(' ') <= level)
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n')
}

/** The cells of every table row of `text`, as written (trimmed). */
function rows(text: string): string[][] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('| ') && !line.startsWith('|---'))
    .map((line) =>
      line
        .slice(2, -2)
        .split(' | ')
        .map((cell) => cell.trim()),
    )
}

/** A cell that is one code span, without its backticks. */
function code(cell: string | undefined): string {
  const match = /^`([^`]*)`$/.exec(cell ?? '')
  return match ? match[1]! : (cell ?? '')
}

/** The value cell (a code span, backticks removed) of the table row whose first cell is `label`. */
function vector(text: string, label: string): string {
  const found = rows(text).filter((cells) => cells[0] === label)
  if (found.length !== 1) throw new Error(`SPEC.md: ${found.length} rows labelled "${label}"`)
  return code(found[0]![1])
}

const ONCHAIN = section(SPEC, '## On-chain interface')
const VECTORS = section(SPEC, '## Test vectors')
const TERMS_STEPS = section(VECTORS, '### Terms digest, step by step')
const RESUME = section(VECTORS, '### Resume base')
const CHANNEL_ID_VECTOR = section(VECTORS, '### Channel id')
const DESCRIPTOR_VECTOR = section(VECTORS, '### Descriptor CID')
const DESCRIPTOR_RATE_VECTOR = section(VECTORS, '### Descriptor CID with a chunk rate')

// Inputs of SPEC §Test vectors.
const SELLER_KEY = new SigningKey(`0x${'00'.repeat(31)}01`)
const BUYER_KEY = new SigningKey(`0x${'00'.repeat(31)}02`)
const SELLER_ADDRESS = '0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf'
const BUYER_ADDRESS = '0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF'
const CHAIN_ID = 31337
const CHANNELS: Hex = '0x5FbDB2315678afecb367f032d93F642f64180aa3'
const CHANNEL_ID: Hex = `0x${'11'.repeat(32)}`
const PAYEE: Hex = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8'
const CHUNK0 = new TextEncoder().encode('{"v":1}')
const CHUNK1 = new TextEncoder().encode('{"v":2}')

const TERMS: Terms = {
  v: 1,
  productId: 1n,
  channelId: CHANNEL_ID,
  payee: PAYEE,
  pricePerChunk: 1000n,
  maxChunkBytes: 4096,
  window: { initial: 16, step: 16, max: 256 },
  receiptEvery: 8,
  paymentTimeoutMs: 5000,
  heartbeatMs: 10_000,
  idleTimeoutMs: 30_000,
  maxQueuedChunks: 1024,
  overflow: 'drop_oldest',
  chainId: CHAIN_ID,
  channels: CHANNELS,
  expiresAt: 1767225600000,
  base: { seq: 0, amount: 0n, ackHash: ZERO_HASH, signature: '0x' },
}

const DESCRIPTOR: ProductDescriptor = {
  schema: 'trickle.descriptor/1',
  name: 'CO sensor',
  description: '',
  kind: 'stream',
  seller: PAYEE,
  endpoint: 'ws://127.0.0.1:4312/',
  pricePerChunk: '1000',
  chunk: { encoding: 'application/json', maxBytes: 4096, unit: 'one sensor reading' },
  topics: ['air/co'],
  fields: [{ name: 'co', unit: 'mg/m3' }],
  tags: [],
  source: { title: '', licence: '', attribution: '' },
  createdAt: '2026-01-01T00:00:00.000Z',
}

const abi = AbiCoder.defaultAbiCoder()

/** The `Terms` type string as SPEC §Terms prints it (wrapped over lines), joined into one line. */
function specTermsType(): string {
  const block = /```\n(Terms\([^`]+\))\n```/.exec(section(SPEC, '## Terms'))
  if (!block) throw new Error('SPEC.md §Terms has no Terms(...) block')
  // wrapped after commas: the type string has no spaces after them
  return block[1]!.replace(/\n\s*/g, '')
}

/** EIP-712 `hashStruct(Terms)` by hand: one abi-encoded word per field, the string as its keccak256. */
function termsStructHashByHand(terms: Terms): Hex {
  const typeHash = keccak256(toUtf8Bytes(specTermsType()))
  return keccak256(
    abi.encode(
      [
        'bytes32',
        'uint16',
        'uint256',
        'bytes32',
        'address',
        'uint256',
        'uint32',
        'uint32',
        'uint32',
        'uint32',
        'uint32',
        'uint64',
        'uint32',
        'uint32',
        'uint32',
        'bytes32',
        'uint64',
        'uint64',
        'uint256',
        'bytes32',
      ],
      [
        typeHash,
        terms.v,
        terms.productId,
        terms.channelId,
        terms.payee,
        terms.pricePerChunk,
        terms.maxChunkBytes,
        terms.window.initial,
        terms.window.step,
        terms.window.max,
        terms.receiptEvery,
        terms.paymentTimeoutMs,
        terms.heartbeatMs,
        terms.idleTimeoutMs,
        terms.maxQueuedChunks,
        keccak256(toUtf8Bytes(terms.overflow)),
        terms.expiresAt,
        terms.base.seq,
        terms.base.amount,
        terms.base.ackHash,
      ],
    ),
  ) as Hex
}

/** The terms domain separator by hand (EIP-712 §Definition of domainSeparator). */
function termsDomainSeparatorByHand(chainId: number, channels: Hex): Hex {
  return keccak256(
    abi.encode(
      ['bytes32', 'bytes32', 'bytes32', 'uint256', 'address'],
      [
        id('EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)'),
        id('Trickle Terms'),
        id('1'),
        chainId,
        channels,
      ],
    ),
  ) as Hex
}

/** The struct value `TypedDataEncoder` signs, from terms (SPEC §Terms: field names and order). */
function termsMessage(terms: Terms) {
  return {
    version: terms.v,
    productId: terms.productId,
    channelId: terms.channelId,
    payee: terms.payee,
    pricePerChunk: terms.pricePerChunk,
    maxChunkBytes: terms.maxChunkBytes,
    windowInitial: terms.window.initial,
    windowStep: terms.window.step,
    windowMax: terms.window.max,
    receiptEvery: terms.receiptEvery,
    paymentTimeoutMs: terms.paymentTimeoutMs,
    heartbeatMs: terms.heartbeatMs,
    idleTimeoutMs: terms.idleTimeoutMs,
    maxQueuedChunks: terms.maxQueuedChunks,
    overflow: terms.overflow,
    expiresAt: terms.expiresAt,
    baseSeq: terms.base.seq,
    baseAmount: terms.base.amount,
    baseAckHash: terms.base.ackHash,
  }
}

/** The resume-base receipt of SPEC §Test vectors: chunks 0 and 1, 2000 wei. */
function resumeReceipt(): ReceiptValue {
  return {
    channelId: CHANNEL_ID,
    amount: 2000n,
    seq: 2,
    ackHash: nextAckHash(nextAckHash(ZERO_HASH, CHUNK0), CHUNK1),
  }
}

/** A declaration row of the On-chain interface tables. */
interface Declaration {
  contract: 'StreamChannels' | 'DataRegistry'
  fragment: FunctionFragment | EventFragment | ErrorFragment
  /** selector or topic0 as SPEC.md prints it */
  hash: string
}

/** Every `function` / `event` / `error` row of the On-chain interface section, by contract. */
function declarations(): Declaration[] {
  const out: Declaration[] = []
  for (const contract of ['StreamChannels', 'DataRegistry'] as const) {
    for (const cells of rows(section(ONCHAIN, `### ${contract}`))) {
      const declaration = code(cells[0])
      const hash = code(cells[1])
      if (!/^(function|event|error) /.test(declaration)) continue
      const fragment = Fragment.from(declaration)
      if (fragment.type !== 'function' && fragment.type !== 'event' && fragment.type !== 'error') {
        throw new Error(`not a function, event or error: ${declaration}`)
      }
      out.push({ contract, fragment: fragment as Declaration['fragment'], hash })
    }
  }
  return out
}

/** Canonical signatures (`name(type,…)`) of every function, event and error of an ABI, sorted. */
function canonicalSignatures(contractAbi: InterfaceAbi): string[] {
  return new Interface(contractAbi).fragments
    .filter((f) => f.type === 'function' || f.type === 'event' || f.type === 'error')
    .map((f) => `${f.type} ${(f as FunctionFragment).format('sighash')}`)
    .sort()
}

describe('SPEC.md §On-chain interface', () => {
  let artifacts: Artifacts
  beforeAll(async () => {
    artifacts = await loadArtifacts()
  })

  it('lists every function, event and error of both contracts, and nothing else', () => {
    const listed = declarations()
    for (const contract of ['StreamChannels', 'DataRegistry'] as const) {
      const inSpec = listed
        .filter((d) => d.contract === contract)
        .map((d) => `${d.fragment.type} ${d.fragment.format('sighash')}`)
        .sort()
      expect(inSpec, contract).toEqual(canonicalSignatures(artifacts[contract].abi))
    }
    // The hand-written ABIs the SDK uses hold the same set (registry-contract/test/abi.test.ts checks the rest).
    expect(canonicalSignatures(STREAM_CHANNELS_ABI)).toEqual(
      canonicalSignatures(artifacts.StreamChannels.abi),
    )
    expect(canonicalSignatures(DATA_REGISTRY_ABI)).toEqual(canonicalSignatures(artifacts.DataRegistry.abi))
  })

  it('prints each declaration as compiled: parameter names, indexed flags, mutability and returns', () => {
    for (const { contract, fragment } of declarations()) {
      const compiled = new Interface(artifacts[contract].abi)
      const sighash = fragment.format('sighash')
      const match =
        fragment.type === 'function'
          ? compiled.getFunction(sighash)
          : fragment.type === 'event'
            ? compiled.getEvent(sighash)
            : compiled.getError(sighash)
      expect(match, `${contract} ${sighash}`).not.toBeNull()
      expect(fragment.format('full'), `${contract} ${sighash}`).toBe(match!.format('full'))
    }
  })

  it('gives each selector and topic0 as keccak256 of the canonical signature', () => {
    for (const { contract, fragment, hash } of declarations()) {
      const sighash = fragment.format('sighash')
      const iface = new Interface(artifacts[contract].abi)
      if (fragment.type === 'event') {
        expect(hash, `${contract} ${sighash}`).toBe(id(sighash))
        expect(hash, `${contract} ${sighash}`).toBe(iface.getEvent(sighash)!.topicHash)
      } else {
        expect(hash, `${contract} ${sighash}`).toBe(id(sighash).slice(0, 10))
        const compiled = fragment.type === 'function' ? iface.getFunction(sighash) : iface.getError(sighash)
        expect(hash, `${contract} ${sighash}`).toBe(compiled!.selector)
      }
    }
  })

  it('gives the Channel struct of getChannel in ABI order, ten static words', () => {
    const table = rows(section(ONCHAIN, '### StreamChannels')).filter((cells) => /^\d+$/.test(cells[0] ?? ''))
    const compiled = new Interface(artifacts.StreamChannels.abi).getFunction('getChannel')!
    const components = compiled.outputs[0]!.components!
    expect(table.map((cells) => [Number(cells[0]), code(cells[1]), code(cells[2])])).toEqual(
      components.map((c, i) => [i, c.name, c.type]),
    )
    const encoded = new Interface(artifacts.StreamChannels.abi).encodeFunctionResult('getChannel', [
      [ZeroAddress, ZeroAddress, ZeroAddress, ZeroAddress, 0n, 0n, 0n, 0n, ZeroAddress, 0n],
    ])
    expect(getBytes(encoded).length).toBe(10 * 32)
  })
})

describe('SPEC.md §Descriptor and its test vector', () => {
  it('says the binary CID of a dag-json descriptor is 37 bytes, laid out as encodeDescriptor writes it', async () => {
    const { cid, bytes } = await encodeDescriptor(DESCRIPTOR)
    expect(cid.bytes.length).toBe(37)
    const descriptorSection = section(SPEC, '## Descriptor')
    expect(descriptorSection).toContain('**37 bytes**')
    expect(descriptorSection).not.toMatch(/\b36 bytes\b/)
    // The layout table: its fixed bytes are the CID's prefix, then 32 digest bytes.
    const fixed = rows(descriptorSection)
      .filter(
        (cells) => /^\d+(–\d+)?$/.test(cells[0] ?? '') && /^[0-9a-f]{2}( [0-9a-f]{2})*$/.test(code(cells[1])),
      )
      .map((cells) => code(cells[1]).replace(/ /g, ''))
      .join('')
    expect(fixed).toBe('01a9021220')
    expect(toHex(cid.bytes.subarray(0, 5))).toBe(`0x${fixed}`)
    expect(toHex(cid.bytes.subarray(5))).toBe(toHex(cid.multihash.digest))
    expect(cid.multihash.digest.length).toBe(32)
    // The vector.
    const block = /```\n(\{"chunk"[^\n]+)\n```/.exec(DESCRIPTOR_VECTOR)
    expect(new TextDecoder().decode(bytes)).toBe(block?.[1])
    expect(bytes.length).toBe(441)
    expect(DESCRIPTOR_VECTOR).toContain(`the ${bytes.length} bytes of dag-json`)
    expect(toHex(cid.bytes)).toBe(vector(DESCRIPTOR_VECTOR, 'binary CID (37 bytes, as registered)'))
    expect(cid.toString()).toBe(vector(DESCRIPTOR_VECTOR, 'CID, base32 (canonical text)'))
    expect(cid.toString(base58btc)).toBe(vector(DESCRIPTOR_VECTOR, 'CID, base58btc'))
  })

  it('gives the vector of the same descriptor with the optional chunksPerSecond, a float sorted after chunk', async () => {
    const { cid, bytes } = await encodeDescriptor({ ...DESCRIPTOR, chunksPerSecond: 2.5 })
    const text = new TextDecoder().decode(bytes)
    expect(text).toContain('"chunk":{')
    expect(text).toContain('},"chunksPerSecond":2.5,"createdAt":')
    const block = /```\n(\{"chunk"[^\n]+)\n```/.exec(DESCRIPTOR_RATE_VECTOR)
    expect(text).toBe(block?.[1])
    expect(DESCRIPTOR_RATE_VECTOR).toContain(`the ${bytes.length} bytes of dag-json`)
    expect(decodeDescriptor(bytes)).toEqual({ ...DESCRIPTOR, chunksPerSecond: 2.5 })
    expect(cid.bytes.length).toBe(37)
    expect(toHex(cid.bytes)).toBe(vector(DESCRIPTOR_RATE_VECTOR, 'binary CID (37 bytes, as registered)'))
    expect(cid.toString()).toBe(vector(DESCRIPTOR_RATE_VECTOR, 'CID, base32 (canonical text)'))
    expect(cid.toString(base58btc)).toBe(vector(DESCRIPTOR_RATE_VECTOR, 'CID, base58btc'))
  })
})

describe('SPEC.md §Test vectors: terms digest step by step', () => {
  const encoder = TypedDataEncoder.from(TERMS_TYPES)

  it('derives TERMS_TYPEHASH from the type string in §Terms, as TypedDataEncoder encodes the struct', () => {
    const typeString = specTermsType()
    expect(encoder.encodeType('Terms')).toBe(typeString)
    const typeHash = vector(
      TERMS_STEPS,
      '`TERMS_TYPEHASH` = `keccak256` of the type string (§Terms, one line)',
    )
    expect(keccak256(toUtf8Bytes(typeString))).toBe(typeHash)
    expect(
      vector(
        TERMS_STEPS,
        '`EIP712DOMAIN_TYPEHASH` = `keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")`',
      ),
    ).toBe(id('EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)'))
    expect(vector(TERMS_STEPS, '`keccak256("drop_oldest")` (the `overflow` word)')).toBe(id('drop_oldest'))
  })

  it('computes the domain separator, hashStruct and digest three ways: by hand, TypedDataEncoder, termsDigest', () => {
    const separator = vector(
      TERMS_STEPS,
      'terms domain separator (chainId 31337, StreamChannels `0x5FbDB2315678afecb367f032d93F642f64180aa3`)',
    )
    expect(termsDomainSeparatorByHand(CHAIN_ID, CHANNELS)).toBe(separator)
    expect(
      TypedDataEncoder.hashDomain({
        name: 'Trickle Terms',
        version: '1',
        chainId: CHAIN_ID,
        verifyingContract: CHANNELS,
      }),
    ).toBe(separator)
    const structHash = vector(TERMS_STEPS, '`hashStruct(Terms)`')
    expect(termsStructHashByHand(TERMS)).toBe(structHash)
    expect(encoder.hashStruct('Terms', termsMessage(TERMS))).toBe(structHash)
    const digest = vector(TERMS_STEPS, 'terms digest = `keccak256(0x1901 ‖ domain separator ‖ hashStruct)`')
    expect(keccak256(concat(['0x1901', separator, structHash]))).toBe(digest)
    expect(termsDigest(TERMS)).toBe(digest)
  })
})

describe('SPEC.md §Test vectors: resume base', () => {
  const receipt = resumeReceipt()
  const separator = receiptDomainSeparator({ chainId: CHAIN_ID, channels: CHANNELS })
  const signature = signReceipt(BUYER_KEY, separator, receipt)
  const resumed: Terms = { ...TERMS, base: { ...receipt, signature } }

  it('computes the base receipt: ack hash after two chunks, digest and the buyer signature', () => {
    expect(receipt.ackHash).toBe(
      vector(RESUME, 'ackHash after chunk 1 = `SHA-256(ackHash after chunk 0 ‖ \'{"v":2}\')`'),
    )
    const digest = vector(RESUME, 'base receipt digest')
    expect(receiptDigest(separator, receipt)).toBe(digest)
    // Independently: EIP-712 over the receipt struct as the contract declares it.
    expect(
      TypedDataEncoder.hash(
        { name: 'Trickle StreamChannels', version: '1', chainId: CHAIN_ID, verifyingContract: CHANNELS },
        {
          Receipt: [
            { name: 'channelId', type: 'bytes32' },
            { name: 'cumulativeAmount', type: 'uint256' },
            { name: 'seq', type: 'uint64' },
            { name: 'ackHash', type: 'bytes32' },
          ],
        },
        {
          channelId: receipt.channelId,
          cumulativeAmount: receipt.amount,
          seq: receipt.seq,
          ackHash: receipt.ackHash,
        },
      ),
    ).toBe(digest)
    expect(signature).toBe(vector(RESUME, 'base receipt signature (buyer key, RFC 6979)'))
    expect(recoverReceiptSigner(separator, receipt, signature)).toBe(BUYER_ADDRESS.toLowerCase())
  })

  it('computes the terms with that base: hashStruct, digest and the seller signature', () => {
    const structHash = vector(RESUME, '`hashStruct(Terms)` with that base')
    expect(termsStructHashByHand(resumed)).toBe(structHash)
    expect(TypedDataEncoder.from(TERMS_TYPES).hashStruct('Terms', termsMessage(resumed))).toBe(structHash)
    const digest = vector(RESUME, 'terms digest with that base')
    expect(keccak256(concat(['0x1901', termsDomainSeparatorByHand(CHAIN_ID, CHANNELS), structHash]))).toBe(
      digest,
    )
    expect(termsDigest(resumed)).toBe(digest)
    // The base signature is not part of the struct.
    expect(termsDigest({ ...resumed, base: { ...resumed.base, signature: '0x' } })).toBe(digest)
    const termsSignature = vector(RESUME, 'terms signature with that base (seller key)') as Hex
    expect(signTerms(SELLER_KEY, resumed)).toBe(termsSignature)
    expect(recoverTermsSigner(resumed, termsSignature)).toBe(SELLER_ADDRESS)
  })
})

describe('SPEC.md §Test vectors: channel id, and the vectors on StreamChannels (anvil)', () => {
  const label =
    '`keccak256(abi.encode(31337, 0x5FbDB2315678afecb367f032d93F642f64180aa3, 0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF, 0))`'
  let chain: LocalChain
  let artifacts: Artifacts

  beforeAll(async () => {
    artifacts = await loadArtifacts()
    chain = await startLocalChain({ chainId: CHAIN_ID })
  })

  afterAll(async () => {
    await chain?.stop()
  })

  it('derives the channel id as abi.encode(chainid, contract, payer, nonce)', () => {
    expect(
      keccak256(
        abi.encode(['uint256', 'address', 'address', 'uint256'], [CHAIN_ID, CHANNELS, BUYER_ADDRESS, 0]),
      ),
    ).toBe(vector(CHANNEL_ID_VECTOR, label))
  })

  it('matches the contract: ChannelOpened topics, channel id, receipt digest, getChannel and getProduct layouts', async () => {
    const deployer = new Wallet(chain.privateKeys[0]!, chain.provider)
    // Anvil's first deployment by account 0 lands at the vectors' StreamChannels address.
    const channelsFactory = new ContractFactory(
      artifacts.StreamChannels.abi,
      artifacts.StreamChannels.bytecode,
      deployer,
    )
    const channels = await channelsFactory.deploy(60n)
    await channels.waitForDeployment()
    expect(await channels.getAddress()).toBe(CHANNELS)
    const registryFactory = new ContractFactory(
      artifacts.DataRegistry.abi,
      artifacts.DataRegistry.bytecode,
      deployer,
    )
    const registry = await registryFactory.deploy()
    await registry.waitForDeployment()

    // The buyer key opens the first channel.
    const buyer = new Wallet(BUYER_KEY, chain.provider)
    await (await deployer.sendTransaction({ to: buyer.address, value: 10n ** 18n })).wait()
    const channelsIface = new Interface(artifacts.StreamChannels.abi)
    const open = await buyer.sendTransaction({
      to: CHANNELS,
      data: channelsIface.encodeFunctionData('open', [PAYEE, ZeroAddress, 1000n, ZeroAddress]),
      value: 1000n,
    })
    const mined = await open.wait()
    const log = mined!.logs.find((l) => l.address === CHANNELS)!
    const opened = declarations().find((d) => d.fragment.format('sighash').startsWith('ChannelOpened('))!
    expect(log.topics[0]).toBe(opened.hash)
    const channelId = log.topics[1]
    expect(channelId).toBe(vector(CHANNEL_ID_VECTOR, label))
    expect(log.topics[2]).toBe(abi.encode(['address'], [BUYER_ADDRESS]))
    expect(log.topics[3]).toBe(abi.encode(['address'], [PAYEE]))

    // getChannel: ten words, in the SPEC's order.
    const raw = await chain.provider.call({
      to: CHANNELS,
      data: channelsIface.encodeFunctionData('getChannel', [channelId]),
    })
    expect(getBytes(raw).length).toBe(10 * 32)
    const words = abi.decode(
      [
        'address',
        'address',
        'address',
        'address',
        'uint256',
        'uint256',
        'uint64',
        'uint8',
        'address',
        'uint64',
      ],
      raw,
    )
    expect([...words]).toEqual([
      BUYER_ADDRESS,
      PAYEE,
      ZeroAddress,
      BUYER_ADDRESS,
      1000n,
      0n,
      0n,
      1n,
      ZeroAddress,
      0n,
    ])

    // The on-chain receipt digest of the resume base, and the receipt domain separator.
    const receipt = resumeReceipt()
    const call = async (data: string) => chain.provider.call({ to: CHANNELS, data })
    expect(
      await call(
        channelsIface.encodeFunctionData('receiptDigest', [
          receipt.channelId,
          receipt.amount,
          receipt.seq,
          receipt.ackHash,
        ]),
      ),
    ).toBe(vector(RESUME, 'base receipt digest'))
    expect(await call(channelsIface.encodeFunctionData('domainSeparator'))).toBe(
      receiptDomainSeparator({ chainId: CHAIN_ID, channels: CHANNELS }),
    )

    // DataRegistry: the 37-byte vector CID round-trips, and getProduct returns owner, kind, active,
    // offset 0x80, then the bytes.
    const { cid } = await encodeDescriptor(DESCRIPTOR)
    const registryIface = new Interface(artifacts.DataRegistry.abi)
    const registryAddress = await registry.getAddress()
    const registered = await (
      await deployer.sendTransaction({
        to: registryAddress,
        data: registryIface.encodeFunctionData('register', [cid.bytes, 0]),
      })
    ).wait()
    const productRegistered = declarations().find((d) =>
      d.fragment.format('sighash').startsWith('ProductRegistered('),
    )!
    expect(registered!.logs[0]!.topics[0]).toBe(productRegistered.hash)
    const product = await chain.provider.call({
      to: registryAddress,
      data: registryIface.encodeFunctionData('getProduct', [1n]),
    })
    const word = (i: number) => `0x${product.slice(2 + 64 * i, 2 + 64 * (i + 1))}`
    expect(BigInt(word(3))).toBe(0x80n)
    expect(BigInt(word(4))).toBe(37n)
    expect(`0x${product.slice(2 + 64 * 5, 2 + 64 * 5 + 74)}`).toBe(
      vector(DESCRIPTOR_VECTOR, 'binary CID (37 bytes, as registered)'),
    )
  })
})
