import { CHAIN_PRESET_NAMES } from '@trickle/contracts'
import { DEFAULT_MAX_FRAME_BYTES } from '@trickle/protocol'
import { parseUnits } from 'ethers'
import { z } from 'zod'
import { topicFilterProblem } from '../topicFilter.ts'

/**
 * The largest `maxChunkBytes` a product may set, bytes: a chunk frame (payload plus about 30 bytes of
 * msgpack) must fit the buyer's frame limit (`DEFAULT_MAX_FRAME_BYTES`, 256 KiB).
 */
export const MAX_CHUNK_BYTES = DEFAULT_MAX_FRAME_BYTES - 256

/** Decimals of the units an amount may be written in; the chains' coin symbols count as ether. */
const UNIT_DECIMALS: Readonly<Record<string, number>> = { eth: 18, ether: 18, iota: 18, gwei: 9, wei: 0 }

const AMOUNT_MESSAGE = 'must be an amount like "0.000001 ETH", "1000 gwei" or a whole number of wei'

/**
 * Reads an amount of the chain's coin: `0.000001 ETH`, `0.000001eth`, `1000 gwei`, `1 IOTA` (18
 * decimals, as ETH), `5 wei`, or a whole number (wei). Exact: ethers' `parseUnits`, no float.
 * @returns wei, or undefined when `value` is not such an amount
 */
export function parseAmountText(value: string | number): bigint | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? BigInt(value) : undefined
  const match = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)\s*$/i.exec(value)
  const unit = match?.[2]?.toLowerCase() || 'wei'
  const decimals = UNIT_DECIMALS[unit]
  if (!match || decimals === undefined) return undefined
  try {
    return parseUnits(match[1]!, decimals)
  } catch {
    return undefined // more decimals than the unit has, e.g. 0.5 wei
  }
}

/** An amount in the config: a string with a unit, or a whole number of wei; read as wei. */
const amount = z.union([z.string(), z.number()], { error: AMOUNT_MESSAGE }).transform((value, ctx) => {
  const wei = parseAmountText(value)
  if (wei === undefined) {
    ctx.addIssue({ code: 'custom', message: AMOUNT_MESSAGE })
    return z.NEVER
  }
  return wei
})

const address = z.string({ error: 'must be a 20-byte 0x address' }).regex(/^0x[0-9a-fA-F]{40}$/, {
  error: 'must be a 20-byte 0x address (40 hex digits)',
})
const nonEmpty = z.string().min(1, { error: 'must not be empty' })
const envName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'must be the name of an environment variable' })

/**
 * Where a private key comes from. Keys are never written in the config itself: either an encrypted
 * JSON keystore (Web3 Secret Storage, as ethers' `Wallet.encrypt` and geth write) whose password is
 * in an environment variable, or a file holding the 0x key that only its owner can read (mode 0600).
 */
export const keySourceSchema = z.union(
  [
    z.strictObject({
      /** path of the encrypted JSON keystore, relative to the config file */
      keystore: nonEmpty,
      /** name of the environment variable holding the keystore's password */
      passwordEnv: envName,
    }),
    z.strictObject({
      /** path of a file holding the 0x private key (mode 0600), relative to the config file */
      keyFile: nonEmpty,
    }),
  ],
  { error: 'must be { keystore: <file>, passwordEnv: <VARIABLE> } or { keyFile: <file> }' },
)

/** A key source as configured: see {@link keySourceSchema}. */
export type KeySource = z.infer<typeof keySourceSchema>

