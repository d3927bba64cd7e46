import { randomUUID } from 'node:crypto'
import {
  getBytes,
  isHexString,
  JsonRpcProvider,
  type TransactionRequest,
  type TypedDataDomain,
  type TypedDataField,
  toQuantity,
  Wallet,
} from 'ethers'
import type { BrowserContext, Page } from 'playwright-core'

/** One EIP-1193 `request` a page made, as the page passed it (after Playwright's serialization). */
export interface WalletRequest {
  method: string
  params: unknown
  /** ms since the epoch when the wallet answered (the person "confirmed"); unset while pending */
  answeredAt?: number
}

/** Options of {@link createTestWallet}. */
export interface TestWalletOptions {
  /** 0x-hex private key of a funded account (an anvil dev key); the wallet signs real transactions with it */
  privateKey: string
  /** JSON-RPC URL of the chain the wallet sends to and forwards reads to */
  rpcUrl: string
  /** the chain at `rpcUrl`; the only chain the wallet can switch to */
  chainId: number
  /** the chain the wallet is on when the page loads (default `chainId`); another id plays a wallet on the wrong network */
  startChainId?: number
  /** EIP-6963 `info.name`; default `Trickle Test Wallet` */
  name?: string
  /** EIP-6963 `info.rdns`; default `org.trickle.test-wallet` */
  rdns?: string
}

/** An EIP-6963 wallet for Playwright pages, backed by a private key in the test process. */
export interface TestWallet {
  /** checksummed address of the key */
  readonly address: string
  /** every EIP-1193 request the pages made, in order, rejected ones included */
  readonly requests: WalletRequest[]
  /**
   * Makes the next request of `method` fail as if the user pressed "Reject": EIP-1193 error
   * `{ code: 4001, message: 'User rejected the request.' }`. Calls add up (two calls reject two requests).
   */
  rejectNext(method: string): void
  /**
   * Exposes the wallet to a browser context or a page (`exposeBinding` plus `addInitScript`); call it
   * before `page.goto`. Installing the same wallet twice into one target is a no-op.
   */
  install(target: BrowserContext | Page): Promise<void>
}

/**
 * EIP-1193 and EIP-1474 error codes the wallet answers with. A request while the wallet is on another
 * chain than `chainId` (see {@link createTestWallet}) gets `chainDisconnected`, 4901: EIP-1193 defines it
 * as "the Provider is not connected to the requested chain", which is what a test wallet that can only
 * reach `rpcUrl` is; a real wallet would send to the other chain instead.
 */
export const WALLET_ERROR = {
  /** EIP-1193: the user rejected the request */
  userRejected: 4001,
  /** EIP-1193: the requested account is not this wallet's */
  unauthorized: 4100,
  /** EIP-1193: the wallet does not implement the method */
  unsupportedMethod: 4200,
  /** EIP-1193: the wallet is not on the chain the request needs */
  chainDisconnected: 4901,
  /** EIP-3326: `wallet_switchEthereumChain` to a chain the wallet does not know */
  unrecognizedChain: 4902,
  /** EIP-1474: invalid request object */
  invalidRequest: -32600,
  /** EIP-1474: invalid method parameters */
  invalidParams: -32602,
  /** EIP-1474: internal error (a failure without a JSON-RPC code) */
  internal: -32603,
} as const

/** ms a forwarded JSON-RPC call, or one page's `chainChanged` delivery, may take */
const RPC_TIMEOUT_MS = 30_000
const EMIT_TIMEOUT_MS = 5_000

/** A small data-URI icon (EIP-6963 asks for a data URI, RFC 2397): a drop on a teal square. */
const ICON = `data:image/svg+xml;base64,${Buffer.from(
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 96 96"><rect width="96" height="96" rx="20" fill="#0b7285"/>' +
    '<path d="M48 16C36 34 28 45 28 56a20 20 0 0 0 40 0c0-11-8-22-20-40z" fill="#fff"/></svg>',
).toString('base64')}`

/** Signing methods the wallet refuses instead of forwarding (anvil would sign them with its own unlocked keys). */
const REFUSED = new Set([
  'eth_sign',
  'eth_signTransaction',
  'eth_signTypedData',
  'eth_signTypedData_v1',
  'eth_signTypedData_v3',
])

