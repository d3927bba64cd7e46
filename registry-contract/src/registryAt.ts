import {
  type AddressLike,
  type BaseContract,
  type BigNumberish,
  type BytesLike,
  Contract,
  type ContractRunner,
  Result,
} from 'ethers'
import type { SendMethod, ViewMethod, ViewOverrides } from './contractTypes.ts'
import { DATA_REGISTRY_ABI } from './dataRegistryAbi.ts'
import type { ProductKind } from './productKind.ts'

/**
 * A product as returned by {@link DataRegistryContract.getProduct}: readable by name or destructured as
 * `[owner, kind, active, descriptorCid]`.
 */
export type ProductView = readonly [
  owner: string,
  kind: ProductKind,
  active: boolean,
  descriptorCid: string,
] & {
  /** The seller that registered the product. */
  readonly owner: string
  /** 0 stream, 1 dataset, 2 compute, 3 app (a number, unlike raw ethers' bigint). */
  readonly kind: ProductKind
  /** False once deactivated. */
  readonly active: boolean
  /** The binary descriptor CID as 0x hex, exactly as registered. */
  readonly descriptorCid: string
}

/** DataRegistry bound to an address, typed by hand from the fixed ABI ({@link DATA_REGISTRY_ABI}). */
export interface DataRegistryContract extends BaseContract {
  /** Registers a product owned by the sender; `staticCall` returns the new id (ids start at 1). */
  register: SendMethod<[descriptorCid: BytesLike, kind: BigNumberish], bigint>
  /** Replaces the descriptor CID; owner only. */
  update: SendMethod<[productId: BigNumberish, descriptorCid: BytesLike]>
  /** Deactivates a product; owner only. */
  deactivate: SendMethod<[productId: BigNumberish]>
  /** Sets the sender's terms-signing key (zero address clears it). */
  setSellerKey: SendMethod<[key: AddressLike]>
  /** The terms-signing key of a seller, or the zero address. */
  sellerKey: ViewMethod<[seller: AddressLike], string>
  /** Number of products ever registered. */
  productCount: ViewMethod<[], bigint>
  /** Longest accepted CID, in bytes. */
  MAX_CID_LENGTH: ViewMethod<[], bigint>
  /** Reads a product (reverts `UnknownProduct` for unknown ids), with `kind` as a number. */
  getProduct(productId: BigNumberish, overrides?: ViewOverrides): Promise<ProductView>
  /** The same contract with another runner. */
  connect(runner: ContractRunner | null): DataRegistryContract
}

/**
 * Binds DataRegistry at `address`, no compilation needed. An ethers `Contract` with the human-readable
 * ABI, except that `getProduct` returns `kind` as a number and `connect` keeps these conversions.
 *
 * @param address - DataRegistry address
 * @param runner - a signer (to send) or a provider (to read)
 * @returns the typed contract
 */
export function registryAt(address: string, runner: ContractRunner | null): DataRegistryContract {
  const contract = new Contract(address, DATA_REGISTRY_ABI, runner)
  const getProduct = contract.getFunction('getProduct')
  Object.defineProperties(contract, {
    getProduct: {
      value: async (productId: BigNumberish, overrides?: ViewOverrides): Promise<ProductView> => {
        const raw =
          overrides === undefined ? await getProduct(productId) : await getProduct(productId, overrides)
        return Result.fromItems(
          [raw[0], Number(raw[1]), raw[2], raw[3]],
          ['owner', 'kind', 'active', 'descriptorCid'],
        ) as unknown as ProductView
      },
    },
    connect: { value: (next: ContractRunner | null) => registryAt(address, next) },
  })
  return contract as unknown as DataRegistryContract
}