/** The chain and the Trickle contracts on it. */
export const chainSchema = z
  .strictObject({
    /**
     * a built-in chain (`anvil`, `iota-evm`, `iota-evm-testnet`): its RPC URL, chain id and fee mode,
     * each overridden by the fields below when they are given
     */
    preset: z
      .enum(CHAIN_PRESET_NAMES, { error: `must be one of ${CHAIN_PRESET_NAMES.join(', ')}` })
      .optional(),
    /** EVM JSON-RPC URL (http:// or https://) */
    rpcUrl: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
    /** EIP-155 chain id; the RPC must serve this chain */
    chainId: z.number().int().positive().optional(),
    /** DataRegistry address (the product index) */
    registry: address,
    /** StreamChannels address (the payment channels) */
    channels: address,
    /**
     * JobAttestations address (where job attestations are anchored, bound to `channels`); optional, so
     * configs written before the contract existed still load
     */
    attestations: address.optional(),
    /** block DataRegistry was deployed in: where product and channel events are read from (default 0) */
    deployBlock: z.number().int().nonnegative().default(0),
    /** how transactions are priced: `eip1559`, or `legacy` (IOTA EVM); default the preset's, else eip1559 */
    fees: z.enum(['eip1559', 'legacy'], { error: 'must be eip1559 or legacy' }).optional(),
  })
  .refine((c) => c.preset !== undefined || (c.rpcUrl !== undefined && c.chainId !== undefined), {
    error: 'needs a preset, or both rpcUrl and chainId',
  })

/** The MQTT broker the products' readings come from. */
export const brokerSchema = z
  .strictObject({
    /** `mqtt://host:1883`, `mqtts://host:8883` (TLS), `ws://` or `wss://` */
    url: z.url({
      protocol: /^(mqtts?|wss?|tcp|ssl)$/,
      error: 'must be an mqtt://, mqtts://, ws:// or wss:// URL',
    }),
    /**
     * the MQTT client id of the seller's persistent session (QoS 1, `clean: false`): the broker keeps
     * the readings published while the seller is away under this id. Default: derived from the payee
     * address and the data directory, so a restarted seller gets its session back and two sellers
     * never share one; set it when the broker's ACL names client ids (at most 23 characters are safe
     * with every MQTT 3.1.1 broker)
     */
    clientId: z.string().min(1).max(256).optional(),
    /** MQTT user name */
    username: z.string().optional(),
    /** MQTT password in the clear; prefer `passwordEnv` */
    password: z.string().optional(),
    /** name of the environment variable holding the MQTT password */
    passwordEnv: envName.optional(),
    /** TLS of an mqtts:// or wss:// connection */
    tls: z
      .strictObject({
        /** CA certificate file (PEM) the broker's certificate must chain to (default: Node's CAs) */
        ca: nonEmpty.optional(),
        /** client certificate file (PEM), for brokers that authenticate clients by certificate */
        cert: nonEmpty.optional(),
        /** the client certificate's private key file (PEM) */
        key: nonEmpty.optional(),
        /** the name the broker's certificate must carry, when it differs from the URL's host */
        servername: nonEmpty.optional(),
        /** verify the broker's certificate (default true); false accepts any — never in production */
        rejectUnauthorized: z.boolean().optional(),
      })
      .refine((t) => (t.cert === undefined) === (t.key === undefined), {
        error: 'cert and key go together',
      })
      .optional(),
  })
  .refine((b) => b.password === undefined || b.passwordEnv === undefined, {
    error: 'give password or passwordEnv, not both',
  })

/** A credit window in chunks (SPEC.md §Credit window). */
const windowSchema = z
  .strictObject({
    /** chunks sent before the first receipt is due, ≥ 1 */
    initial: z.number().int().min(1),
    /** chunks the window grows by per timely receipt, ≥ 0 */
    step: z.number().int().min(0),
    /** the largest window, chunks, ≥ initial */
    max: z.number().int().min(1),
  })
  .refine((w) => w.initial <= w.max, { error: 'initial must not be above max' })