interface RpcError {
  code: number
  message: string
  data?: unknown
}
type Answer = { result: unknown } | { error: RpcError }

/** What the page-side shim needs; JSON, handed to `addInitScript`. */
interface ShimOptions {
  binding: string
  emitter: string
  info: { uuid: string; name: string; icon: string; rdns: string }
}

/**
 * Creates a test wallet: an EIP-6963 provider (EIP-1193 `request`, `on`, `removeListener`) in the page
 * whose requests are answered in the test process.
 *
 * - `eth_requestAccounts`, `eth_accounts`: `[address]`, without a prompt.
 * - `eth_chainId`: the chain the wallet is on (`startChainId ?? chainId`), 0x-hex.
 * - `wallet_switchEthereumChain` (EIP-3326): to `chainId` switches and emits `chainChanged` in every
 *   page the wallet is installed in; any other id fails with 4902. `wallet_addEthereumChain` (EIP-3085)
 *   of `chainId` switches likewise; of another chain fails with -32602.
 * - `eth_sendTransaction`: ethers' `Wallet` fills in nonce (from the node), fees and gas the page left
 *   out, signs and sends to `rpcUrl`; returns the hash. Sends and typed-data signatures run one at a time.
 * - `eth_signTypedData_v4` (EIP-712): `[address, json]`; `EIP712Domain` and types the primary type does
 *   not reach are dropped before ethers signs. A domain `chainId` other than the wallet's fails with -32602.
 * - `personal_sign` (EIP-191): `[message, address]`, a 0x-hex message signed as bytes, any other as
 *   UTF-8. Not bound to a chain, so it works on any chain, as in real wallets.
 * - While the wallet is on another chain than `chainId`, `eth_sendTransaction` and `eth_signTypedData_v4`
 *   fail with 4901 ({@link WALLET_ERROR}).
 * - `eth_sign`, `eth_signTransaction`, older typed-data versions and other `wallet_*` methods: 4200.
 * - Anything else goes verbatim to `rpcUrl` (JSON-RPC over HTTP, bounded by 30 s); a JSON-RPC error
 *   comes back as its `{ code, message, data }`.
 *
 * Errors reach the page as an `Error` with `code` (and `data` when the node gave one), EIP-1193's
 * `ProviderRpcError`. Several wallets (different names and rdns) can be installed into one page; each
 * announces itself on `eip6963:requestProvider` and once when the document starts.
 *
 * @param o - key, chain, the chain to start on, EIP-6963 name and rdns
 * @returns the wallet; install it before the page loads
 * @throws Error from ethers when `privateKey` is not a 32-byte hex key
 */
