/**
 * `npm start`: boots the whole local marketplace, serves the storefront and runs a demo buyer through
 * the SDK. `npm start -- --once` exits after the demo (no storefront), printing one JSON summary as its
 * last line.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CHAIN_PRESET_NAMES, chainPreset } from '@trickle/contracts'
import { decodeReading } from '@trickle/devices'
import { DEMO_DEVICE_KEY, increaseTime, localConfig, startLocalMarketplace } from '@trickle/devnet'
import { BuyerClient } from '@trickle/sdk'
import {
  buildStorefront,
  type StorefrontServer,
  serveStorefront,
  storefrontConfigOf,
} from '@trickle/web/server'
import { Command, InvalidArgumentError } from 'commander'
import { JsonRpcProvider, Wallet } from 'ethers'
import pino from 'pino'

const program = new Command('trickle-start')
  .description(
    'Boot a local Trickle marketplace (anvil, contracts, MQTT broker, replayer, seller) and run a demo buyer',
  )
  .option('--once', 'run the demo, settle, print a JSON summary and exit')
  .option('--chunks <n>', 'chunks the demo buyer receives', (v) => Number.parseInt(v, 10), 240)
  .option(
    '--rate <rows/s>',
    'rows per second the device replayer publishes',
    (v) => Number.parseInt(v, 10),
    50,
  )
  .option(
    '--chain <preset>',
    `an external chain by preset (${CHAIN_PRESET_NAMES.join(', ')}): its RPC URL, chain id and fee mode (env TRICKLE_CHAIN)`,
  )
  .option('--rpc-url <url>', 'an external EVM JSON-RPC instead of anvil (env TRICKLE_RPC_URL)')
  .option('--chain-id <id>', 'chain id of the external chain', (v) => Number.parseInt(v, 10))
  .option('--registry <address>', 'an existing DataRegistry instead of deploying (env TRICKLE_REGISTRY)')
  .option('--channels <address>', 'an existing StreamChannels (env TRICKLE_CHANNELS)')
  .option(
    '--attestations <address>',
    'the existing JobAttestations of that deployment, if it has one (env TRICKLE_ATTESTATIONS)',
  )
  .option(
    '--deploy-block <n>',
    'block the existing registry was deployed in',
    (v) => Number.parseInt(v, 10),
    0,
  )
  .option(
    '--claim-threshold <wei>',
    'claim a channel once its unclaimed receipts are worth this much (default 10^16 wei)',
    (v) => BigInt(v),
  )
  .option('--broker <url>', 'an external MQTT broker instead of the embedded one (env TRICKLE_BROKER_URL)')
  .option('--data-dir <dir>', 'where the seller keeps receipts and blocks', '.trickle/seller')
  .option('--web-port <port>', 'port of the storefront on 127.0.0.1 (0: any free port)', parsePort, 5174)
  .option('--no-web', 'do not build and serve the storefront')
  .option('--no-jobs', 'do not run the compute and app job products')
  .parse()
const opts = program.opts<{
  once?: boolean
  chunks: number
  rate: number
  chain?: string
  rpcUrl?: string
  chainId?: number
  registry?: string
  channels?: string
  attestations?: string
  deployBlock: number
  claimThreshold?: bigint
  broker?: string
  dataDir: string
  webPort: number
  web: boolean
  jobs: boolean
}>()

/** `--web-port`: a TCP port, 0 to 65535. */
function parsePort(value: string): number {
  const port = Number(value)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError('a TCP port, 0 to 65535')
  }
  return port
}

process.on('uncaughtException', (err) => fail(err))
process.on('unhandledRejection', (err) => fail(err))
/** Prints `error <CODE>: <message>` and exits 1, stopping whatever was started. */
function fail(err: unknown): void {
  const e = err as { code?: string; shortMessage?: string; message?: string }
  process.stderr.write(`error ${e.code ?? 'INTERNAL'}: ${e.shortMessage ?? e.message ?? String(err)}\n`)
  void Promise.allSettled([storefront?.close(), market?.stop()]).finally(() => process.exit(1))
}

const started = performance.now()
const say = (line: string) => process.stdout.write(`${line}\n`)
const eth = (wei: bigint) => `${wei} wei (${Number(wei) / 1e18} ETH)`
const presetName = opts.chain ?? process.env.TRICKLE_CHAIN
const preset = presetName ? chainPreset(presetName) : undefined
const rpcUrl = opts.rpcUrl ?? process.env.TRICKLE_RPC_URL ?? preset?.rpcUrl
const chainId = opts.chainId ?? preset?.chainId
const brokerUrl = opts.broker ?? process.env.TRICKLE_BROKER_URL
const registry = opts.registry ?? process.env.TRICKLE_REGISTRY
const channelsAddress = opts.channels ?? process.env.TRICKLE_CHANNELS
const attestationsAddress = opts.attestations ?? process.env.TRICKLE_ATTESTATIONS
if ((registry === undefined) !== (channelsAddress === undefined)) {
  throw new Error('give both --registry and --channels to use an existing deployment')
}

