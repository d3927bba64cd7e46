import { readFileSync } from 'node:fs'
import type { Address } from '@trickle/protocol'
import { getAddress } from 'ethers'
import type { SettlementPolicy } from '../decideClaim.ts'
import type { JobSpec } from '../jobs/jobProvider.ts'
import type { BrokerTls, MqttSourceOptions } from '../mqttSource.ts'
import type { SellerServerOptions, StreamProductSpec } from '../startSellerServer.ts'
import type { ParsedSellerConfig } from './parseSellerConfig.ts'
import { SellerToolError } from './SellerToolError.ts'
import type { ProductConfig } from './sellerConfig.ts'

/** A product of the config as the seller server sells it. */
export function productSpecOf(
  p: ProductConfig,
  resolvePath: (path: string) => string = (x) => x,
): StreamProductSpec {
  const policy: NonNullable<StreamProductSpec['policy']> = {
    ...(p.maxChunkBytes === undefined ? {} : { maxChunkBytes: p.maxChunkBytes }),
    ...(p.window === undefined ? {} : { window: p.window }),
    ...(p.receiptEvery === undefined ? {} : { receiptEvery: p.receiptEvery }),
  }
  return {
    key: p.key,
    name: p.name,
    description: p.description,
    ...(p.kind === 'dataset' ? { kind: 'dataset' as const, recordingOf: p.recordingOf! } : {}),
    ...((p.kind === 'compute' || p.kind === 'app') && p.job
      ? { kind: p.kind, job: jobSpecOf(p.job, resolvePath) }
      : {}),
    topics: p.topics,
    fields: p.fields,
    tags: p.tags,
    pricePerChunk: p.pricePerChunk,
    ...(p.chunksPerSecond === undefined ? {} : { chunksPerSecond: p.chunksPerSecond }),
    ...(p.location === undefined ? {} : { location: p.location }),
    ...(p.devices === undefined
      ? {}
      : { devices: p.devices.map((d) => ({ id: d.id, address: getAddress(d.address) as Address })) }),
    source: p.source,
    encoding: p.encoding,
    ...(p.chunkUnit === undefined ? {} : { chunkUnit: p.chunkUnit }),
    ...(Object.keys(policy).length === 0 ? {} : { policy }),
  }
}

/**
 * A product's job settings with its paths resolved: the input directories, and the app's module read.
 * @throws SellerToolError `CONFIG_INVALID` when the app's module cannot be read
 */
function jobSpecOf(job: NonNullable<ProductConfig['job']>, resolvePath: (path: string) => string): JobSpec {
  let module: Uint8Array | undefined
  if (job.app) {
    try {
      module = new Uint8Array(readFileSync(resolvePath(job.app.module)))
    } catch (cause) {
      throw new SellerToolError('CONFIG_INVALID', `job.app.module: cannot read ${job.app.module}`, { cause })
    }
  }
  return {
    limits: job.limits,
    startUnits: job.startUnits,
    cpuMsPerUnit: job.cpuMsPerUnit,
    inputs: job.inputs.map((i) => ({ name: i.name, description: i.description, dir: resolvePath(i.dir) })),
    ...(job.app && module ? { app: { module, parameters: job.app.parameters } } : {}),
  }
}

/**
 * The broker connection of the config: credentials (the password from the variable it names) and
 * TLS files read.
 * @throws SellerToolError `CONFIG_INVALID` (a password variable not set, a TLS file not readable)
 */
export function brokerOptionsOf(
  parsed: ParsedSellerConfig,
  env: NodeJS.ProcessEnv,
): Pick<MqttSourceOptions, 'username' | 'password' | 'tls'> {
  const broker = parsed.config.broker
  let password = broker.password
  if (broker.passwordEnv !== undefined) {
    password = env[broker.passwordEnv]
    if (password === undefined) {
      throw new SellerToolError(
        'CONFIG_INVALID',
        `${parsed.where(['broker', 'passwordEnv'])} broker.passwordEnv: the variable ${broker.passwordEnv} is not set`,
      )
    }
  }
  const read = (field: 'ca' | 'cert' | 'key', file: string | undefined) => {
    if (file === undefined) return {}
    try {
      return { [field]: readFileSync(parsed.resolvePath(file)) }
    } catch (cause) {
      throw new SellerToolError(
        'CONFIG_INVALID',
        `${parsed.where(['broker', 'tls', field])} broker.tls.${field}: cannot read ${file}`,
        { cause },
      )
    }
  }
  const t = broker.tls
  const tls: BrokerTls | undefined =
    t === undefined
      ? undefined
      : {
          ...read('ca', t.ca),
          ...read('cert', t.cert),
          ...read('key', t.key),
          ...(t.servername === undefined ? {} : { servername: t.servername }),
          ...(t.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: t.rejectUnauthorized }),
        }
  return {
    ...(broker.username === undefined ? {} : { username: broker.username }),
    ...(password === undefined ? {} : { password }),
    ...(tls === undefined ? {} : { tls }),
  }
}

/** The config's settlement section as a partial {@link SettlementPolicy}. */
export function settlementOf(parsed: ParsedSellerConfig): Partial<SettlementPolicy> {
  const s = parsed.config.settlement ?? {}
  return {
    ...(s.claimThreshold === undefined ? {} : { claimThreshold: s.claimThreshold }),
    ...(s.claimOnSessionEnd === undefined ? {} : { claimOnSessionEnd: s.claimOnSessionEnd }),
    ...(s.maxUnclaimedAgeSeconds === undefined ? {} : { maxUnclaimedAgeMs: s.maxUnclaimedAgeSeconds * 1000 }),
    ...(s.pollIntervalMs === undefined ? {} : { pollIntervalMs: s.pollIntervalMs }),
    ...(s.sweepIntervalMs === undefined ? {} : { sweepIntervalMs: s.sweepIntervalMs }),
  }
}

/**
 * What {@link startSellerServer} needs for the config, given the loaded keys.
 * @param keys - the payee's key and the terms key (0x hex)
 */
export function serverOptionsOf(
  parsed: ParsedSellerConfig,
  keys: { payee: string; terms: string },
  env: NodeJS.ProcessEnv,
): Omit<SellerServerOptions, 'logger'> {
  const { config, chain } = parsed
  return {
    rpcUrl: chain.rpcUrl,
    chainId: chain.chainId,
    registry: chain.registry,
    channels: chain.channels,
    ...(chain.attestations === undefined ? {} : { attestations: chain.attestations }),
    fees: chain.fees,
    sellerKey: keys.payee,
    ...(keys.terms === keys.payee ? {} : { termsKey: keys.terms }),
    brokerUrl: config.broker.url,
    broker: brokerOptionsOf(parsed, env),
    dataDir: parsed.dataDir,
    host: config.listen.host,
    port: config.listen.port,
    ...(config.publicUrl === undefined ? {} : { publicUrl: config.publicUrl.replace(/\/$/, '') }),
    ...(config.metrics === false ? { serveMetrics: false } : {}),
    products: config.products.map((p) => productSpecOf(p, parsed.resolvePath)),
    ...(config.jobs === undefined ? {} : { jobSlots: config.jobs.slots }),
    settlement: settlementOf(parsed),
    ...(config.broker.clientId === undefined ? {} : { mqttClientId: config.broker.clientId }),
    ...(config.recording === undefined
      ? {}
      : {
          retention: {
            ...(config.recording.maxReadings === undefined
              ? {}
              : { maxReadings: config.recording.maxReadings }),
            ...(config.recording.maxBytes === undefined ? {} : { maxBytes: config.recording.maxBytes }),
          },
        }),
  }
}
