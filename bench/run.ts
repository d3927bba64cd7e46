/**
 * `npm run bench [-- <name>…]`: runs the benchmarks (all, or those named), merges their figures into
 * `bench/results.json` and regenerates `bench/RESULTS.md`. To add a benchmark, export a
 * {@link Benchmark} from its own file and list it in `benchmarks` below.
 */
import { adversaryBenchmark } from './adversary.ts'
import { gasBenchmark } from './gas.ts'
import { hostileBenchmark } from './hostile.ts'
import { jobSealingBenchmark } from './jobSealing.ts'
import { jobsBenchmark } from './jobs.ts'
import { protocolBenchmark } from './protocol.ts'
import { type Benchmark, describeMachine, meetsGoal, readResults, recordResults } from './results.ts'
import { sellerLatencyBenchmark } from './sellerLatency.ts'

const benchmarks: Benchmark[] = [
  gasBenchmark,
  protocolBenchmark,
  hostileBenchmark,
  adversaryBenchmark,
  sellerLatencyBenchmark,
  jobsBenchmark,
  jobSealingBenchmark,
]

const requested = process.argv.slice(2)
const unknown = requested.filter((name) => !benchmarks.some((benchmark) => benchmark.name === name))
if (unknown.length > 0) {
  console.error(
    `unknown benchmark(s): ${unknown.join(', ')}; known: ${benchmarks.map((b) => b.name).join(', ')}`,
  )
  process.exit(2)
}
const selected = requested.length === 0 ? benchmarks : benchmarks.filter((b) => requested.includes(b.name))
const machine = describeMachine()
const previous = new Map((await readResults()).map((entry) => [entry.name, entry.value]))
for (const benchmark of selected) {
  const started = performance.now()
  const measurements = await benchmark.run()
  await recordResults(measurements, { machine })
  const seconds = ((performance.now() - started) / 1000).toFixed(1)
  console.log(`${benchmark.name}: ${measurements.length} figures in ${seconds} s`)
  for (const { name, value, unit, goal } of measurements) {
    const met = meetsGoal(value, goal)
    const verdict = met === undefined ? '' : met ? ', goal met' : ', GOAL MISSED'
    const before = previous.get(name)
    const change = before === undefined || before === value ? '' : `, was ${before}`
    console.log(`  ${name}: ${value} ${unit}${change}${verdict}`)
  }
}
console.log('written bench/results.json and bench/RESULTS.md')
