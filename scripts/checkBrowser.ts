/**
 * `npm run check:browser [-- <package dir>]` (default `protocol`): proves a package runs unchanged in
 * a browser. It bundles the package's entry for the browser platform ({@link findNodeOnlyCode}: the
 * workspace packages from their TypeScript sources through the `trickle-source` condition, every
 * third-party package through its browser conditions) and fails when any module of the graph imports
 * a Node builtin or reads the `Buffer` global, printing the import chain that pulls it in; and it
 * fails when a workspace package of the graph compiles with Node's types (its `tsconfig.json` and
 * `tsconfig.build.json`). Exit code 0 when clean, 1 when not.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { findNodeOnlyCode, type NodeOnlyCode } from './findNodeOnlyCode.ts'
import { nodeTypesIn } from './nodeTypesIn.ts'

/**
 * Third-party packages allowed to read `Buffer`, and why: each tests for it and falls back to
 * `Uint8Array` when it is absent (a browser). Anything else reading it fails the check.
 */
const BUFFER_FEATURE_DETECTION: Readonly<Record<string, string>> = {
  msgpackr:
    'tests `typeof Buffer` and allocates Uint8Array without it; its Buffer-only streaming iterators (packIter, unpackIter) are not used by Trickle',
  cborg: 'tests `globalThis.Buffer` (through @ipld/dag-json) and uses Uint8Array without it',
}

/**
 * Workspace packages whose tsconfig may list Node's types, and why: the type check is per project,
 * so a Node-only subpath export in the same project brings them in; the bundle walk above still proves
 * that the package's main entry reaches no Node module.
 */
const NODE_TYPES_FOR_SUBPATH: Readonly<Record<string, string>> = {
  'protocol/sdk':
    'its `@trickle/sdk/node` subpath (the file key store) compiles in the same project; the main entry is checked by the walk',
}

const repoRoot = resolve(import.meta.dirname, '..')
const packageDir = resolve(process.cwd(), process.argv[2] ?? join(repoRoot, 'protocol'))

/** The entry module of a package: its `.` export under `trickle-source`, else the browser's one. */
function entryOf(dir: string): { name: string; entry: string } {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
    name: string
    exports?: string | Record<string, string | Record<string, string>>
    main?: string
  }
  const dot = typeof pkg.exports === 'string' ? pkg.exports : pkg.exports?.['.']
  const target =
    typeof dot === 'string'
      ? dot
      : (dot?.['trickle-source'] ?? dot?.browser ?? dot?.import ?? dot?.default ?? pkg.main)
  if (target === undefined) throw new Error(`${dir}/package.json exports no "." entry`)
  return { name: pkg.name, entry: resolve(dir, target) }
}

/** The installed package a module belongs to (`@scope/name`), or undefined for a workspace module. */
function dependencyOf(moduleId: string): string | undefined {
  const at = moduleId.lastIndexOf(`${sep}node_modules${sep}`)
  if (at < 0) return undefined
  const parts = moduleId.slice(at + 14).split(sep)
  return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]
}

/** The directory of the package.json nearest to a workspace module. */
function packageDirOf(moduleId: string): string | undefined {
  for (let dir = dirname(moduleId); dir.startsWith(repoRoot); dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir
    if (dir === repoRoot) break
  }
  return undefined
}

const show = (f: NodeOnlyCode) =>
  `${f.kind === 'builtin' ? `imports ${f.name}` : 'reads the Buffer global'}:\n      ${f.chain.join('\n    → ')}`

const { name, entry } = entryOf(packageDir)
const graph = await findNodeOnlyCode(entry, { conditions: ['trickle-source'], root: repoRoot })
const failures: string[] = []
const allowed: string[] = []
for (const finding of graph.findings) {
  const dependency = dependencyOf(finding.module)
  const reason = finding.kind === 'buffer-global' && dependency && BUFFER_FEATURE_DETECTION[dependency]
  if (reason) allowed.push(`Buffer read in ${relative(repoRoot, finding.module)}: ${reason}`)
  else failures.push(show(finding))
}
const workspacePackages = new Set<string>()
for (const id of graph.modules) {
  const dir = id.startsWith('\0') || dependencyOf(id) ? undefined : packageDirOf(id)
  if (dir) workspacePackages.add(dir)
}
let tsconfigs = 0
for (const dir of workspacePackages) {
  for (const file of ['tsconfig.json', 'tsconfig.build.json']) {
    const path = join(dir, file)
    if (!existsSync(path)) continue
    tsconfigs++
    const problem = nodeTypesIn(path)
    const reason = NODE_TYPES_FOR_SUBPATH[relative(repoRoot, dir).split(sep).join('/')]
    if (problem && reason) allowed.push(`${relative(repoRoot, path)} ${problem}: ${reason}`)
    else if (problem) failures.push(`${relative(repoRoot, path)} ${problem}`)
  }
}

console.log(
  `check:browser ${name} (${relative(repoRoot, entry)}): ${graph.modules.length} modules, ` +
    `${workspacePackages.size} workspace packages, ${tsconfigs} tsconfigs`,
)
for (const line of allowed) console.log(`  allowed: ${line}`)
if (failures.length > 0) {
  console.error(`check:browser FAILED: ${name} has Node-only code in its browser graph`)
  for (const line of failures) console.error(`  ✗ ${line}`)
  process.exitCode = 1
} else {
  console.log('check:browser ok: no Node builtin, no Buffer global, no Node types')
}
