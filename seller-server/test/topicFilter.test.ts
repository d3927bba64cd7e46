import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { topicRouter } from '../src/mqttSource.ts'
import { filtersOverlap, subscriptionFilters, topicFilterProblem, topicMatches } from '../src/topicFilter.ts'

describe('topicMatches (MQTT 3.1.1 §4.7)', () => {
  it.each([
    ['office1/co2', 'office1/co2', true],
    ['office1/co2', 'office1/co', false],
    ['office1/+', 'office1/co2', true],
    ['office1/+', 'office1', false],
    ['office1/+', 'office1/a/b', false],
    ['office1/+', 'office1/', true], // an empty level is a level
    ['office1/+/temp', 'office1/room2/temp', true],
    ['office1/+/temp', 'office1/room2/rh', false],
    ['office1/#', 'office1/co2', true],
    ['office1/#', 'office1/a/b/c', true],
    ['office1/#', 'office1', true], // `#` includes the parent level
    ['office1/#', 'office2/co2', false],
    ['#', 'anything/at/all', true],
    ['+/+', 'a/b', true],
    ['+', '/a', false],
    ['+/a', '/a', true],
    // Filters starting with a wildcard do not match topics starting with `$` (§4.7.2)
    ['#', '$SYS/broker/uptime', false],
    ['+/broker/uptime', '$SYS/broker/uptime', false],
    ['$SYS/#', '$SYS/broker/uptime', true],
    ['$SYS/+/uptime', '$SYS/broker/uptime', true],
  ])('%s matches %s: %s', (filter, topic, expected) => {
    expect(topicMatches(filter, topic)).toBe(expected)
  })
})

describe('topicFilterProblem', () => {
  it.each(['office1/#', '#', '+', 'a/+/b', 'a//b', '$SYS/#'])('accepts %s', (f) => {
    expect(topicFilterProblem(f)).toBeUndefined()
  })
  it.each(['', 'a/#/b', 'a/b#', 'a+/b', 'a/+b', '##', 'a\u0000b'])('refuses %j', (f) => {
    expect(topicFilterProblem(f)).toBeTypeOf('string')
  })
})

// Small alphabets so that random filters and topics meet often.
const level = fc.constantFrom('a', 'b', '', '$s')
const topic = fc.array(level, { minLength: 1, maxLength: 4 }).map((l) => l.join('/'))
const filter = fc
  .tuple(fc.array(fc.constantFrom('a', 'b', '', '+', '$s'), { minLength: 1, maxLength: 4 }), fc.boolean())
  .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'))
  .filter((f) => topicFilterProblem(f) === undefined)

describe('filtersOverlap and subscriptionFilters', () => {
  it('a topic matched by two filters means they overlap', () => {
    fc.assert(
      fc.property(filter, filter, topic, (f, g, t) => {
        if (topicMatches(f, t) && topicMatches(g, t)) expect(filtersOverlap(f, g)).toBe(true)
      }),
      { numRuns: 5000 },
    )
  })

  it('overlapping filters share a topic', () => {
    // a witness: each `+` as `a`, `#` dropped (it matches the parent), the other's literals kept
    fc.assert(
      fc.property(filter, filter, (f, g) => {
        if (!filtersOverlap(f, g)) return
        const x = f.split('/')
        const y = g.split('/')
        const levels: string[] = []
        for (let i = 0; i < Math.max(x.length, y.length); i++) {
          const l = x[i]
          const r = y[i]
          if (l === '#' || r === '#' || l === undefined || r === undefined) {
            const rest = (l === '#' || l === undefined ? y : x).slice(i).filter((s) => s !== '#')
            levels.push(...rest.map((s) => (s === '+' ? 'a' : s)))
            break
          }
          levels.push(l === '+' ? (r === '+' ? 'a' : r) : l)
        }
        const witness = levels.join('/')
        if (witness === '' && levels.length === 0) return // `#` against `#`-ending filters: any topic
        expect(topicMatches(f, witness) && topicMatches(g, witness)).toBe(true)
      }),
      { numRuns: 5000 },
    )
  })

  it('covers every topic of the filters with subscriptions that never overlap', () => {
    fc.assert(
      fc.property(
        fc.array(filter, { minLength: 1, maxLength: 6 }),
        fc.array(topic, { maxLength: 20 }),
        (fs, ts) => {
          const subs = subscriptionFilters(fs)
          for (let i = 0; i < subs.length; i++) {
            for (let j = i + 1; j < subs.length; j++) expect(filtersOverlap(subs[i]!, subs[j]!)).toBe(false)
          }
          for (const t of ts) {
            const wanted = fs.some((f) => topicMatches(f, t))
            const delivered = subs.filter((s) => topicMatches(s, t)).length
            if (wanted) expect(delivered).toBe(1)
          }
        },
      ),
      { numRuns: 3000 },
    )
  })

  it('merges overlapping product filters into one subscription', () => {
    expect(subscriptionFilters(['office1/#', 'office1/co2', 'office2/+'])).toEqual(['office1/#', 'office2/+'])
    expect(subscriptionFilters(['office1/+/temp', 'office1/a/#'])).toEqual(['office1/+/#'])
    expect(subscriptionFilters(['a/b', 'a/c'])).toEqual(['a/b', 'a/c'])
  })
})

describe('topicRouter', () => {
  it('routes a topic to every product whose filter matches, each product once', () => {
    const route = topicRouter(
      new Map([
        ['all', ['office1/#', 'office1/co2']],
        ['co2', ['office1/co2']],
        ['rooms', ['office1/+/temp']],
      ]),
    )
    expect(route('office1/co2')).toEqual(['all', 'co2'])
    expect(route('office1/r1/temp')).toEqual(['all', 'rooms'])
    expect(route('office2/co2')).toEqual([])
  })
})
