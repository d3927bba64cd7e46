import { TrickleError } from '@trickle/protocol'
import { BrowserProvider, type Eip1193Provider, type Signer } from 'ethers'

/** An EIP-1193 provider (a browser wallet's `window.ethereum`, WalletConnect…): `request({ method, params })`. */
export type { Eip1193Provider }

/** Whether `value` is an ethers `Signer` (has `getAddress` and `signTransaction`). */
function isSigner(value: unknown): value is Signer {
  const v = value as Partial<Signer> | null
  return typeof v?.getAddress === 'function' && typeof v.signTransaction === 'function'
}

/**
 * The ethers `Signer` that sends the payer's transactions: `signer` itself, or for an EIP-1193 provider
 * its first account through ethers' `BrowserProvider` (EIP-1193; EIP-1102 account access is asked for
 * by the wallet, `eth_requestAccounts`).
 *
 * @param signer - an ethers `Signer` (a `Wallet`, a `JsonRpcSigner`…) or an EIP-1193 provider
 * @param pollingIntervalMs - ms between polls of a wrapped EIP-1193 provider for mined transactions
 * @throws TrickleError `INVALID_ARGUMENT` for anything else; `CHAIN_UNAVAILABLE` when the wallet
 *   refuses or has no account
 */
export async function resolveSigner(
  signer: Signer | Eip1193Provider,
  pollingIntervalMs = 1_000,
): Promise<Signer> {
  if (isSigner(signer)) return signer
  if (typeof (signer as Partial<Eip1193Provider>)?.request !== 'function') {
    throw new TrickleError('INVALID_ARGUMENT', 'signer must be an ethers Signer or an EIP-1193 provider')
  }
  try {
    const provider = new BrowserProvider(signer, undefined, { pollingInterval: pollingIntervalMs })
    return await provider.getSigner()
  } catch (cause) {
    throw new TrickleError('CHAIN_UNAVAILABLE', 'the EIP-1193 wallet gave no account', { cause })
  }
}
