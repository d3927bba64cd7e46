// A buyer that takes what the seller sends and reconnects instead of paying (issue 10, finding 1).

import type { Frame, Hex } from '@trickle/protocol'
import type { SigningKey } from 'ethers'
import type { SellerServer } from '../../src/index.ts'
import { acceptFor, connectRaw } from './rawClient.ts'

/** What one attacker session got. */
export interface Taken {
  chunks: number
  frames: Frame[]
}

/**
 * One free ride: hello, accept signed with `key`, take every chunk until the seller asks for payment
 * (or closes), then drop the connection instead of paying — and reconnect, in a loop, in the callers.
 */
export async function freeRide(
  url: string,
  productId: bigint,
  channelId: Hex,
  key: SigningKey,
): Promise<Taken> {
  const raw = await connectRaw(url)
  raw.sendFrame({ t: 'hello', v: 1, productId, channelId })
  const terms = await raw.next('terms')
  raw.sendFrame(acceptFor(terms, key))
  await Promise.race([raw.next('payment_required', 8_000).catch(() => undefined), raw.closed])
  raw.close()
  await raw.closed
  return { chunks: raw.frames.filter((f) => f.t === 'chunk').length, frames: raw.frames }
}

/** Resolves once the seller has ended `count` more sessions (their debt is then recorded). */
export function sessionsEnded(seller: SellerServer, count: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0
    const on = () => {
      if (++seen < count) return
      seller.events.off('session', on)
      resolve()
    }
    seller.events.on('session', on)
  })
}