/** A `compute` or `app` product's jobs (SPEC.md §Jobs). */
const jobSchema = z.strictObject({
  /** the most one job may use */
  limits: z.strictObject({
    /** linear memory, bytes */
    memoryBytes: z
      .number()
      .int()
      .min(65_536)
      .max(4 * 1024 ** 3),
    /** CPU time, ms */
    cpuMs: z.number().int().positive(),
    /** wall-clock time, ms */
    wallMs: z.number().int().positive(),
    /** a buyer's module, bytes (default 16 MiB) */
    moduleBytes: z
      .number()
      .int()
      .positive()
      .default(16 * 1024 ** 2),
    /** stdout, stderr and output files together, bytes */
    outputBytes: z.number().int().positive(),
  }),
  /** units charged before the module starts (the start fee is `startUnits × pricePerChunk`) */
  startUnits: z.number().int().min(0).max(1_000_000).default(0),
  /** CPU ms per unit: one CPU-second costs `1000 / cpuMsPerUnit × pricePerChunk` */
  cpuMsPerUnit: z.number().int().min(1).max(3_600_000),
  /** datasets a job may mount read-only at `/in` (compute-to-data), each a directory of this machine */
  inputs: z
    .array(
      z.strictObject({
        name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, {
          error: 'must be 1–64 letters, digits, ".", "_" or "-"',
        }),
        description: z.string().max(2000).default(''),
        /** directory, relative to this file */
        dir: z.string().min(1),
      }),
    )
    .max(32)
    .default([]),
  /** `app` products: the WebAssembly module the app runs (a file, relative to this file) and its parameters */
  app: z
    .strictObject({
      module: z.string().min(1),
      parameters: z
        .array(
          z.strictObject({ name: z.string().min(1).max(64), description: z.string().max(2000).default('') }),
        )
        .max(64)
        .default([]),
    })
    .optional(),
})

