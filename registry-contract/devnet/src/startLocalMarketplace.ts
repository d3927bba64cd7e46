import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FeeMode } from '@trickle/contracts'
import {
  DEFAULT_CSV_PATH,
  type EmbeddedBroker,
  type Replayer,
  startBroker,
  startReplayer,
} from '@trickle/devices'
import {
  type Deployment,
  deployContracts,
  type LocalChain,
  type LocalChainOptions,
  startLocalChain,
} from '@trickle/devnet'
import type { Address } from '@trickle/protocol'
import type { MarketplaceConfig } from '@trickle/sdk'
import type { ConnectionLimits, SettlementPolicy, StreamProductSpec } from '@trickle/seller'
import {
  loadKey,
  parseSellerConfig,
  type SellerServer,
  type SessionPolicy,
  serverOptionsOf,
  startSellerServer,
} from '@trickle/seller'
import { computeAddress, id, JsonRpcProvider, Wallet } from 'ethers'
import pino, { type Logger } from 'pino'
import { airQualityProducts } from './airQualityProducts.ts'
import { writeSellerConfig } from './writeSellerConfig.ts'

/** Options of {@link startLocalMarketplace}. Every part is local unless an external one is named. */
export interface LocalMarketplaceOptions {
  /** an external EVM JSON-RPC; anvil is started when absent */
  rpcUrl?: string
  /** chain id (anvil's when local; must match the external chain otherwise) */
  chainId?: number
  /** genesis timestamp of the local anvil, s since the epoch (default its start time) */
  genesisTimestamp?: number
  /** use already deployed contracts instead of deploying */
  deployment?: Deployment
  /** key that deploys the contracts (external chains; anvil account 0 locally) */
  deployerKey?: string
  /** the seller's key (external chains; anvil account 1 locally) */
  sellerKey?: string
  /** an external MQTT broker; the embedded aedes broker is started when absent */
  brokerUrl?: string
  /**
   * rows/s the device replayer publishes (default 20; 0: no replayer); the products' descriptors state
   * it as their rate (`chunksPerSecond`: rows/s × sensors)
   */
  rowsPerSecond?: number
  /**
   * the replayed device's signing key (0x hex, e.g. {@link DEMO_DEVICE_KEY}): the replayer signs every
   * reading with it and the descriptors list its address (SPEC.md §Device signatures). Absent:
   * readings are unsigned
   */
  deviceKey?: string
  /** challenge period of a new deployment, s */
  challengePeriodSeconds?: bigint
  /** wei per chunk */
  pricePerChunk?: bigint
  /**
   * also sell the recording of the first product (carbon monoxide) as a `dataset` product at this
   * price, wei per reading, listed after the three live ones (SPEC.md §History). Absent: no dataset
   */
  datasetPricePerChunk?: bigint
  /** directory for the seller's data (a fresh temp dir when absent) */
  dataDir?: string
  policy?: Partial<SessionPolicy>
  /** when the seller claims (default `DEFAULT_SETTLEMENT_POLICY`) */
  settlement?: Partial<SettlementPolicy>
  /** receipt-recovery worker threads of the seller (`startSellerServer`'s `verifierThreads`) */
  verifierThreads?: number
  /**
   * other channels of one payer that may be in debt when it starts a session on a new one
   * (`startSellerServer`'s `maxIndebtedChannelsPerPayer`, default 2)
   */
  maxIndebtedChannelsPerPayer?: number
  /** the seller's connection, rate and size limits (`startSellerServer`'s `limits`) */
  limits?: Partial<ConnectionLimits>
  /** transaction fee mode of the seller (default `eip1559`) */
  fees?: FeeMode
  /**
   * also run jobs (SPEC.md §Jobs): a `compute` product over the Air Quality data (compute-to-data)
   * and an `app` product running `reportModule` (a built `airQualityReport.wasm`, seller-server/modules)
   */
  jobs?: { reportModule: string; slots?: number }
  logger?: Logger
}

/**
 * The demo device's signing key: a fixed, public test key (keccak-256 of `trickle demo device`), so
 * that the demo's descriptors name the same device on every start. Never a key for anything of value.
 */
export const DEMO_DEVICE_KEY = id('trickle demo device')

/** A running marketplace. */
export interface LocalMarketplace {
  chain: LocalChain | undefined
  rpcUrl: string
  chainId: number
  deployment: Deployment
  brokerUrl: string
  seller: SellerServer
  /** what a `BuyerClient` needs to find this marketplace (the seller's HTTP server as IPFS gateway) */
  config: MarketplaceConfig
  replayer: Replayer | undefined
  /** rows/s the replayer publishes, 0 without one (what {@link airQualityProducts} takes) */
  rowsPerSecond: number
  /** keys of funded accounts usable as buyers (anvil accounts 2..9 locally) */
  buyerKeys: string[]
  stop(): Promise<void>
}