say('Starting the Trickle marketplace…')
// The storefront builds (a second or two of Vite) while the chain and the seller start.
const built = !opts.once && opts.web ? buildStorefront() : undefined
built?.catch(() => undefined)
// The job products run the sample modules, built from C with Debian's clang and wasi-libc.
const jobModules = opts.jobs ? buildSampleModules() : undefined
let market: Awaited<ReturnType<typeof startLocalMarketplace>> | undefined
let storefront: StorefrontServer | undefined
market = await startLocalMarketplace({
  rowsPerSecond: opts.rate,
  // the demo device signs its readings; buyers check them against the descriptors' device list
  deviceKey: DEMO_DEVICE_KEY,
  dataDir: resolve(opts.dataDir),
  challengePeriodSeconds: 3600n,
  logger: pino({ level: process.env.TRICKLE_LOG_LEVEL ?? 'warn' }),
  ...(rpcUrl ? { rpcUrl } : {}),
  ...(chainId !== undefined ? { chainId } : {}),
  ...(preset ? { fees: preset.fees } : {}),
  ...(registry && channelsAddress && chainId !== undefined
    ? {
        deployment: {
          chainId,
          registry,
          channels: channelsAddress,
          ...(attestationsAddress ? { attestations: attestationsAddress } : {}),
          deployBlock: opts.deployBlock,
        },
      }
    : {}),
  ...(opts.claimThreshold !== undefined ? { settlement: { claimThreshold: opts.claimThreshold } } : {}),
  ...(brokerUrl ? { brokerUrl } : {}),
  ...(jobModules ? { jobs: { reportModule: jobModules.airQualityReport } } : {}),
  ...(process.env.TRICKLE_DEPLOYER_KEY ? { deployerKey: process.env.TRICKLE_DEPLOYER_KEY } : {}),
  ...(process.env.TRICKLE_SELLER_KEY ? { sellerKey: process.env.TRICKLE_SELLER_KEY } : {}),
})
let stopping = false
const shutdown = async (code: number) => {
  if (stopping) return
  stopping = true
  await storefront?.close()
  await market.stop()
  process.exit(code)
}
process.on('SIGINT', () => void shutdown(0))
process.on('SIGTERM', () => void shutdown(0))

const { deployment, seller } = market
say(`  chain      ${market.rpcUrl} (chain id ${market.chainId})${market.chain ? ', anvil' : ''}`)
say(
  `  contracts  DataRegistry ${deployment.registry}, StreamChannels ${deployment.channels}` +
    (deployment.attestations ? `, JobAttestations ${deployment.attestations}` : ''),
)
say(
  `  broker     ${market.brokerUrl}${brokerUrl ? '' : ' (embedded aedes)'}, replaying UCI Air Quality at ${opts.rate} rows/s`,
)
say(`  seller     ${seller.url} (health ${seller.httpUrl}/health), payee ${seller.address}`)
say(
  `  config     ${join(opts.dataDir, 'trickle-seller.yaml')}: the seller runs from this trickle-seller config (copy it to sell your own sensors)`,
)
for (const p of seller.products) say(`  product ${p.productId}  ${p.descriptor.name}  ipfs://${p.cid}`)
const app = seller.products.find((p) => p.descriptor.kind === 'app')
if (jobModules && app) {
  say(
    `  jobs       npm run trickle -- job run ${relative(process.cwd(), jobModules.airQualityStats)} --input air-quality --out job-stats`,
  )
  say(
    `             npm run trickle -- job run ${app.productId} --input air-quality --out job-report -- --field 'NO2(GT)' --from 2004-11-01 --to 2004-11-30 --horizon 5`,
  )
}

const config = localConfig(market)
mkdirSync('.trickle', { recursive: true })
writeFileSync(join('.trickle', 'local.json'), `${JSON.stringify(config, null, 2)}\n`)
say('  wrote .trickle/local.json (the `trickle` CLI reads it)')

if (built) {
  const webConfig = storefrontConfigOf({ ...config })
  storefront = await serveStorefront({ config: webConfig, dir: await built, port: opts.webPort }).catch(
    (err: Error & { code?: string }) => {
      const hint = '--web-port 0 takes any free port, --no-web skips the storefront'
      throw Object.assign(new Error(`${err.message} (${hint})`, { cause: err }), { code: err.code })
    },
  )
  say(
    `  storefront ${storefront.url}  (${
      webConfig.devWallet
        ? 'open it in Chromium; the local dev wallet buys without an extension'
        : 'open it in a browser with a wallet extension'
    })`,
  )
}

