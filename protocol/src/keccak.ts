import { cryptoBackend } from './cryptoBackend.ts'

/**
 * Keccak-256 on bytes, with the backend in use ({@link useCryptoBackend}).
 *
 * @param data - bytes to hash
 * @returns Keccak-256 of `data`, 32 bytes (Ethereum's, original padding)
 */
export function keccak256Bytes(data: Uint8Array): Uint8Array {
  return cryptoBackend().keccak256(data)
}