export function createTestWallet(o: TestWalletOptions): TestWallet {
  const provider = new JsonRpcProvider(o.rpcUrl, o.chainId, { staticNetwork: true, cacheTimeout: -1 })
  const signer = new Wallet(o.privateKey, provider)
  const address = signer.address
  const requests: WalletRequest[] = []
  const rejections = new Map<string, number>()
  const installed: (BrowserContext | Page)[] = []
  const key = randomUUID().replaceAll('-', '')
  const shim: ShimOptions = {
    binding: `__trickleTestWallet_${key}`,
    emitter: `__trickleTestWalletEmit_${key}`,
    info: {
      uuid: randomUUID(),
      name: o.name ?? 'Trickle Test Wallet',
      icon: ICON,
      rdns: o.rdns ?? 'org.trickle.test-wallet',
    },
  }
  let current = o.startChainId ?? o.chainId
  let rpcId = 0
  let queue: Promise<unknown> = Promise.resolve()
  /** Runs signing one at a time, so two sends never take the same nonce. */
  const serially = <T>(task: () => Promise<T>): Promise<T> => {
    const run = queue.then(task, task)
    queue = run.catch(() => undefined)
    return run
  }

  const assertOwnAccount = (account: unknown): void => {
    if (typeof account !== 'string' || account.toLowerCase() !== address.toLowerCase()) {
      throw rpcError(
        WALLET_ERROR.unauthorized,
        `The account ${String(account)} is not this wallet's (${address}).`,
      )
    }
  }
  const assertOnChain = (): void => {
    if (current !== o.chainId) {
      throw rpcError(
        WALLET_ERROR.chainDisconnected,
        `The wallet is on chain ${current}, not chain ${o.chainId}; switch with wallet_switchEthereumChain first.`,
      )
    }
  }

  const switchTo = async (chainId: number): Promise<null> => {
    if (chainId === current) return null
    current = chainId
    await emit('chainChanged', toQuantity(chainId))
    return null
  }

  /** Delivers a provider event to every page the wallet is installed in (closed or navigating ones are skipped). */
  const emit = async (event: string, value: unknown): Promise<void> => {
    const pages = new Set(installed.flatMap((t) => ('mainFrame' in t ? [t] : t.pages())))
    await Promise.allSettled(
      [...pages]
        .filter((p) => !p.isClosed())
        .map((p) =>
          withTimeout(
            p.evaluate(
              ([emitter, name, v]) => {
                const fn = (globalThis as unknown as Record<string, unknown>)[emitter as string]
                if (typeof fn === 'function') fn(name, v)
              },
              [shim.emitter, event, value],
            ),
            EMIT_TIMEOUT_MS,
          ),
        ),
    )
  }

  const forward = async (method: string, params: unknown): Promise<unknown> => {
    const response = await fetch(o.rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: ++rpcId, method, params: params ?? [] }),
      signal: AbortSignal.timeout(RPC_TIMEOUT_MS),
    })
    const body = (await response.json()) as { result?: unknown; error?: RpcError }
    if (body.error) throw rpcError(body.error.code, body.error.message, body.error.data)
    return body.result
  }

  const sendTransaction = async (params: unknown): Promise<string> => {
    const tx = firstParam(params) as Record<string, unknown>
    if (typeof tx !== 'object' || tx === null) throw invalidParams('eth_sendTransaction takes [transaction]')
    assertOnChain()
    if (tx.from !== undefined) assertOwnAccount(tx.from)
    if (tx.chainId !== undefined && Number(tx.chainId) !== current) {
      throw invalidParams(
        `The transaction's chainId ${String(tx.chainId)} is not the active chain ${current}.`,
      )
    }
    const request: TransactionRequest = {}
    if (typeof tx.to === 'string') request.to = tx.to
    const data = tx.data ?? tx.input
    if (typeof data === 'string') request.data = data
    const value = quantity(tx, 'value')
    if (value !== undefined) request.value = value
    const gas = quantity(tx, 'gas') ?? quantity(tx, 'gasLimit')
    if (gas !== undefined) request.gasLimit = gas
    const gasPrice = quantity(tx, 'gasPrice')
    if (gasPrice !== undefined) request.gasPrice = gasPrice
    const maxFee = quantity(tx, 'maxFeePerGas')
    if (maxFee !== undefined) request.maxFeePerGas = maxFee
    const maxPriority = quantity(tx, 'maxPriorityFeePerGas')
    if (maxPriority !== undefined) request.maxPriorityFeePerGas = maxPriority
    const nonce = quantity(tx, 'nonce')
    if (nonce !== undefined) request.nonce = Number(nonce)
    const type = quantity(tx, 'type')
    if (type !== undefined) request.type = Number(type)
    return (await signer.sendTransaction(request)).hash
  }

  const signTypedData = async (params: unknown): Promise<string> => {
    if (!Array.isArray(params) || params.length < 2)
      throw invalidParams('eth_signTypedData_v4 takes [address, typedData]')
    assertOwnAccount(params[0])
    assertOnChain()
    let typed: {
      types?: Record<string, TypedDataField[]>
      domain?: TypedDataDomain
      primaryType?: string
      message?: unknown
    }
    try {
      typed = typeof params[1] === 'string' ? JSON.parse(params[1]) : params[1]
    } catch {
      throw invalidParams('eth_signTypedData_v4: the typed data is not JSON')
    }
    const { types, domain = {}, primaryType, message } = typed ?? {}
    if (!types || typeof primaryType !== 'string' || !types[primaryType] || typeof message !== 'object') {
      throw invalidParams('eth_signTypedData_v4: typed data needs types, primaryType and message')
    }
    if (domain.chainId !== undefined && domain.chainId !== null && Number(domain.chainId) !== current) {
      throw invalidParams(
        `Provided chainId "${String(domain.chainId)}" must match the active chainId "${current}".`,
      )
    }
    return signer.signTypedData(
      domain,
      reachableTypes(types, primaryType),
      message as Record<string, unknown>,
    )
  }

  const personalSign = async (params: unknown): Promise<string> => {
    if (!Array.isArray(params) || params.length < 2)
      throw invalidParams('personal_sign takes [message, address]')
    // Some pages pass [address, message]; a real wallet accepts both orders.
    const swapped =
      typeof params[0] === 'string' &&
      params[0].toLowerCase() === address.toLowerCase() &&
      params[1] !== params[0]
    const [message, account] = swapped ? [params[1], params[0]] : [params[0], params[1]]
    assertOwnAccount(account)
    if (typeof message !== 'string') throw invalidParams('personal_sign: the message is not a string')
    return signer.signMessage(isHexString(message) ? getBytes(message) : message)
  }

  const answer = async (method: string, params: unknown): Promise<unknown> => {
    switch (method) {
      case 'eth_requestAccounts':
      case 'eth_accounts':
        return [address]
      case 'eth_chainId':
        return toQuantity(current)
      case 'wallet_switchEthereumChain': {
        const id = chainIdParam(params)
        if (id !== o.chainId) {
          throw rpcError(
            WALLET_ERROR.unrecognizedChain,
            `Unrecognized chain ID "${toQuantity(id)}". Try adding the chain using wallet_addEthereumChain first.`,
          )
        }
        return switchTo(id)
      }
      case 'wallet_addEthereumChain': {
        const id = chainIdParam(params)
        if (id !== o.chainId)
          throw invalidParams(`The test wallet can only add chain ${o.chainId}, not ${id}.`)
        return switchTo(id)
      }
      case 'eth_sendTransaction':
        return serially(() => sendTransaction(params))
      case 'eth_signTypedData_v4':
        return serially(() => signTypedData(params))
      case 'personal_sign':
        return personalSign(params)
      default:
        if (REFUSED.has(method) || method.startsWith('wallet_')) {
          throw rpcError(WALLET_ERROR.unsupportedMethod, `The test wallet does not support ${method}.`)
        }
        return forward(method, params)
    }
  }

  const onRequest = async (payload: unknown): Promise<Answer> => {
    const { method, params } = (payload ?? {}) as { method?: unknown; params?: unknown }
    if (typeof method !== 'string') {
      return { error: { code: WALLET_ERROR.invalidRequest, message: 'Invalid request: no method.' } }
    }
    const request: WalletRequest = { method, params }
    requests.push(request)
    const pending = rejections.get(method) ?? 0
    if (pending > 0) {
      rejections.set(method, pending - 1)
      request.answeredAt = Date.now()
      return { error: { code: WALLET_ERROR.userRejected, message: 'User rejected the request.' } }
    }
    try {
      return { result: (await answer(method, params)) ?? null }
    } catch (err) {
      return { error: rpcErrorOf(err) }
    } finally {
      request.answeredAt ??= Date.now()
    }
  }

  return {
    address,
    requests,
    rejectNext(method) {
      rejections.set(method, (rejections.get(method) ?? 0) + 1)
    },
    async install(target) {
      if (installed.includes(target)) return
      installed.push(target)
      await target.exposeBinding(shim.binding, (_source, payload: unknown) => onRequest(payload))
      await target.addInitScript(walletShim, shim)
    },
  }
}

