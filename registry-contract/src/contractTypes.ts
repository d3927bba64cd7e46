import type { BaseContractMethod, ContractTransactionResponse } from 'ethers'

/** A state-changing contract method: calling it sends a transaction; `staticCall` returns `R`. */
export type SendMethod<A extends unknown[], R = void> = BaseContractMethod<A, R, ContractTransactionResponse>

/** A view method: calling it returns `R`. */
export type ViewMethod<A extends unknown[], R> = BaseContractMethod<A, R, R>

/** Call overrides accepted by the converted view methods. */
export interface ViewOverrides {
  /** Block number, hash or tag to read at; default `latest`. */
  blockTag?: string | number | bigint
}
