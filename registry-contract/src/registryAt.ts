import type { ExtractAbiEventNames, ExtractAbiFunction } from 'abitype'
import { type BaseContract, Contract, type ContractRunner, Result } from 'ethers'
import type {
  AbiEventArgs,
  AbiFunctionArgs,
  AbiResult,
  ContractMethods,
  ViewOverrides,
} from './contractTypes.ts'
import { DATA_REGISTRY_ABI } from './generated/dataRegistryAbi.ts'
import type { ProductKind } from './productKind.ts'

type DataRegistryAbi = typeof DATA_REGISTRY_ABI

/**
 * A product as returned by {@link DataRegistryContract.getProduct}, derived from the ABI's outputs:
 * readable by name or destructured as `[owner, kind, active, descriptorCid]`.
 * - `owner`: the seller that registered the product.
 * - `kind`: 0 stream, 1 dataset, 2 compute, 3 app — a {@link ProductKind} number, unlike raw ethers' bigint.
 * - `active`: false once deactivated.
 * - `descriptorCid`: the binary descriptor CID as 0x hex, exactly as registered.
 */
export type ProductView = AbiResult<
  ExtractAbiFunction<DataRegistryAbi, 'getProduct'>['outputs'],
  { kind: ProductKind }
>

/** Names of DataRegistry's events. */
export type DataRegistryEventName = ExtractAbiEventNames<DataRegistryAbi>

/** Decoded arguments of a DataRegistry event (`registry.interface.parseLog(log).args`), derived from the ABI. */
export type DataRegistryEventArgs<N extends DataRegistryEventName> = AbiEventArgs<DataRegistryAbi, N>

/**
 * DataRegistry bound to an address. Every method's arguments and return type are derived from the
 * generated ABI ({@link DATA_REGISTRY_ABI}): `register` (`staticCall` returns the new id; ids start at
 * 1), `update` and `deactivate` (owner only), `setSellerKey` (zero clears it), and the views
 * `sellerKey`, `productCount` and `MAX_CID_LENGTH` (bytes). Only `getProduct` (kind converted to a
 * number) and `connect` (keeps the conversion) are typed here.
 */
export interface DataRegistryContract
  extends BaseContract,
    Omit<ContractMethods<DataRegistryAbi>, 'getProduct' | 'connect'> {
  /** Reads a product (reverts `UnknownProduct` for unknown ids), with `kind` as a number. */
  getProduct(
    productId: AbiFunctionArgs<DataRegistryAbi, 'getProduct'>[0],
    overrides?: ViewOverrides,
  ): Promise<ProductView>
  /** The same contract with another runner. */
  connect(runner: ContractRunner | null): DataRegistryContract
}

/**
 * Binds DataRegistry at `address`, no compilation needed. An ethers `Contract` with the generated JSON
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
      value: async (
        productId: AbiFunctionArgs<DataRegistryAbi, 'getProduct'>[0],
        overrides?: ViewOverrides,
      ): Promise<ProductView> => {
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
