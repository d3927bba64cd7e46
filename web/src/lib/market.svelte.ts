import {
  type BuyerClient,
  type CatalogProduct,
  createDescriptorFetcher,
  createTrickle,
  type Eip1193Provider,
  indexedDbKeyStore,
  listProducts,
} from '@trickle/sdk'
import { JsonRpcProvider, Wallet } from 'ethers'
import { createStore, type EIP6963ProviderDetail } from 'mipd'
import { noteSigned } from './channelNotes.ts'
import type { StorefrontConfig } from './config.ts'
import { type Problem, problemOf } from './problems.ts'

/** The account the storefront pays from. */
export interface Account {
  address: string
  /** the wallet's name, as it announced itself (EIP-6963), or "Local dev wallet" */
  walletName: string
  walletIcon?: string
  kind: 'injected' | 'dev'
}

const LAST_WALLET = 'trickle.lastWallet'
const DEV_KEY = 'trickle.devWallet.key'
/** what the local dev wallet is topped up to when it holds less than a tenth of it: 100 ETH */
const DEV_FUNDS = 100n * 10n ** 18n

/**
 * The marketplace as the page sees it: config, a read-only chain provider, the catalog, the wallets
 * announced through EIP-6963 (discovered with `mipd`), and — once a wallet is connected — the SDK's
 * `BuyerClient` paying from it. Receipt keys live in IndexedDB, so a reload resumes its channels.
 */
export class Market {
  readonly config: StorefrontConfig
  readonly provider: JsonRpcProvider
  wallets = $state.raw<readonly EIP6963ProviderDetail[]>([])
  account = $state.raw<Account | undefined>()
  client = $state.raw<BuyerClient | undefined>()
  connecting = $state(false)
  problem = $state.raw<Problem | undefined>()
  /** bumps when the connected account sent a transaction, so views re-read balances and channels */
  activity = $state(0)
  /** bumps when a page asks for the wallet dialog (the header's wallet button opens it) */
  connectRequests = $state(0)
  private readonly fetcher
  private readonly store = createStore()
  private unwatch: (() => void) | undefined

  constructor(config: StorefrontConfig) {
    this.config = config
    this.provider = new JsonRpcProvider(config.rpcUrl, config.chainId, {
      staticNetwork: true,
      cacheTimeout: -1,
      pollingInterval: 500,
    })
    this.fetcher = createDescriptorFetcher(config.gateways)
    this.store.subscribe(
      (details) => {
        this.wallets = details
      },
      { emitImmediately: true },
    )
  }

  /** Every registered product, descriptors fetched through the IPFS gateways and checked by CID. */
  products(): Promise<CatalogProduct[]> {
    return listProducts({
      provider: this.provider,
      registry: this.config.registry as `0x${string}`,
      fetcher: this.fetcher,
      fromBlock: this.config.deployBlock,
    })
  }

  /** Reconnects the wallet used last, without a prompt (`eth_accounts`), if it is still authorized. */
  async restore(): Promise<void> {
    const last = localStorage.getItem(LAST_WALLET)
    if (!last) return
    if (last === 'dev' && this.config.devWallet) {
      await this.connectDev().catch(() => undefined)
      return
    }
    // wallets announce themselves right after load; give them a moment
    for (let i = 0; i < 10 && !this.store.findProvider({ rdns: last }); i++) {
      await new Promise((r) => setTimeout(r, 50))
    }
    const detail = this.store.findProvider({ rdns: last })
    if (detail) await this.connect(detail, { silent: true }).catch(() => undefined)
  }

