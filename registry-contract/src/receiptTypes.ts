import type { TypedDataDomain, TypedDataField } from 'ethers'

/**
 * EIP-712 types of a payment receipt (EIP-712, "Typed structured data hashing and signing"):
 * `Receipt(bytes32 channelId,uint256 cumulativeAmount,uint64 seq,bytes32 ackHash)`. `cumulativeAmount`
 * is in the channel token's base units (wei for native channels), `seq` counts receipts, `ackHash` is
 * the rolling hash of the chunks acknowledged. Pass to `signer.signTypedData(domain, RECEIPT_TYPES, value)`.
 */
export const RECEIPT_TYPES: { Receipt: TypedDataField[] } = {
  Receipt: [
    { name: 'channelId', type: 'bytes32' },
    { name: 'cumulativeAmount', type: 'uint256' },
    { name: 'seq', type: 'uint64' },
    { name: 'ackHash', type: 'bytes32' },
  ],
}

/** The value of a {@link RECEIPT_TYPES} receipt as signed. */
export interface ReceiptValue {
  channelId: string
  /** Cumulative amount owed over the channel's life, in base units (wei). */
  cumulativeAmount: bigint
  seq: bigint
  ackHash: string
}

/** EIP-712 domain name of StreamChannels. */
export const RECEIPT_DOMAIN_NAME = 'Trickle StreamChannels'
/** EIP-712 domain version of StreamChannels. */
export const RECEIPT_DOMAIN_VERSION = '1'

/**
 * The EIP-712 domain of receipts for one StreamChannels deployment. A receipt signed for one chain or
 * contract is worthless on another.
 *
 * @param chainId - EIP-155 chain id
 * @param channels - StreamChannels contract address
 * @returns `{ name: 'Trickle StreamChannels', version: '1', chainId, verifyingContract: channels }`
 */
export function receiptDomain(chainId: number | bigint, channels: string): TypedDataDomain {
  return {
    name: RECEIPT_DOMAIN_NAME,
    version: RECEIPT_DOMAIN_VERSION,
    chainId: BigInt(chainId),
    verifyingContract: channels,
  }
}
