/**
 * Walks the import graph a browser bundler builds from one entry module and reports what only Node
 * has: an import of a Node builtin (`node:fs`, or a bare `fs`, `crypto`, `buffer`, … that no installed
 * package of that name stands in for) and any reference to the `Buffer` global.
 *
 * The graph is Vite's production library build for the browser platform (rolldown underneath), so
 * packages resolve exactly as in a developer's bundle: their `exports` with the browser conditions
 * (`module`, `browser`, `import`, `default`) and their `browser` field. `conditions` are added in
 * front: `npm run check:browser` adds `trickle-source` so the workspace packages are read from their
 * TypeScript sources (no build needed; `tsc` changes nothing in their import graph) while every
 * third-party package still resolves to what a browser gets.
 */
import { isBuiltin } from 'node:module'
import { relative } from 'node:path'
import { build, type Plugin, parseAst } from 'vite'

/** One piece of Node-only code in the graph. */
export interface NodeOnlyCode {
  /** `builtin`: imports a Node builtin module; `buffer-global`: reads the `Buffer` global */
  kind: 'builtin' | 'buffer-global'
  /** the import specifier (`node:fs`), or `Buffer` */
  name: string
  /** absolute id of the module that does it */
  module: string
  /** module ids from the entry to the module that does it, relative to `root` */
  chain: string[]
}

/** Options of {@link findNodeOnlyCode}. */
export interface FindNodeOnlyCodeOptions {
  /** export conditions tried before the browser ones (e.g. `['trickle-source']`) */
  conditions?: readonly string[]
  /** directory module ids are shown relative to (default: the working directory) */
  root?: string
}

/** What {@link findNodeOnlyCode} found. */
export interface BrowserGraph {
  /** every module in the graph, absolute ids (virtual modules start with `\0`) */
  modules: string[]
  /** Node-only code, in the order the bundler met it */
  findings: NodeOnlyCode[]
}

/** The conditions Vite resolves with for the browser, after any extra ones. */
const BROWSER_CONDITIONS = ['module', 'browser', 'production']

/**
 * Bundles `entry` for the browser (nothing written) and lists its Node-only code.
 * @param entry - absolute path of the entry module (`.ts` or `.js`)
 * @returns every module of the graph and the Node-only code found, each with its import chain
 * @throws whatever the bundler throws when the graph does not build (a missing module or export)
 */
export async function findNodeOnlyCode(
  entry: string,
  options: FindNodeOnlyCodeOptions = {},
): Promise<BrowserGraph> {
  const root = options.root ?? process.cwd()
  /** the first importer seen of each module: a path back to the entry from any module */
  const importerOf = new Map<string, string>()
  const findings: NodeOnlyCode[] = []
  const chainTo = (id: string): string[] => {
    const chain = [id]
    for (let at = importerOf.get(id); at !== undefined; at = importerOf.get(at)) chain.unshift(at)
    return chain.map((m) => (m.startsWith('\0') ? m.slice(1) : relative(root, m)))
  }

  const graph: Plugin = {
    name: 'trickle:node-only-imports',
    enforce: 'pre',
    async resolveId(source, importer, resolveOptions) {
      if (importer === undefined) return null
      const resolved = await this.resolve(source, importer, { ...resolveOptions, skipSelf: true })
      const builtin = source.startsWith('node:') || isBuiltin(source)
      const standIn = resolved && !resolved.external && !resolved.id.includes('browser-external')
      if (builtin && !standIn) {
        findings.push({ kind: 'builtin', name: source, module: importer, chain: chainTo(importer) })
        // Left out of the bundle: the finding is what matters, not the stub Vite would put there.
        return { id: source, external: true }
      }
      if (resolved && !resolved.external && !importerOf.has(resolved.id)) {
        importerOf.set(resolved.id, importer)
      }
      return resolved
    },
  }
  const bufferGlobal: Plugin = {
    name: 'trickle:buffer-global',
    enforce: 'post',
    transform(code, id) {
      // Virtual modules are the bundler's own (its runtime helpers), not part of the graph.
      if (id.startsWith('\0') || !/\bBuffer\b/.test(code)) return null
      if (readsBufferGlobal(code)) {
        findings.push({ kind: 'buffer-global', name: 'Buffer', module: id, chain: chainTo(id) })
      }
      return null
    },
  }

  const output = await build({
    configFile: false,
    logLevel: 'silent',
    root,
    mode: 'production',
    resolve: { conditions: [...(options.conditions ?? []), ...BROWSER_CONDITIONS] },
    plugins: [graph, bufferGlobal],
    build: {
      write: false,
      minify: false,
      lib: { entry, formats: ['es'], fileName: 'entry' },
    },
  })
  const outputs = Array.isArray(output) ? output : [output]
  const modules = new Set<string>()
  for (const o of outputs) {
    if (!('output' in o)) continue
    for (const chunk of o.output) {
      if (chunk.type === 'chunk') for (const id of chunk.moduleIds) modules.add(id)
    }
  }
  return { modules: [...modules], findings }
}

/** An ESTree node, as far as this walk needs it. */
interface AstNode {
  type: string
  [key: string]: unknown
}

const isNode = (value: unknown): value is AstNode =>
  typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string'

/**
 * Whether the module reads a global `Buffer`: an identifier `Buffer` in an expression (not a property
 * name, not a declaration), or `globalThis.Buffer` and the like. A module that declares or imports a
 * binding named `Buffer` anywhere is taken to use its own (no scope analysis).
 */
export function readsBufferGlobal(code: string): boolean {
  const program = parseAst(code) as unknown as AstNode
  let declares = false
  let reads = false
  const visit = (node: AstNode, parent: AstNode | undefined, key: string | undefined): void => {
    if (node.type === 'Identifier' && node.name === 'Buffer' && parent) {
      if (isDeclaration(parent, key)) declares = true
      else if (!isPropertyName(parent, key)) reads = true
    }
    if (
      node.type === 'MemberExpression' &&
      isNode(node.object) &&
      node.object.type === 'Identifier' &&
      ['globalThis', 'global', 'window', 'self'].includes(node.object.name as string) &&
      isNode(node.property) &&
      (node.property.name === 'Buffer' || node.property.value === 'Buffer')
    ) {
      reads = true
    }
    for (const [k, value] of Object.entries(node)) {
      if (Array.isArray(value)) {
        for (const v of value) if (isNode(v)) visit(v, node, k)
      } else if (isNode(value)) {
        visit(value, node, k)
      }
    }
  }
  visit(program, undefined, undefined)
  return reads && !declares
}

function isDeclaration(parent: AstNode, key: string | undefined): boolean {
  switch (parent.type) {
    case 'VariableDeclarator':
    case 'ClassDeclaration':
    case 'ClassExpression':
      return key === 'id'
    case 'FunctionDeclaration':
    case 'FunctionExpression':
    case 'ArrowFunctionExpression':
      return key === 'id' || key === 'params'
    case 'ImportSpecifier':
    case 'ImportDefaultSpecifier':
    case 'ImportNamespaceSpecifier':
      return key === 'local'
    case 'CatchClause':
      return key === 'param'
    default:
      return false
  }
}

function isPropertyName(parent: AstNode, key: string | undefined): boolean {
  switch (parent.type) {
    case 'MemberExpression':
      return key === 'property' && parent.computed !== true
    case 'Property':
    case 'MethodDefinition':
    case 'PropertyDefinition':
      return key === 'key' && parent.computed !== true
    case 'ExportSpecifier':
    case 'ImportSpecifier':
      return true
    default:
      return false
  }
}