/** One product: MQTT topics sold as a paid stream. */
export const productSchema = z
  .strictObject({
    /**
     * stable id of the product on this seller (letters, digits, `.`, `_`, `-`; at most 64): the
     * product is registered once and found again by its key at every start. Renaming the key
     * registers a new product (and deactivates the old one)
     */
    key: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, {
      error: 'must be 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit',
    }),
    /** name buyers see, 1–200 characters */
    name: z.string().min(1).max(200),
    /** what the product is, up to 4,000 characters */
    description: z.string().max(4000).default(''),
    /**
     * `stream`: live MQTT readings (buyers may also buy ranges of their recording, SPEC.md §History);
     * `dataset`: the recording of one of this seller's stream products (`recordingOf`), sold as
     * finite ranges only, at its own price
     */
    kind: z
      .string()
      .default('stream')
      .pipe(
        z.enum(['stream', 'dataset', 'compute', 'app'], {
          error: (issue) =>
            `must be stream, dataset, compute or app (${JSON.stringify(issue.input)} is not a product kind this seller sells)`,
        }),
      ),
    /**
     * `compute` and `app` products: what one job may use, its price in units of `pricePerChunk`, the
     * datasets it may read and (app) the module it runs (SPEC.md §Jobs)
     */
    job: jobSchema.optional(),
    /** dataset products: the key of the stream product whose recorded readings this one sells */
    recordingOf: z.string().min(1).optional(),
    /**
     * MQTT topic filters: exact topics (`office1/co2`) or wildcards, `+` for one level
     * (`office1/+/temp`) and `#` for the rest, the parent included (`office1/#`); 1–64 of them. Each
     * MQTT message on a matching topic is one chunk
     */
    topics: z
      .array(
        z
          .string()
          .max(512, { error: 'must be at most 512 characters (the descriptor’s limit)' })
          .superRefine((filter, ctx) => {
            const problem = topicFilterProblem(filter)
            if (problem) ctx.addIssue({ code: 'custom', message: `is not an MQTT topic filter: ${problem}` })
          }),
      )
      .max(64)
      .default([]),
    /** the readings' fields and their units, e.g. `{ name: co2, unit: ppm }` (at most 256) */
    fields: z
      .array(z.strictObject({ name: z.string().min(1), unit: z.string().default('') }))
      .max(256)
      .default([]),
    /** price of one chunk (one MQTT message): `"0.000001 ETH"`, `"1000 gwei"` or whole wei */
    pricePerChunk: amount,
    /** search tags, at most 32 of 1–64 characters */
    tags: z.array(z.string().min(1).max(64)).max(32).default([]),
    /** where the sensors are, WGS 84 degrees: published in the descriptor for buyers to see */
    location: z
      .strictObject({ lat: z.number().min(-90).max(90), lon: z.number().min(-180).max(180) })
      .optional(),
    /**
     * the devices that sign this product's readings, by id and the address of their key (never the
     * key): the descriptor lists them and buyers check every reading against them (SPEC.md §Device
     * signatures). The devices sign; the seller passes the signed payloads through untouched
     */
    devices: z
      .array(
        z.strictObject({
          id: z.string().min(1).max(200),
          address: z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 20-byte 0x address'),
        }),
      )
      .min(1)
      .max(256)
      .optional(),
    /** nominal chunks per second of all topics together (> 0, ≤ 1,000,000): buyers price an hour with it */
    chunksPerSecond: z.number().positive().max(1_000_000).optional(),
    /** where the data comes from and under which terms it may be used */
    source: z
      .strictObject({
        /** the data's title or origin */
        title: z.string().max(500).default(''),
        /** licence, e.g. `CC BY 4.0` */
        licence: z.string().max(200).default(''),
        /** who to credit */
        attribution: z.string().max(2000).default(''),
      })
      .default({ title: '', licence: '', attribution: '' }),
    /**
     * MIME type of each MQTT payload, sent unchanged: `application/json` (default), `application/cbor`,
     * or any other type for raw bytes (`application/octet-stream`, `image/jpeg`…)
     */
    encoding: z
      .string()
      .max(100)
      .regex(/^[A-Za-z0-9][\w.+-]*\/[A-Za-z0-9][\w.+-]*(\s*;.*)?$/, {
        error: 'must be a MIME type such as application/json',
      })
      .default('application/json'),
    /** what one chunk is, e.g. `one CO₂ reading` (default `one sensor reading`) */
    chunkUnit: z.string().max(200).optional(),
    /**
     * the largest payload sold, bytes (default 4096, at most 261,888); larger MQTT messages are
     * skipped, not cut
     */
    maxChunkBytes: z.number().int().min(1).max(MAX_CHUNK_BYTES).optional(),
    /** credit window of this product's sessions, chunks (default initial 16, step 16, max 256) */
    window: windowSchema.optional(),
    /** chunks between the receipts a buyer owes (default 8); at most `window.initial` */
    receiptEvery: z.number().int().min(1).optional(),
  })
  .superRefine((p, ctx) => {
    const runsJobs = p.kind === 'compute' || p.kind === 'app'
    if (runsJobs && p.job === undefined) {
      ctx.addIssue({ code: 'custom', path: ['job'], message: `a ${p.kind} product needs its job settings` })
    }
    if (!runsJobs && p.job !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['job'], message: 'is for compute and app products only' })
    }
    if (runsJobs && p.topics.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['topics'], message: 'a job product has no topics' })
    }
    if (p.kind === 'app' && p.job !== undefined && p.job.app === undefined) {
      ctx.addIssue({ code: 'custom', path: ['job', 'app'], message: 'an app product needs its module' })
    }
    if (p.kind === 'compute' && p.job?.app !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['job', 'app'],
        message: 'a compute product runs the buyer’s module',
      })
    }
    if (p.kind === 'stream' && p.topics.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['topics'], message: 'needs at least one MQTT topic' })
    }
    if (p.kind === 'stream' && p.recordingOf !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['recordingOf'], message: 'is for dataset products only' })
    }
    if (p.kind === 'dataset' && p.recordingOf === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['recordingOf'],
        message: 'a dataset sells the recording of a stream product: name its key here',
      })
    }
    if (p.kind === 'dataset' && p.topics.length > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['topics'],
        message: 'a dataset has the topics of the product it records (recordingOf): leave them out',
      })
    }
    const initial = p.window?.initial ?? 16
    if (p.receiptEvery !== undefined && p.receiptEvery > initial) {
      ctx.addIssue({
        code: 'custom',
        path: ['receiptEvery'],
        message: `must not be above the window's initial size (${initial}): buyers refuse such terms`,
      })
    }
  })

