import {
  type AttestationAnchor,
  attestationsAt,
  type ChannelStatus,
  type ChannelView,
  channelsAt,
  DATA_REGISTRY_ABI,
  type DataRegistryContract,
  type DataRegistryEventArgs,
  JOB_ATTESTATIONS_ABI,
  type JobAttestationsContract,
  type JobAttestationsEventArgs,
  type ProductKind,
  type ProductView,
  registryAt,
  type SendMethod,
  STREAM_CHANNELS_ABI,
  type StreamChannelsContract,
  type StreamChannelsEventArgs,
  type ViewMethod,
} from '@trickle/contracts'
import type { AddressLike, BigNumberish, BytesLike } from 'ethers'
import { describe, expect, expectTypeOf, it } from 'vitest'

const someAddress = '0x5FbDB2315678afecb367f032d93F642f64180aa3'

// The expectTypeOf assertions are checked by `tsc -b` (tsconfig.tests.json); at run time they are no-ops.
describe('types derived from the generated ABIs', () => {
  it('type StreamChannels methods with ethers inputs and outputs, view or send by state mutability', () => {
    expectTypeOf<StreamChannelsContract['open']>().toEqualTypeOf<
      SendMethod<[AddressLike, AddressLike, BigNumberish, AddressLike], string>
    >()
    expectTypeOf<StreamChannelsContract['topUp']>().toEqualTypeOf<SendMethod<[BytesLike, BigNumberish]>>()
    expectTypeOf<StreamChannelsContract['claim']>().toEqualTypeOf<
      SendMethod<[BytesLike, BigNumberish, BigNumberish, BytesLike, BytesLike], bigint>
    >()
    expectTypeOf<StreamChannelsContract['receiptDigest']>().toEqualTypeOf<
      ViewMethod<[BytesLike, BigNumberish, BigNumberish, BytesLike], string>
    >()
    expectTypeOf<StreamChannelsContract['challengePeriod']>().toEqualTypeOf<ViewMethod<[], bigint>>()
    expectTypeOf<StreamChannelsContract['MAX_CHALLENGE_PERIOD']>().toEqualTypeOf<ViewMethod<[], bigint>>()
  })

  it('type DataRegistry methods the same way', () => {
    expectTypeOf<DataRegistryContract['register']>().toEqualTypeOf<
      SendMethod<[BytesLike, BigNumberish], bigint>
    >()
    expectTypeOf<DataRegistryContract['setSellerKey']>().toEqualTypeOf<SendMethod<[AddressLike]>>()
    expectTypeOf<DataRegistryContract['sellerKey']>().toEqualTypeOf<ViewMethod<[AddressLike], string>>()
    expectTypeOf<DataRegistryContract['productCount']>().toEqualTypeOf<ViewMethod<[], bigint>>()
  })

  it('type JobAttestations methods, its event and findAttestation', () => {
    expectTypeOf<JobAttestationsContract['attest']>().toEqualTypeOf<
      SendMethod<[BytesLike, BytesLike, BigNumberish]>
    >()
    expectTypeOf<JobAttestationsContract['claimAndAttest']>().toEqualTypeOf<
      SendMethod<[BytesLike, BytesLike, BigNumberish, BigNumberish, BytesLike, BytesLike], bigint>
    >()
    expectTypeOf<JobAttestationsContract['channels']>().toEqualTypeOf<ViewMethod<[], string>>()
    expectTypeOf<JobAttestationsEventArgs<'Attested'>['cumulativeAmount']>().toEqualTypeOf<bigint>()
    expectTypeOf<ReturnType<JobAttestationsContract['findAttestation']>>().toEqualTypeOf<
      Promise<AttestationAnchor | undefined>
    >()
  })

  it('give the converted views their number fields, by name and by position', () => {
    expectTypeOf<ChannelView['status']>().toEqualTypeOf<ChannelStatus>()
    expectTypeOf<ChannelView[7]>().toEqualTypeOf<ChannelStatus>()
    expectTypeOf<ChannelView['deposit']>().toEqualTypeOf<bigint>()
    expectTypeOf<ChannelView['previousSigner']>().toEqualTypeOf<string>()
    expectTypeOf<ReturnType<StreamChannelsContract['getChannel']>>().toEqualTypeOf<Promise<ChannelView>>()
    expectTypeOf<ProductView['kind']>().toEqualTypeOf<ProductKind>()
    expectTypeOf<ProductView[1]>().toEqualTypeOf<ProductKind>()
    expectTypeOf<ProductView['active']>().toEqualTypeOf<boolean>()
    expectTypeOf<ReturnType<DataRegistryContract['getProduct']>>().toEqualTypeOf<Promise<ProductView>>()
  })

  it('type event arguments from the ABI', () => {
    expectTypeOf<StreamChannelsEventArgs<'ChannelOpened'>['deposit']>().toEqualTypeOf<bigint>()
    expectTypeOf<StreamChannelsEventArgs<'Claimed'>['seq']>().toEqualTypeOf<bigint>()
    expectTypeOf<DataRegistryEventArgs<'ProductRegistered'>['owner']>().toEqualTypeOf<string>()
  })

  it('reject calls the ABI does not allow, at compile time', () => {
    const channels = channelsAt(someAddress, null)
    const registry = registryAt(someAddress, null)
    // Never invoked: only the compiler looks at these.
    const unused = () => {
      // @ts-expect-error topUp takes a channel id and an amount
      void channels.topUp('0x00')
      // @ts-expect-error no such function in StreamChannels
      void channels.withdraw()
      // @ts-expect-error register's kind is an integer, not a boolean
      void registry.register('0x00', true)
    }
    expect(typeof unused).toBe('function')
  })

  it('bind every ABI function as a method of the wrapper', () => {
    const channels = channelsAt(someAddress, null)
    const registry = registryAt(someAddress, null)
    const names = (abi: readonly { type: string; name?: string }[]) =>
      abi.filter((item) => item.type === 'function').map((item) => item.name!)
    for (const name of names(STREAM_CHANNELS_ABI)) expect(channels, name).toHaveProperty(name)
    for (const name of names(DATA_REGISTRY_ABI)) expect(registry, name).toHaveProperty(name)
    const attestations = attestationsAt(someAddress, null)
    for (const name of names(JOB_ATTESTATIONS_ABI)) expect(attestations, name).toHaveProperty(name)
    expect(attestations).toHaveProperty('findAttestation')
  })
})
