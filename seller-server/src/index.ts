/**
 * @packageDocumentation
 * The Trickle seller server: sells MQTT sensor topics as paid streams over WebSocket, publishes
 * product descriptors to IPFS and the registry, stores receipts durably and claims them on-chain.
 *
 * @example
 * ```ts
 * import { startSellerServer } from '@trickle/seller'
 *
 * const server = await startSellerServer({
 *   rpcUrl: 'http://127.0.0.1:8545',
 *   chainId: 31337,
 *   registry: '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512', // DataRegistry
 *   channels: '0x5FbDB2315678afecb367f032d93F642f64180aa3', // StreamChannels
 *   sellerKey: process.env.TRICKLE_SELLER_KEY ?? '', // registers products, receives payments, claims
 *   brokerUrl: 'mqtt://127.0.0.1:1883',
 *   dataDir: '.trickle/seller',
 *   products: [
 *     {
 *       key: 'greenhouse-co2', // stable key: the product is registered once, then reused
 *       name: 'Greenhouse CO₂',
 *       description: 'CO₂ of greenhouse 3, one JSON reading per MQTT message',
 *       topics: ['farm/greenhouse3/co2'],
 *       fields: [{ name: 'co2', unit: 'ppm' }],
 *       tags: ['co2', 'greenhouse'],
 *       pricePerChunk: 10n ** 12n, // wei per reading
 *       chunksPerSecond: 0.2, // one reading every 5 s: buyers can price an hour (720 readings)
 *       source: { title: 'Greenhouse 3 sensors', licence: 'CC BY 4.0', attribution: 'Example Farm' },
 *     },
 *   ],
 * })
 * console.log(server.url) // ws://127.0.0.1:<port>, where buyers connect
 * await server.close()
 * ```
 */

export { chainScope, receiptStorePath } from './chainScope.ts'
export {
  type ChannelLedgerOptions,
  ChannelLedgers,
  type ChannelMembership,
  DEFAULT_MAX_IDLE_LEDGERS,
  DEFAULT_MAX_INDEBTED_CHANNELS_PER_PAYER,
  DEFAULT_MAX_SESSIONS_PER_CHANNEL,
  type JoinRefusal,
} from './channelLedgers.ts'
export {
  type ChannelReadCache,
  type ChannelReadCacheOptions,
  type ChannelReader,
  type ChannelReadStats,
  cacheChannelReads,
} from './channelReadCache.ts'
export {
  type ClaimEstimate,
  type ClaimRevert,
  type ClaimSender,
  estimateClaim,
  explainRevert,
  sendClaim,
  type TrackedClaim,
  trackClaim,
} from './claimTransaction.ts'
export {
  type ConnectionGate,
  ConnectionGuard,
  type ConnectionLimits,
  type ConnectionStats,
  clientKey,
  DEFAULT_CONNECTION_LIMITS,
  DEFAULT_MAX_INBOUND_FRAME_BYTES,
  fullBucket,
  type LimitRefusal,
  type RateLimit,
  type RejectionReason,
  type TokenBucket,
  takeTokens,
} from './connectionLimits.ts'
export {
  type DeactivatedProduct,
  deactivateDroppedProducts,
  deactivateProduct,
  type ProductDeactivator,
} from './deactivateProducts.ts'
export {
  type ClaimDecision,
  type ClaimReason,
  type ClaimSituation,
  type ClaimTrigger,
  DEFAULT_SETTLEMENT_POLICY,
  decideClaim,
  type SettlementPolicy,
  type SkipReason,
} from './decideClaim.ts'
export { describeProduct } from './describeProduct.ts'
export {
  DEFAULT_REPLAY_LIMITS,
  planRange,
  type RangePlan,
  type RangeRequest,
  type ReplayLimits,
  replaySpan,
} from './feedPlan.ts'
export { type IpfsNode, parseAnyCid, startIpfsNode } from './ipfsNode.ts'
export { classifyJobEnd, type JobEnd, type JobEndFacts, type KillReason } from './jobs/classifyJobEnd.ts'
export { probeSandbox, type SandboxTools } from './jobs/probeSandbox.ts'
export { type ProcessUsage, parseProcessUsage, readProcessUsage } from './jobs/readProcessUsage.ts'
export {
  DEFAULT_MAX_MODULE_BYTES,
  type JobLimits,
  type JobOptions,
  type JobResult,
  type JobStream,
  type JobUsage,
  MAX_ARGS_ENV_BYTES,
  type RunningJob,
  runJob,
  startJob,
} from './jobs/startJob.ts'
export {
  type BrokerTls,
  type ChunkListener,
  connectMqttSource,
  type Feed,
  type FeedSpan,
  type MqttSource,
  type MqttSourceOptions,
  topicRouter,
} from './mqttSource.ts'
export { nativeCrypto } from './nativeCrypto.ts'
export { type ProductPublisher, type PublishedProduct, publishProducts } from './publishProducts.ts'
export {
  DEFAULT_READING_RETENTION,
  DUPLICATE_WINDOW,
  type IncomingMessage,
  openReadingStore,
  RESUME_POINTS_PER_KEY,
  type Reading,
  type ReadingRetention,
  type ReadingStore,
  type ReadingStoreOptions,
  type ResumePoint,
  type ResumePoints,
} from './readingStore.ts'
export {
  type ClaimRecord,
  type ClaimStatus,
  type LocalReceiptStore,
  openReceiptStore,
  type ProductRecord,
  type ReceiptStore,
  type ReceiptStoreOptions,
  type StoredReceipt,
} from './receiptStore.ts'
export {
  defaultVerifierThreads,
  type ReceiptVerifier,
  type ReceiptVerifierOptions,
  startReceiptVerifier,
} from './receiptVerifier.ts'
export { receiptFitsChannel, resolveChannel } from './resolveChannel.ts'
export { sellerClientId } from './sellerClientId.ts'
export {
  type Admission,
  admissionOf,
  evaluateHealth,
  type HealthPart,
  type HealthState,
  healthyState,
  type LiveParts,
  type SellerHealth,
} from './sellerHealth.ts'
export {
  createSellerMetrics,
  METRIC_PREFIX,
  type MetricsSources,
  RECEIPT_STORE_BUCKETS_SECONDS,
  type SellerMetrics,
} from './sellerMetrics.ts'
export {
  driveSession,
  type ProductTally,
  type SessionContext,
  type SessionEnd,
  type SessionHandle,
  type SessionStart,
} from './sessionDriver.ts'
export {
  type ClaimFailure,
  type ClaimMissed,
  type SettlementEvents,
  type SettlementStats,
  type SettlementWorker,
  startSettlementWorker,
} from './settlementWorker.ts'
export {
  DEFAULT_HEALTH_PROBE_MS,
  DEFAULT_SESSION_POLICY,
  type ReloadedProduct,
  type SellerServer,
  type SellerServerEvents,
  type SellerServerOptions,
  type SessionPolicy,
  type StreamProductSpec,
  startSellerServer,
} from './startSellerServer.ts'
export { loadKey } from './tool/loadKey.ts'
export { type ParsedSellerConfig, parseSellerConfig } from './tool/parseSellerConfig.ts'
export { serverOptionsOf } from './tool/serverOptions.ts'
export {
  filtersOverlap,
  MAX_TOPIC_BYTES,
  subscriptionFilters,
  topicFilterProblem,
  topicMatches,
} from './topicFilter.ts'
