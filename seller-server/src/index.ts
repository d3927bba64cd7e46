/**
 * @packageDocumentation
 * The Trickle seller server: sells MQTT sensor topics as paid streams over WebSocket, publishes
 * product descriptors to IPFS and the registry, stores receipts durably and claims them on-chain.
 *
 * @example
 * ```ts
 * import { startSellerServer } from '@trickle/seller'
 * const server = await startSellerServer({ rpcUrl, chainId, registry, channels, sellerKey,
 *   brokerUrl: 'mqtt://127.0.0.1:1883', dataDir: '.trickle/seller', products: [] })
 * console.log(server.url)
 * await server.close()
 * ```
 */

export { airQualityProducts } from './airQualityProducts.ts'
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
  type ClaimDecision,
  type ClaimReason,
  type ClaimSituation,
  type ClaimTrigger,
  DEFAULT_SETTLEMENT_POLICY,
  decideClaim,
  type SettlementPolicy,
  type SkipReason,
} from './decideClaim.ts'
export { type IpfsNode, parseAnyCid, startIpfsNode } from './ipfsNode.ts'
export {
  type ChunkListener,
  connectMqttSource,
  DEFAULT_REPLAY_LIMITS,
  type MqttSource,
  type ReplayLimits,
} from './mqttSource.ts'
export { type ProductPublisher, type PublishedProduct, publishProducts } from './publishProducts.ts'
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
export {
  type Admission,
  admissionOf,
  evaluateHealth,
  type HealthState,
  healthyState,
  type SellerHealth,
} from './sellerHealth.ts'
export {
  driveSession,
  MAX_RESUME_POINTS,
  type ResumePoint,
  type ResumePoints,
  type SessionContext,
  type SessionEnd,
  type SessionHandle,
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
  type LocalMarketplace,
  type LocalMarketplaceOptions,
  startLocalMarketplace,
} from './startLocalMarketplace.ts'
export {
  DEFAULT_HEALTH_PROBE_MS,
  DEFAULT_SESSION_POLICY,
  type SellerServer,
  type SellerServerEvents,
  type SellerServerOptions,
  type SessionPolicy,
  type StreamProductSpec,
  startSellerServer,
} from './startSellerServer.ts'