/** When receipts are claimed on-chain. */
export const settlementSchema = z.strictObject({
  /** claim a channel once its unclaimed receipts are worth this much (default 0.01 ETH) */
  claimThreshold: amount.optional(),
  /** also claim when a session ends, if the claim pays at least its gas (default true) */
  claimOnSessionEnd: z.boolean().optional(),
  /** claim receipts that stayed unclaimed this long, seconds (default 3600) */
  maxUnclaimedAgeSeconds: z.number().int().positive().optional(),
  /** ms between reads of close requests and signer changes (default 1000) */
  pollIntervalMs: z.number().int().min(50).optional(),
  /** ms between sweeps of every channel with unclaimed receipts (default 60000) */
  sweepIntervalMs: z.number().int().min(100).optional(),
})

/** The `trickle-seller` config file (YAML or JSON, the same schema). */
export const sellerConfigSchema = z.strictObject({
  /** the chain and the Trickle contracts */
  chain: chainSchema,
  /**
   * the payee's key: registers the products, receives the channels' payments and sends the claims
   * (it needs a little of the chain's coin for gas)
   */
  payee: keySourceSchema,
  /** the key that signs session terms, registered as the seller key (default: the payee's) */
  termsKey: keySourceSchema.optional(),
  /**
   * where the seller keeps its receipts (SQLite), the published products and the IPFS blocks,
   * relative to the config file; back it up: its receipts are the seller's money
   */
  dataDir: nonEmpty,
  /** where the seller listens for buyers (WebSocket sessions, `/health`, descriptors) */
  listen: z
    .strictObject({
      /** interface to bind (default 127.0.0.1; 0.0.0.0 for every interface) */
      host: nonEmpty.default('127.0.0.1'),
      /** TCP port (default 4312) */
      port: z.number().int().min(0).max(65535).default(4312),
    })
    .default({ host: '127.0.0.1', port: 4312 }),
  /**
   * the WebSocket URL buyers connect to, written into the descriptors (default `ws://host:port`):
   * `wss://sensors.example.com` behind a TLS proxy
   */
  publicUrl: z
    .string()
    .regex(/^wss?:\/\/[^\s/]+(\/[^\s]*)?$/, { error: 'must be a ws:// or wss:// URL' })
    .optional(),
  /**
   * whether `GET /metrics` serves the Prometheus metrics on the listen port (default true); false
   * answers 404 there, for a seller that keeps its sales figures private and has no proxy to hide them
   */
  metrics: z.boolean().optional(),
  /** the MQTT broker */
  broker: brokerSchema,
  /** jobs of compute and app products run at once at most; more quotes are declined (default 2) */
  jobs: z.strictObject({ slots: z.number().int().min(1).max(256) }).optional(),
  /** when receipts are claimed on-chain */
  settlement: settlementSchema.optional(),
  /**
   * how much of each product's readings the seller keeps on disk (they are recorded before the broker
   * is acknowledged, and replayed to buyers resuming a channel)
   */
  recording: z
    .strictObject({
      /** readings kept per product (default 100,000) */
      maxReadings: z.number().int().positive().optional(),
      /** payload bytes kept per product (default 67,108,864: 64 MiB) */
      maxBytes: z.number().int().positive().optional(),
    })
    .optional(),
  /** the products sold, at least one; keys must be unique */
  products: z
    .array(productSchema)
    .min(1, { error: 'needs at least one product' })
    .superRefine((products, ctx) => {
      const seen = new Map<string, number>()
      for (const [i, p] of products.entries()) {
        const first = seen.get(p.key)
        if (first !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [i, 'key'],
            message: `"${p.key}" is already the key of products[${first}]`,
          })
        }
        seen.set(p.key, i)
      }
      for (const [i, p] of products.entries()) {
        if (p.recordingOf === undefined) continue
        const source = products.find((q) => q.key === p.recordingOf)
        if (source?.kind !== 'stream') {
          ctx.addIssue({
            code: 'custom',
            path: [i, 'recordingOf'],
            message: `"${p.recordingOf}" is not the key of a stream product of this config`,
          })
        }
      }
    }),
})

/** A validated config as the file says it (paths not yet resolved, amounts in wei). */
export type SellerConfig = z.infer<typeof sellerConfigSchema>
/** One validated product of a {@link SellerConfig}. */
export type ProductConfig = SellerConfig['products'][number]