// The demo buyer: discover → open a channel → stream and pay → close → settle.
const buyerKey = process.env.TRICKLE_BUYER_KEY ?? market.buyerKeys[0]
if (!buyerKey) throw new Error('set TRICKLE_BUYER_KEY for the demo buyer on an external chain')
const provider = new JsonRpcProvider(market.rpcUrl, market.chainId, {
  staticNetwork: true,
  pollingInterval: 250,
  cacheTimeout: -1,
})
const wallet = new Wallet(buyerKey, provider)
const buyer = await BuyerClient.create({
  wallet,
  ...market.config,
})
say('\nDemo buyer')
const catalog = await buyer.products()
say(
  `  found ${catalog.length} products in the registry; descriptors fetched through IPFS and verified by CID`,
)
const product = catalog.find((p) => p.descriptor?.tags.includes('nox')) ?? catalog[0]
if (!product?.descriptor) throw new Error('no product with a valid descriptor')
const price = BigInt(product.descriptor.pricePerChunk)
const deposit = price * BigInt(opts.chunks * 4)
const { channelId } = await buyer.openChannel(seller.address, deposit)
say(
  `  chose "${product.descriptor.name}" at ${price} wei/chunk; opened channel ${channelId.slice(0, 18)}… with ${eth(deposit)}`,
)
const claimed = new Promise<{ paid: bigint; txHash: string }>((resolveClaim) => {
  seller.events.on('claimed', (c) => {
    if (c.channelId.toLowerCase() === channelId.toLowerCase()) resolveClaim(c)
  })
})
const stream = await buyer.stream(product, { channelId, maxSpend: deposit, maxChunks: opts.chunks })
let firstChunkMs: number | undefined
let firstStreamMs = 0
let lastReading = ''
let count = 0
for await (const chunk of stream) {
  if (firstChunkMs === undefined) {
    firstChunkMs = performance.now() - started
    firstStreamMs = performance.now()
  }
  count++
  const r = decodeReading(chunk.data)
  lastReading = `${r.time} ${r.column} = ${r.value ?? 'missing'} ${r.unit}`
  if (count % 50 === 0) say(`  ${count} chunks, latest ${lastReading}`)
}
const summary = await stream.finished
const streamSeconds = (performance.now() - firstStreamMs) / 1000
say(
  `  received ${summary.chunks} chunks (${(summary.chunks / streamSeconds).toFixed(1)} chunks/s), signed receipts for ${eth(summary.paid)}; session closed: ${summary.reason}`,
)
say(`  first paid chunk ${((firstChunkMs ?? 0) / 1000).toFixed(2)} s after start`)
// A session-end claim goes out only when worth its gas (a small `--chunks` is not): claim now anyway,
// as the seller's threshold or age rule would later. A claim already under way is joined, not repeated.
await seller.settlement.idle()
const claim = (await seller.settlement.settle(channelId)) ?? (await claimed)
say(`  seller claimed ${eth(claim.paid)} on-chain in ${claim.txHash}`)
await buyer.close()

if (!opts.once) {
  say(
    '\nThe marketplace keeps running. Try `npx trickle products` or `npx trickle buy <productId> --chunks 20 --max-spend 100000000000000 --out readings.ndjson`. Ctrl-C stops it.',
  )
} else {
  let refunded = 0n
  if (market.chain) {
    await buyer.requestClose(channelId)
    await increaseTime(market.chain.provider, 3601)
    say('  local chain: requested close, advanced anvil time past the 3600 s challenge period')
    refunded = (await buyer.finalize(channelId)).refund
    say(`  finalized: ${eth(refunded)} refunded to the buyer`)
  }
  provider.destroy()
  say(
    JSON.stringify({
      chunks: summary.chunks,
      paidWei: summary.paid.toString(),
      claimedWei: claim.paid.toString(),
      refundedWei: refunded.toString(),
      claimTx: claim.txHash,
      firstPaidChunkMs: Math.round(firstChunkMs ?? 0),
      chunksPerSecond: Number((summary.chunks / streamSeconds).toFixed(1)),
    }),
  )
  await shutdown(0)
}

/**
 * Builds the sample job modules (`npm run build:modules`: seller-server/modules, C with Debian's
 * clang and wasi-libc); without the toolchain, says so and runs without job products.
 * @returns the modules' paths, or undefined
 */
function buildSampleModules(): { airQualityStats: string; airQualityReport: string } | undefined {
  const modules = fileURLToPath(new URL('../seller-server/modules/', import.meta.url))
  const build = spawnSync(process.execPath, [join(modules, 'build.ts')], { encoding: 'utf8' })
  if (build.status !== 0) {
    const why = (build.stderr || build.stdout || '').trim().split('\n').at(-1)
    say(
      `  jobs       off: the sample modules did not build (${why}); apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32`,
    )
    return undefined
  }
  const dist = join(modules, 'dist')
  return {
    airQualityStats: join(dist, 'airQualityStats.wasm'),
    airQualityReport: join(dist, 'airQualityReport.wasm'),
  }
}