/**
 * The page side, run by `addInitScript` before the page's scripts: an EIP-1193 provider that hands
 * each request to the exposed binding, announced per EIP-6963. Self-contained: Playwright sends its
 * source text to the browser.
 */
function walletShim(o: ShimOptions): void {
  type Listener = (value: unknown) => void
  type Answer = { result: unknown } | { error: { code: number; message: string; data?: unknown } }
  const page = globalThis as unknown as Record<string, unknown> & {
    addEventListener(type: string, fn: () => void): void
    dispatchEvent(event: Event): boolean
  }
  const listeners = new Map<string, Set<Listener>>()
  const providerError = (code: number, message: string, data?: unknown): Error =>
    Object.assign(new Error(message), data === undefined ? { code } : { code, data })
  const provider = Object.freeze({
    async request(args: { method?: unknown; params?: unknown }): Promise<unknown> {
      if (typeof args !== 'object' || args === null || typeof args.method !== 'string') {
        throw providerError(-32600, 'Invalid request: expected { method, params }.')
      }
      const call = page[o.binding] as (payload: unknown) => Promise<Answer>
      const answer = await call({ method: args.method, params: args.params })
      if ('error' in answer) throw providerError(answer.error.code, answer.error.message, answer.error.data)
      return answer.result
    },
    on(event: string, fn: Listener): unknown {
      const set = listeners.get(event) ?? new Set()
      listeners.set(event, set)
      set.add(fn)
      return provider
    },
    removeListener(event: string, fn: Listener): unknown {
      listeners.get(event)?.delete(fn)
      return provider
    },
  })
  Object.defineProperty(page, o.emitter, {
    value: (event: string, value: unknown) => {
      for (const fn of [...(listeners.get(event) ?? [])]) {
        try {
          fn(value)
        } catch (err) {
          // A throwing listener surfaces as the page's uncaught error, as with any event listener.
          setTimeout(() => {
            throw err
          })
        }
      }
    },
  })
  const detail = Object.freeze({ info: Object.freeze({ ...o.info }), provider })
  const announce = () => page.dispatchEvent(new CustomEvent('eip6963:announceProvider', { detail }))
  page.addEventListener('eip6963:requestProvider', announce)
  announce()
}