/**
 * Boots chain (anvil), contracts, MQTT broker (aedes), the Air Quality replayer and a seller server
 * with three products — or connects to external ones where named.
 */
export async function startLocalMarketplace(
  options: LocalMarketplaceOptions = {},
): Promise<LocalMarketplace> {
  const stops: (() => Promise<unknown>)[] = []
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined)
  }
  try {
    let chain: LocalChain | undefined
    let rpcUrl = options.rpcUrl
    let chainId = options.chainId
    let keys: string[] = []
    if (!rpcUrl) {
      const chainOptions: LocalChainOptions = {}
      if (options.chainId !== undefined) chainOptions.chainId = options.chainId
      if (options.genesisTimestamp !== undefined) chainOptions.genesisTimestamp = options.genesisTimestamp
      chain = await startLocalChain(chainOptions)
      stops.push(() => chain!.stop())
      rpcUrl = chain.rpcUrl
      chainId = chain.chainId
      keys = chain.privateKeys
    }
    const provider = new JsonRpcProvider(rpcUrl, chainId, {
      staticNetwork: chainId !== undefined,
      cacheTimeout: -1,
    })
    stops.push(async () => provider.destroy())
    chainId ??= Number((await provider.getNetwork()).chainId)
    const deployerKey = options.deployerKey ?? keys[0]
    const sellerKey = options.sellerKey ?? keys[1]
    if (!sellerKey) throw new Error('a seller key is needed on an external chain (TRICKLE_SELLER_KEY)')
    let deployment = options.deployment
    if (!deployment) {
      if (!deployerKey) throw new Error('a deployer key is needed to deploy on an external chain')
      deployment = await deployContracts(new Wallet(deployerKey, provider), {
        challengePeriodSeconds: options.challengePeriodSeconds ?? 3600n,
        ...(options.fees ? { fees: options.fees } : {}),
      })
    }
    let broker: EmbeddedBroker | undefined
    let brokerUrl = options.brokerUrl
    if (!brokerUrl) {
      broker = await startBroker()
      stops.push(() => broker!.close())
      brokerUrl = broker.url
    }
    const rowsPerSecond = options.rowsPerSecond ?? 20
    let replayer: Replayer | undefined
    if (rowsPerSecond > 0) {
      replayer = await startReplayer({
        brokerUrl,
        rowsPerSecond,
        ...(options.deviceKey ? { deviceKey: options.deviceKey } : {}),
      })
      stops.push(() => replayer!.stop())
    }
    // The seller runs from a trickle-seller config file, as a seller selling its own sensors would:
    // written into its data directory (with the key in a 0600 file beside it), parsed and checked by
    // the seller tool's own code. `npm start` leaves it there to copy.
    const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'trickle-seller-'))
    const configFile = writeSellerConfig(dataDir, {
      rpcUrl,
      chainId,
      registry: deployment.registry,
      channels: deployment.channels,
      ...(deployment.attestations ? { attestations: deployment.attestations } : {}),
      deployBlock: deployment.deployBlock,
      payeeKey: sellerKey,
      brokerUrl,
      host: '127.0.0.1',
      port: 0,
      ...(options.fees ? { fees: options.fees } : {}),
      ...(options.jobs
        ? {
            jobProducts: await demoJobProducts(dataDir, options.jobs.reportModule),
            jobSlots: options.jobs.slots ?? 2,
          }
        : {}),
      // The descriptors state the replayer's rate; without a replayer, the rate is not known.
      products: withDataset(
        airQualityProducts(options.pricePerChunk ?? 1_000_000_000_000n, {
          ...(rowsPerSecond > 0 ? { rowsPerSecond } : {}),
          ...(options.deviceKey ? { deviceAddress: computeAddress(options.deviceKey) as Address } : {}),
        }),
        options.datasetPricePerChunk,
      ),
    })
    const parsed = parseSellerConfig(readFileSync(configFile, 'utf8'), configFile)
    const payeeKey = await loadKey(parsed, 'payee', {})
    const fromConfig = serverOptionsOf(parsed, { payee: payeeKey, terms: payeeKey }, {})
    const seller = await startSellerServer({
      ...fromConfig,
      ...(options.policy ? { policy: options.policy } : {}),
      settlement: { ...fromConfig.settlement, ...options.settlement },
      ...(options.verifierThreads === undefined ? {} : { verifierThreads: options.verifierThreads }),
      ...(options.maxIndebtedChannelsPerPayer === undefined
        ? {}
        : { maxIndebtedChannelsPerPayer: options.maxIndebtedChannelsPerPayer }),
      ...(options.limits ? { limits: options.limits } : {}),
      logger: options.logger ?? pino({ level: process.env.TRICKLE_LOG_LEVEL ?? 'warn' }),
    })
    stops.push(() => seller.close())
    return {
      chain,
      rpcUrl,
      chainId,
      deployment,
      brokerUrl,
      seller,
      config: {
        chainId,
        registry: deployment.registry as Address,
        channels: deployment.channels as Address,
        ...(deployment.attestations ? { attestations: deployment.attestations as Address } : {}),
        deployBlock: deployment.deployBlock,
        gateways: [seller.httpUrl],
        ...(options.fees ? { fees: options.fees } : {}),
      },
      replayer,
      rowsPerSecond: replayer ? rowsPerSecond : 0,
      buyerKeys: keys.slice(2),
      stop,
    }
  } catch (err) {
    await stop()
    throw err
  }
}

