import { SigningKey, Wallet } from 'ethers'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { openSignedReading, SIGNED_READING_VERSION, signReading, verifyReading } from '../src/index.ts'

const utf8 = new TextEncoder()
const decode = (b: Uint8Array) => new TextDecoder().decode(b)
const device = new SigningKey(`0x${'11'.repeat(32)}`)
const deviceAddress = new Wallet(device.privateKey).address
const READING =
  '{"device":"airquality-uci","sensor":"co","column":"CO(GT)","row":0,"time":"2004-03-10T18:00:00","value":2.6,"unit":"mg/m³"}'

describe('device-signed readings', () => {
  it('verifies a reading its listed device signed, handing back the exact signed bytes', () => {
    const envelope = signReading(device, READING)
    expect(JSON.parse(decode(envelope))).toMatchObject({
      v: SIGNED_READING_VERSION,
      device: deviceAddress,
      payload: READING,
    })
    const p = verifyReading(envelope, [deviceAddress.toLowerCase()])
    expect(p).toEqual({ status: 'verified', device: deviceAddress, payload: utf8.encode(READING) })
  })

  it('flags a reading altered after signing, a device the descriptor does not list, and a malformed envelope', () => {
    const envelope = JSON.parse(decode(signReading(device, READING)))
    const altered = utf8.encode(JSON.stringify({ ...envelope, payload: READING.replace('2.6', '9.9') }))
    expect(verifyReading(altered, [deviceAddress])).toMatchObject({
      status: 'invalid',
      reason: expect.stringContaining('not the stated device'),
    })
    const claimsOther = utf8.encode(JSON.stringify({ ...envelope, device: Wallet.createRandom().address }))
    expect(verifyReading(claimsOther, [deviceAddress]).status).toBe('invalid')
    expect(verifyReading(signReading(device, READING), [Wallet.createRandom().address])).toMatchObject({
      status: 'invalid',
      reason: 'the device is not listed in the descriptor',
    })
    const badSig = utf8.encode(JSON.stringify({ ...envelope, sig: '0x1234' }))
    expect(verifyReading(badSig, [deviceAddress])).toMatchObject({
      status: 'invalid',
      reason: 'sig is not 65 bytes of hex',
    })
    expect(openSignedReading(badSig)).toBeInstanceOf(Error)
  })

  it('calls a plain reading, or bytes that are not JSON, unsigned', () => {
    expect(verifyReading(utf8.encode(READING), [deviceAddress])).toEqual({ status: 'unsigned' })
    expect(verifyReading(new Uint8Array([0xff, 0x00]), [deviceAddress])).toEqual({ status: 'unsigned' })
    expect(openSignedReading(utf8.encode('{"v":"other"}'))).toBeUndefined()
  })

  it('round-trips any text, and any change to it fails', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc.string({ minLength: 1, maxLength: 3 }),
        (text, extra) => {
          const envelope = signReading(device, text)
          expect(verifyReading(envelope, [deviceAddress])).toMatchObject({
            status: 'verified',
            payload: utf8.encode(text),
          })
          const changed = JSON.parse(decode(envelope))
          changed.payload = text + extra
          expect(verifyReading(utf8.encode(JSON.stringify(changed)), [deviceAddress]).status).toBe('invalid')
        },
      ),
      { numRuns: 100 },
    )
  })

  it('matches the SPEC.md §Device signatures test vector, and ethers signMessage gives the same signature', () => {
    const key = '0xd0e7e0f4a7d3be6b3cd5bb27c6ffa1ff0c0b35fd8d2f2f36e16d1e3bfe2a4c1f'
    const payload = '{"value":21.5,"unit":"°C"}'
    const envelope = decode(signReading(new SigningKey(key), payload))
    expect(envelope).toBe(
      '{"v":"trickle.signed/1","device":"0xa39E3DBc7615089A86b85edA495544D1eF0442b6","payload":"{\\"value\\":21.5,\\"unit\\":\\"°C\\"}","sig":"0xc991c8052715feae26c32fb6395653b03b44cb08c1feaa9f84db369a5215d3254f1f57ec16e2945a50fffc2cc5793fab541c215bbd8b388f6d00e4aa875ad0b71c"}',
    )
    const wallet = new Wallet(key)
    expect(JSON.parse(envelope)).toMatchObject({
      device: wallet.address,
      sig: wallet.signMessageSync(payload),
    })
  })
})
