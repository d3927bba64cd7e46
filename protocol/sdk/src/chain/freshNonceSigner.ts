import {
  AbstractSigner,
  type BlockTag,
  JsonRpcApiProvider,
  type Provider,
  type Signer,
  type TransactionRequest,
  type TransactionResponse,
  type TypedDataDomain,
  type TypedDataField,
  toQuantity,
} from 'ethers'

/**
 * A local key's signer that asks the node for its nonce on every transaction, past any response cache:
 * ethers' `JsonRpcProvider` caches identical calls for 250 ms by default, so two transactions in a row
 * would both get the first one's `eth_getTransactionCount`. Unlike ethers' `NonceManager` it keeps no
 * count of its own, so transactions the same key sends elsewhere (another program, a wallet) never
 * put it out of step. A browser wallet counts its own nonces and needs none of this.
 */
export class FreshNonceSigner extends AbstractSigner {
  readonly signer: Signer

  /** @param signer - a signer connected to a provider */
  constructor(signer: Signer) {
    super(signer.provider)
    this.signer = signer
  }

  override getAddress(): Promise<string> {
    return this.signer.getAddress()
  }

  override connect(provider: Provider | null): FreshNonceSigner {
    return new FreshNonceSigner(this.signer.connect(provider))
  }

  /** @returns the node's transaction count of the address at `blockTag`, uncached */
  override async getNonce(blockTag?: BlockTag): Promise<number> {
    const provider = this.signer.provider
    if (!(provider instanceof JsonRpcApiProvider)) return this.signer.getNonce(blockTag)
    const tag =
      blockTag === undefined ? 'latest' : typeof blockTag === 'string' ? blockTag : toQuantity(blockTag)
    const count = await provider.send('eth_getTransactionCount', [await this.getAddress(), tag])
    return Number(count)
  }

  override async sendTransaction(tx: TransactionRequest): Promise<TransactionResponse> {
    const nonce = tx.nonce ?? (await this.getNonce('pending'))
    return this.signer.sendTransaction({ ...tx, nonce })
  }

  override signTransaction(tx: TransactionRequest): Promise<string> {
    return this.signer.signTransaction(tx)
  }

  override signMessage(message: string | Uint8Array): Promise<string> {
    return this.signer.signMessage(message)
  }

  override signTypedData(
    domain: TypedDataDomain,
    types: Record<string, TypedDataField[]>,
    value: Record<string, unknown>,
  ): Promise<string> {
    return this.signer.signTypedData(domain, types, value)
  }
}
