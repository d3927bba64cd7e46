import type {
  Abi,
  AbiFunction,
  AbiParameter,
  ExtractAbiEvent,
  ExtractAbiEventNames,
  ExtractAbiFunction,
  ExtractAbiFunctionNames,
} from 'abitype'
import type {
  AddressLike,
  BaseContract,
  BaseContractMethod,
  BigNumberish,
  BytesLike,
  ContractTransactionResponse,
} from 'ethers'

/*
 * Types of the ethers v6 wrappers, derived from the generated `as const` ABIs with abitype's ABI
 * shapes (`ExtractAbiFunction`, `ExtractAbiEvent`). abitype's own primitive mapping
 * (`AbiParametersToPrimitiveTypes`) is viem's — `0x${string}` addresses, `number` for uint8..uint48 —
 * and changing it means augmenting abitype's global `Register`, which would leak into every user of
 * abitype in the same program. So the Solidity-type-to-TypeScript step below is ethers v6's instead:
 * inputs take `AddressLike`/`BigNumberish`/`BytesLike`, outputs are `string`/`bigint`/`boolean` and
 * `Result`-shaped structs. Multi-dimensional fixed-size arrays (`T[2][3]`) map to `unknown`; neither
 * contract has one.
 */

/** A state-changing contract method: calling it sends a transaction; `staticCall` returns `R`. */
export type SendMethod<A extends unknown[], R = void> = BaseContractMethod<A, R, ContractTransactionResponse>

/** A view method: calling it returns `R`. */
export type ViewMethod<A extends unknown[], R> = BaseContractMethod<A, R, R>

/** Call overrides accepted by the converted view methods. */
export interface ViewOverrides {
  /** Block number, hash or tag to read at; default `latest`. */
  blockTag?: string | number | bigint
}

type ComponentsOf<P> = P extends { readonly components: infer C extends readonly AbiParameter[] } ? C : never

/** What ethers v6 accepts for a Solidity type `T` (tuple components `C`). */
type InputOfType<T extends string, C extends readonly AbiParameter[]> = T extends `${infer Item}[]`
  ? readonly InputOfType<Item, C>[]
  : T extends `${infer Item}[${number}]`
    ? Item extends `${string}[${string}`
      ? unknown
      : readonly InputOfType<Item, C>[]
    : T extends 'tuple'
      ? StructInput<C>
      : T extends 'address'
        ? AddressLike
        : T extends 'bool'
          ? boolean
          : T extends 'string'
            ? string
            : T extends `bytes${string}` | 'function'
              ? BytesLike
              : T extends `int${string}` | `uint${string}`
                ? BigNumberish
                : unknown

/** What ethers v6 decodes a Solidity type `T` (tuple components `C`) to. */
type OutputOfType<T extends string, C extends readonly AbiParameter[]> = T extends `${infer Item}[]`
  ? readonly OutputOfType<Item, C>[]
  : T extends `${infer Item}[${number}]`
    ? Item extends `${string}[${string}`
      ? unknown
      : readonly OutputOfType<Item, C>[]
    : T extends 'tuple'
      ? AbiResult<C>
      : T extends 'address' | 'string' | `bytes${string}` | 'function'
        ? string
        : T extends 'bool'
          ? boolean
          : T extends `int${string}` | `uint${string}`
            ? bigint
            : unknown

type InputOf<P> = P extends AbiParameter ? InputOfType<P['type'], ComponentsOf<P>> : never

type OutputOf<P> = P extends AbiParameter ? OutputOfType<P['type'], ComponentsOf<P>> : never

/** A struct argument: positional or by field name, as ethers accepts both. */
type StructInput<C extends readonly AbiParameter[]> =
  | { readonly [K in keyof C]: InputOf<C[K]> }
  | { readonly [P in C[number] as NameOf<P>]: InputOf<P> }

type NameOf<P extends AbiParameter> = P['name'] extends infer N extends string
  ? N extends ''
    ? never
    : N
  : never

/** Positional arguments of parameters `Ps`, as a mutable tuple (what `BaseContractMethod` wants). */
type InputsOf<Ps extends readonly AbiParameter[]> = { -readonly [K in keyof Ps]: InputOf<Ps[K]> }

/**
 * What ethers v6 decodes a parameter list to: a read-only tuple whose elements are also readable by
 * name, as an ethers `Result` is. `O` replaces the types of the named fields it lists (the wrappers'
 * converted fields, e.g. `{ status: ChannelStatus }`).
 *
 * @typeParam Ps - the ABI parameters (`as const`)
 * @typeParam O - field name → type to use instead of the decoded one
 */
export type AbiResult<Ps extends readonly AbiParameter[], O extends object = Record<never, never>> = {
  readonly [K in keyof Ps]: FieldOf<Ps[K], O>
} & { readonly [P in Ps[number] as NameOf<P>]: FieldOf<P, O> }

type FieldOf<P, O> = P extends AbiParameter ? (P['name'] extends keyof O ? O[P['name']] : OutputOf<P>) : never

/** The return type of a function with outputs `Ps`: void, the single value, or an {@link AbiResult}. */
type ReturnOf<Ps extends readonly AbiParameter[]> = Ps extends readonly []
  ? // biome-ignore lint/suspicious/noConfusingVoidType: as SendMethod's default: nothing to use, like ethers' own typing
    void
  : Ps extends readonly [infer Only]
    ? OutputOf<Only>
    : AbiResult<Ps>

type MethodOf<F extends AbiFunction> =
  InputsOf<F['inputs']> extends infer A extends unknown[]
    ? F['stateMutability'] extends 'view' | 'pure'
      ? ViewMethod<A, ReturnOf<F['outputs']>>
      : SendMethod<A, ReturnOf<F['outputs']>>
    : never

/**
 * The positional arguments of function `N` of `A`, as ethers v6 accepts them (`AddressLike`,
 * `BigNumberish` for integers in base units, `BytesLike`).
 *
 * @typeParam A - a generated `as const` ABI
 * @typeParam N - a function name in it
 */
export type AbiFunctionArgs<A extends Abi, N extends ExtractAbiFunctionNames<A>> = InputsOf<
  ExtractAbiFunction<A, N>['inputs']
>

/**
 * What function `N` of `A` returns through ethers v6: void, its single output, or an
 * {@link AbiResult} of several.
 *
 * @typeParam A - a generated `as const` ABI
 * @typeParam N - a function name in it
 */
export type AbiFunctionReturn<A extends Abi, N extends ExtractAbiFunctionNames<A>> = ReturnOf<
  ExtractAbiFunction<A, N>['outputs']
>

/**
 * The decoded arguments of event `N` of `A` (`parseLog(log).args`), readable by position and name.
 *
 * @typeParam A - a generated `as const` ABI
 * @typeParam N - an event name in it
 */
export type AbiEventArgs<A extends Abi, N extends ExtractAbiEventNames<A>> = AbiResult<
  ExtractAbiEvent<A, N>['inputs']
>

/**
 * Every function of `A` as an ethers v6 contract method: `view`/`pure` ones as {@link ViewMethod},
 * the others as {@link SendMethod}. Functions named like a `BaseContract` member (none in Trickle's
 * contracts) are left out, as ethers itself reaches them only through `getFunction`.
 *
 * @typeParam A - a generated `as const` ABI
 */
export type ContractMethods<A extends Abi> = {
  [N in Exclude<ExtractAbiFunctionNames<A>, keyof BaseContract>]: MethodOf<ExtractAbiFunction<A, N>>
}
