/** A scrape of a seller's `GET /metrics`, parsed. */
export interface Scrape {
  /** the response's HTTP status and content type */
  status: number
  contentType: string | null
  /** the text exposition as served */
  text: string
  /**
   * The value of one sample: `name` with exactly `labels` (none: the sample without labels).
   * @returns the value, or undefined when the scrape has no such sample
   */
  value(name: string, labels?: Record<string, string>): number | undefined
  /** The sum of every sample of `name` whose labels include `labels`. */
  sum(name: string, labels?: Record<string, string>): number
}

/** One sample line: `name{labels} value`. */
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/
/** One label pair inside the braces. */
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

/**
 * Fetches and parses a seller's Prometheus text exposition (comments skipped, one regular expression
 * per line).
 * @param httpUrl - the seller's HTTP base URL
 */
export async function scrapeMetrics(httpUrl: string): Promise<Scrape> {
  const res = await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })
  const text = await res.text()
  const samples: { name: string; labels: Record<string, string>; value: number }[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = SAMPLE.exec(line)
    if (!match) throw new Error(`not a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const [, key, value] of (match[2] ?? '').matchAll(LABEL)) labels[key!] = value!
    samples.push({ name: match[1]!, labels, value: Number(match[3]) })
  }
  const has = (actual: Record<string, string>, wanted: Record<string, string>) =>
    Object.entries(wanted).every(([k, v]) => actual[k] === v)
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    text,
    value(name, labels = {}) {
      return samples.find(
        (s) =>
          s.name === name &&
          has(s.labels, labels) &&
          Object.keys(s.labels).length === Object.keys(labels).length,
      )?.value
    },
    sum(name, labels = {}) {
      return samples.filter((s) => s.name === name && has(s.labels, labels)).reduce((a, s) => a + s.value, 0)
    },
  }
}
