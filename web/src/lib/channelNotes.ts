/** What this browser remembers of a channel it opened or streamed on: the product it was for. */
export interface ChannelNote {
  productId: string
  productName: string
}

const KEY = 'trickle.channelNotes'

function all(): Record<string, ChannelNote> {
  try {
    return JSON.parse(localStorage.getItem(KEY) ?? '{}') as Record<string, ChannelNote>
  } catch {
    return {}
  }
}

/** The product a channel was used for on this browser, if any. */
export function channelNote(channelId: string): ChannelNote | undefined {
  return all()[channelId.toLowerCase()]
}

/** Remembers the product a channel streams. */
export function noteChannel(channelId: string, note: ChannelNote): void {
  const notes = all()
  notes[channelId.toLowerCase()] = note
  localStorage.setItem(KEY, JSON.stringify(notes))
}