  /**
   * Connects an injected wallet: asks for its account (one prompt, none when `silent` and already
   * authorized), switches it to the marketplace's chain (adding the chain when the wallet lacks it),
   * and creates the SDK client paying from it.
   */
  async connect(detail: EIP6963ProviderDetail, { silent = false } = {}): Promise<void> {
    const wallet = detail.provider as unknown as Eip1193Provider & {
      on?: (event: string, fn: (...args: unknown[]) => void) => void
      removeListener?: (event: string, fn: (...args: unknown[]) => void) => void
    }
    this.connecting = true
    this.problem = undefined
    try {
      const accounts = (await wallet.request({
        method: silent ? 'eth_accounts' : 'eth_requestAccounts',
      })) as string[]
      const address = accounts[0]
      if (!address) return
      await this.ensureChain(wallet)
      await this.useSigner(wallet, {
        address,
        walletName: detail.info.name,
        walletIcon: detail.info.icon,
        kind: 'injected',
      })
      localStorage.setItem(LAST_WALLET, detail.info.rdns)
      const onAccounts = (...args: unknown[]) => {
        const next = (args[0] as string[] | undefined)?.[0]
        if (!next) this.disconnect()
        else if (next.toLowerCase() !== this.account?.address.toLowerCase())
          void this.connect(detail, { silent: true })
      }
      const onChain = () => void this.connect(detail, { silent: true })
      wallet.on?.('accountsChanged', onAccounts)
      wallet.on?.('chainChanged', onChain)
      this.unwatch = () => {
        wallet.removeListener?.('accountsChanged', onAccounts)
        wallet.removeListener?.('chainChanged', onChain)
      }
    } catch (err) {
      this.problem = problemOf(err)
      if (!silent) throw err
    } finally {
      this.connecting = false
    }
  }

  /**
   * The local dev wallet (chain 31337 only): a key kept in this browser's storage, funded through anvil's
   * `anvil_setBalance`. Test ETH only.
   */
  async connectDev(): Promise<void> {
    if (!this.config.devWallet) throw new Error('the local dev wallet exists only on chain 31337')
    this.connecting = true
    this.problem = undefined
    try {
      let key = localStorage.getItem(DEV_KEY)
      if (!key) {
        key = Wallet.createRandom().privateKey
        localStorage.setItem(DEV_KEY, key)
      }
      const wallet = new Wallet(key, this.provider)
      const balance = await this.provider.getBalance(wallet.address)
      if (balance < DEV_FUNDS / 10n) {
        await this.provider.send('anvil_setBalance', [wallet.address, `0x${DEV_FUNDS.toString(16)}`])
      }
      await this.useSigner(wallet, { address: wallet.address, walletName: 'Local dev wallet', kind: 'dev' })
      localStorage.setItem(LAST_WALLET, 'dev')
    } catch (err) {
      this.problem = problemOf(err)
      throw err
    } finally {
      this.connecting = false
    }
  }

  /** Opens the wallet dialog, from anywhere on the page. */
  askToConnect(): void {
    this.connectRequests++
  }

  disconnect(): void {
    this.unwatch?.()
    this.unwatch = undefined
    this.client = undefined
    this.account = undefined
    localStorage.removeItem(LAST_WALLET)
  }

  /** Switches `wallet` to the marketplace's chain, adding it first when the wallet does not know it. */
  async ensureChain(wallet: Eip1193Provider): Promise<void> {
    const current = Number.parseInt(String(await wallet.request({ method: 'eth_chainId' })), 16)
    if (current === this.config.chainId) return
    const chainId = `0x${this.config.chainId.toString(16)}`
    try {
      await wallet.request({ method: 'wallet_switchEthereumChain', params: [{ chainId }] })
    } catch (err) {
      if ((err as { code?: number }).code !== 4902) throw err
      await wallet.request({
        method: 'wallet_addEthereumChain',
        params: [
          {
            chainId,
            chainName: this.config.chainName,
            rpcUrls: [this.config.rpcUrl],
            nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
          },
        ],
      })
    }
  }

  private async useSigner(signer: Eip1193Provider | Wallet, account: Account): Promise<void> {
    this.unwatch?.()
    this.unwatch = undefined
    const client = await createTrickle({
      provider: this.provider,
      signer,
      chainId: this.config.chainId,
      registry: this.config.registry as `0x${string}`,
      channels: this.config.channels as `0x${string}`,
      gateways: this.config.gateways,
      deployBlock: this.config.deployBlock,
      ...(this.config.fees ? { fees: this.config.fees } : {}),
      keyStore: indexedDbKeyStore('trickle'),
    })
    // every receipt's amount is remembered, so after a reload a spent channel is not offered again
    client.on('receipt', (r) => noteSigned(r.channelId, r.amount))
    this.client = client
    this.account = { ...account, address: client.payerAddress }
  }
}
