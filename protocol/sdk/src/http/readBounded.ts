/**
 * Reads a fetch response's body, at most `maxBytes` of it: a peer may declare or send any length.
 * @returns the body's bytes
 * @throws Error when the declared `content-length` or the bytes sent pass `maxBytes` (the rest of the
 *   body is cancelled)
 */
export async function readBounded(response: Response, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length') ?? '0')
  if (declared > maxBytes) {
    await response.body?.cancel()
    throw new Error(`body of ${declared} bytes is above ${maxBytes}`)
  }
  if (!response.body) return new Uint8Array(0)
  const parts: Uint8Array[] = []
  let size = 0
  const reader = response.body.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > maxBytes) {
      await reader.cancel()
      throw new Error(`body is above ${maxBytes} bytes`)
    }
    parts.push(value)
  }
  const bytes = new Uint8Array(size)
  let offset = 0
  for (const part of parts) {
    bytes.set(part, offset)
    offset += part.byteLength
  }
  return bytes
}
