import { signReading, verifyReading } from '@trickle/protocol'
import { SigningKey, Wallet } from 'ethers'
import { describe, expect, it } from 'vitest'
import { toChunkRecord } from '../src/chunkRecord.ts'

describe('toChunkRecord', () => {
  const key = new SigningKey(`0x${'33'.repeat(32)}`)
  const device = new Wallet(key.privateKey).address
  const envelope = signReading(key, '{"value":1}')

  it('writes the reading as it was, without a signature field, when the descriptor lists no devices', () => {
    expect(toChunkRecord({ seq: 3, data: new TextEncoder().encode('{"value":1}') })).toEqual({
      seq: 3,
      reading: { value: 1 },
    })
    expect(toChunkRecord({ seq: 4, data: new Uint8Array([0xff]) })).toEqual({ seq: 4, base64: '/w==' })
  })

  it('writes the signed reading with its verdict when the descriptor lists devices', () => {
    expect(toChunkRecord({ seq: 0, data: envelope, provenance: verifyReading(envelope, [device]) })).toEqual({
      seq: 0,
      reading: { value: 1 },
      signature: 'verified',
      device,
    })
    expect(toChunkRecord({ seq: 1, data: envelope, provenance: verifyReading(envelope, []) })).toMatchObject({
      reading: { value: 1 },
      signature: 'invalid',
      problem: 'the device is not listed in the descriptor',
    })
    const plain = new TextEncoder().encode('{"value":2}')
    expect(toChunkRecord({ seq: 2, data: plain, provenance: verifyReading(plain, [device]) })).toEqual({
      seq: 2,
      reading: { value: 2 },
      signature: 'unsigned',
    })
  })
})