/**
 * The products, and when `price` is given the recording of the first one as a dataset after them: no
 * topics of its own (its source's), no rate (a recording has none), its own price.
 * @param price - wei per reading of the dataset
 */
function withDataset(products: StreamProductSpec[], price: bigint | undefined): StreamProductSpec[] {
  const source = products[0]
  if (price === undefined || !source) return products
  const { chunksPerSecond: _rate, ...rest } = source
  return [
    ...products,
    {
      ...rest,
      key: `${source.key}-history`,
      name: `${source.name}, recorded`,
      description: `Every recorded reading of “${source.name}”, bought by time range or as the latest N.`,
      kind: 'dataset',
      recordingOf: source.key,
      tags: [...source.tags, 'history'],
      pricePerChunk: price,
    },
  ]
}

/** What `.trickle/local.json` holds: the marketplace a buyer connects to, and a funded buyer key. */
export interface LocalConfig extends MarketplaceConfig {
  rpcUrl: string
  /** a funded dev key, absent on an external chain */
  buyerKey?: string
}

/**
 * The configuration file `npm start` writes for the CLI and the SDK examples (`.trickle/local.json`).
 *
 * @param market - a running marketplace
 * @param buyerKey - the key to put in it (default the first funded buyer key)
 */
export function localConfig(market: LocalMarketplace, buyerKey = market.buyerKeys[0]): LocalConfig {
  return { rpcUrl: market.rpcUrl, ...market.config, ...(buyerKey ? { buyerKey } : {}) }
}

/** wei per unit of the demo's job products: 10 gwei */
const JOB_UNIT_PRICE = 10_000_000_000n

/**
 * The demo's job products, as the seller config writes them: `air-compute` runs a buyer's module over
 * the UCI Air Quality CSV at `/in` (copied into `<dataDir>/inputs/air-quality`), `air-report` the report
 * app. Both charge a 5-unit start fee, a unit per 50 ms of CPU and a unit per output record.
 */
async function demoJobProducts(dataDir: string, reportModule: string): Promise<Record<string, unknown>[]> {
  const input = join(dataDir, 'inputs', 'air-quality')
  mkdirSync(input, { recursive: true })
  copyFileSync(DEFAULT_CSV_PATH, join(input, 'AirQualityUCI.csv'))
  const job = {
    limits: {
      memoryBytes: 64 * 1024 ** 2,
      cpuMs: 30_000,
      wallMs: 60_000,
      moduleBytes: 8 * 1024 ** 2,
      outputBytes: 4 * 1024 ** 2,
    },
    startUnits: 5,
    cpuMsPerUnit: 50,
    inputs: [
      {
        name: 'air-quality',
        description: 'UCI Air Quality: 9,357 hourly rows of an Italian city, 2004–2005 (CC BY 4.0)',
        dir: input,
      },
    ],
  }
  const common = {
    fields: [],
    pricePerChunk: JOB_UNIT_PRICE.toString(),
    tags: ['jobs', 'air-quality'],
    source: {
      title: 'Air Quality (UCI ML Repository)',
      licence: 'CC BY 4.0',
      attribution: 'S. De Vito, ENEA',
    },
    maxChunkBytes: 16_384,
  }
  return [
    {
      ...common,
      key: 'air-compute',
      name: 'Compute over Air Quality (UCI)',
      description:
        'Run your WebAssembly (WASI) module over the Air Quality data, read-only at /in; you get its output, never the data.',
      kind: 'compute',
      job,
    },
    {
      ...common,
      key: 'air-report',
      name: 'Air quality report',
      description:
        'A daily report of one field over a date range, with a trend and a forecast (stdout NDJSON and /out/report.csv).',
      kind: 'app',
      job: {
        ...job,
        app: {
          module: reportModule,
          parameters: [
            { name: '--field', description: 'a column, e.g. NO2(GT)' },
            { name: '--from', description: 'first day, YYYY-MM-DD' },
            { name: '--to', description: 'last day, YYYY-MM-DD' },
            { name: '--horizon', description: 'days to forecast' },
          ],
        },
      },
    },
  ]
}
