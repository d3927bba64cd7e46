/**
 * What this browser remembers of a channel: the product it was opened or streamed for, and the
 * channel's cumulative amount after the last receipt this browser signed (the chain only knows what the
 * seller has claimed so far, so this is what tells a spent channel from one with funds left).
 */
export interface ChannelNote {
  productId?: string
  productName?: string
  /** wei, decimal */
  signed?: string
}

const KEY = 'trickle.channelNotes'

function all(): Record<string, ChannelNote> {
  try {
    return JSON.parse(localStorage.getItem(KEY) ?? '{}') as Record<string, ChannelNote>
  } catch {
    return {}
  }
}

/** What this browser remembers of a channel, if anything. */
export function channelNote(channelId: string): ChannelNote | undefined {
  return all()[channelId.toLowerCase()]
}

/** Merges `note` into what this browser remembers of a channel. */
export function noteChannel(channelId: string, note: ChannelNote): void {
  const notes = all()
  const key = channelId.toLowerCase()
  notes[key] = { ...notes[key], ...note }
  localStorage.setItem(KEY, JSON.stringify(notes))
}

/** wei this browser signed on the channel (its last receipt's cumulative amount), if it signed any. */
export function signedOn(channelId: string): bigint | undefined {
  const signed = channelNote(channelId)?.signed
  return signed === undefined ? undefined : BigInt(signed)
}

/** Records a receipt's cumulative amount, never lowering what is remembered. */
export function noteSigned(channelId: string, amount: bigint): void {
  const known = signedOn(channelId)
  if (known === undefined || amount > known) noteChannel(channelId, { signed: amount.toString() })
}