function rpcError(code: number, message: string, data?: unknown): Error & RpcError {
  return Object.assign(new Error(message), data === undefined ? { code } : { code, data })
}

function invalidParams(message: string): Error & RpcError {
  return rpcError(WALLET_ERROR.invalidParams, message)
}

/** The JSON-RPC error inside an error (ours, or one ethers wrapped as `info.error` or `error`); -32603 otherwise. */
function rpcErrorOf(err: unknown, depth = 0): RpcError {
  const e = (err ?? {}) as {
    code?: unknown
    message?: unknown
    shortMessage?: unknown
    data?: unknown
    info?: { error?: unknown }
    error?: unknown
  }
  if (typeof e.code === 'number' && typeof e.message === 'string') {
    return e.data === undefined
      ? { code: e.code, message: e.message }
      : { code: e.code, message: e.message, data: e.data }
  }
  if (depth < 4) {
    for (const inner of [e.info?.error, e.error]) {
      if (typeof inner === 'object' && inner !== null) {
        const found = rpcErrorOf(inner, depth + 1)
        if (found.code !== WALLET_ERROR.internal) return found
      }
    }
  }
  return { code: WALLET_ERROR.internal, message: String(e.shortMessage ?? e.message ?? err) }
}

function firstParam(params: unknown): unknown {
  return Array.isArray(params) ? params[0] : undefined
}

/** `[{ chainId: '0x…' }]` of EIP-3326 and EIP-3085. */
function chainIdParam(params: unknown): number {
  const chainId = (firstParam(params) as { chainId?: unknown } | undefined)?.chainId
  if (typeof chainId !== 'string' || !isHexString(chainId))
    throw invalidParams('expected [{ chainId: "0x…" }]')
  return Number(chainId)
}

/** A quantity field of a transaction object (0x-hex, or a decimal number or string), or undefined. */
function quantity(tx: Record<string, unknown>, field: string): bigint | undefined {
  const v = tx[field]
  if (v === undefined || v === null) return undefined
  try {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint') return BigInt(v)
  } catch {
    // falls through
  }
  throw invalidParams(`transaction field ${field} is not a quantity: ${String(v)}`)
}

/** The types `primaryType` reaches (ethers refuses typed data with more than one root). */
function reachableTypes(
  types: Record<string, TypedDataField[]>,
  primaryType: string,
): Record<string, TypedDataField[]> {
  const out: Record<string, TypedDataField[]> = {}
  const visit = (name: string): void => {
    const fields = types[name]
    if (name === 'EIP712Domain' || !fields || out[name]) return
    out[name] = fields
    for (const f of fields) visit(f.type.replace(/(\[\d*\])+$/, ''))
  }
  visit(primaryType)
  return out
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}
