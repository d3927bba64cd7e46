/**
 * MQTT topic filters (MQTT 3.1.1 §4.7, MQTT 5.0 §4.7): which topic names a filter matches, whether
 * two filters can match the same topic, and the subscriptions that cover a set of filters without
 * overlapping (so a broker delivers each message to the seller once).
 *
 * Rules implemented: levels are separated by `/` and may be empty; `+` matches exactly one level
 * and must occupy a whole level; `#` matches any number of levels, the parent level included
 * (`a/#` matches `a`), and must be the last level, alone; a filter whose first level is a wildcard
 * does not match a topic name that starts with `$` (`#` and `+/x` do not match `$SYS/x`).
 */

/** The longest filter or topic the seller accepts, UTF-8 bytes (MQTT strings are at most 65,535). */
export const MAX_TOPIC_BYTES = 65_535

/**
 * Why `filter` is not a valid MQTT topic filter, or undefined when it is.
 * @param filter - e.g. `office1/+/co2`, `office1/#`
 * @returns a short reason (`empty`, `'#' must be the last level, alone`, …)
 */
export function topicFilterProblem(filter: string): string | undefined {
  if (filter.length === 0) return 'must not be empty'
  if (new TextEncoder().encode(filter).byteLength > MAX_TOPIC_BYTES) return 'is longer than 65,535 bytes'
  if (filter.includes('\u0000')) return 'must not contain U+0000'
  const levels = filter.split('/')
  for (const [i, level] of levels.entries()) {
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) {
      return `'#' must be the last level, alone (as in office1/#)`
    }
    if (level.includes('+') && level !== '+') return `'+' must be a whole level (as in office1/+/co2)`
  }
  return undefined
}

/**
 * Whether the topic name `topic` matches the filter `filter` (both assumed valid).
 * @param filter - a topic filter, wildcards allowed
 * @param topic - a topic name as published, no wildcards
 */
export function topicMatches(filter: string, topic: string): boolean {
  if (filter === topic) return true
  const f = filter.split('/')
  const t = topic.split('/')
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false
  for (let i = 0; i < f.length; i++) {
    const level = f[i]!
    if (level === '#') return true
    if (i >= t.length) return false
    if (level !== '+' && level !== t[i]) return false
  }
  return f.length === t.length
}

/**
 * Whether some topic name matches both filters (both assumed valid).
 */
export function filtersOverlap(a: string, b: string): boolean {
  const x = a.split('/')
  const y = b.split('/')
  // A leading wildcard never matches a `$` topic: against a literal `$…` first level there is no overlap.
  const dollar = (l: string, w: string) => l.startsWith('$') && (w === '+' || w === '#')
  if (dollar(x[0]!, y[0]!) || dollar(y[0]!, x[0]!)) return false
  for (let i = 0; ; i++) {
    const l = x[i]
    const r = y[i]
    if (l === '#' || r === '#') return true
    if (l === undefined || r === undefined) {
      // One filter ends here: the other matches the same topic only through a `#` at this level.
      return (l ?? r) === undefined || (l ?? r) === '#'
    }
    if (l !== '+' && r !== '+' && l !== r) return false
  }
}

/**
 * The narrowest single filter (of this merge) that matches every topic either filter matches: equal
 * levels are kept, differing levels become `+`, and where the lengths differ or a `#` appears, `#`.
 */
function generalize(a: string, b: string): string {
  const x = a.split('/')
  const y = b.split('/')
  const out: string[] = []
  for (let i = 0; ; i++) {
    const l = x[i]
    const r = y[i]
    if (l === undefined && r === undefined) return out.join('/')
    if (l === undefined || r === undefined || l === '#' || r === '#') {
      out.push('#')
      return out.join('/')
    }
    out.push(l === r ? l : '+')
  }
}

/**
 * The filters to subscribe to for `filters`: pairwise non-overlapping, and together matching every
 * topic any of `filters` matches. Overlapping filters are merged into one that covers both
 * (`office1/+/temp` and `office1/a/#` → `office1/+/#`); the seller then matches each message against
 * the products' own filters.
 *
 * Why: a broker may deliver one copy of a message per matching subscription of a client (MQTT 3.1.1
 * §3.3.5 allows it; mosquitto 2.0 sends one, other brokers may not), which would put a reading twice
 * into a product's stream when two products' filters overlap (`office1/#` and `office1/co2`).
 * Subscriptions that never overlap get each message at most once, on every broker.
 *
 * @param filters - valid topic filters, duplicates allowed
 * @returns filters none of which overlaps another
 */
export function subscriptionFilters(filters: Iterable<string>): string[] {
  const out: string[] = []
  for (const filter of filters) {
    let merged = filter
    // Merging may make the result overlap filters kept earlier: absorb them until none does.
    for (let i = out.findIndex((f) => filtersOverlap(f, merged)); i >= 0; ) {
      merged = generalize(out[i]!, merged)
      out.splice(i, 1)
      i = out.findIndex((f) => filtersOverlap(f, merged))
    }
    out.push(merged)
  }
  return out
}
