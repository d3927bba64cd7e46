import { CHAIN_PRESET_NAMES, CHAIN_PRESETS, chainPreset, isChainPresetName } from '@trickle/contracts'
import { describe, expect, it } from 'vitest'

describe('chainPresets', () => {
  it('describes IOTA EVM mainnet and testnet as legacy-fee chains and anvil as EIP-1559', () => {
    expect(chainPreset('iota-evm')).toMatchObject({
      chainId: 8822,
      rpcUrl: 'https://json-rpc.evm.iotaledger.net',
      explorerUrl: 'https://explorer.evm.iota.org',
      nativeCurrency: { symbol: 'IOTA', decimals: 18 },
      fees: 'legacy',
      testnet: false,
    })
    expect(chainPreset('iota-evm-testnet')).toMatchObject({
      chainId: 1076,
      rpcUrl: 'https://json-rpc.evm.testnet.iota.cafe',
      fees: 'legacy',
      testnet: true,
    })
    expect(chainPreset('anvil')).toMatchObject({ chainId: 31337, fees: 'eip1559' })
  })

  it('keys every preset by its own name, with a distinct chain id and an http(s) RPC URL', () => {
    for (const name of CHAIN_PRESET_NAMES) {
      expect(CHAIN_PRESETS[name].name).toBe(name)
      expect(new URL(CHAIN_PRESETS[name].rpcUrl).protocol).toMatch(/^https?:$/)
    }
    const ids = CHAIN_PRESET_NAMES.map((n) => CHAIN_PRESETS[n].chainId)
    expect(new Set(ids).size).toBe(ids.length)
  })

  it('refuses an unknown preset with INVALID_ARGUMENT naming the known ones', () => {
    expect(isChainPresetName('iota')).toBe(false)
    expect(() => chainPreset('iota')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }))
    expect(() => chainPreset('iota')).toThrow(/known: anvil, iota-evm, iota-evm-testnet/)
  })
})
