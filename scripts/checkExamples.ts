/**
 * `npm run check:examples`: compiles every TypeScript example the project documents, so documented
 * code cannot rot. It collects the ```ts blocks of every README.md and the TSDoc ```ts blocks of every
 * source file (`src/**\/*.ts`), writes each as its own module under `.examples/` (ignored by git),
 * and type-checks them with the repository's strict settings; an error names the example's source
 * file and line. Examples are whole programs: they import what they use and declare what they need.
 * @module
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const outDir = join(root, '.examples')

/** One documented example: where it is and its code. */
interface Example {
  source: string
  line: number
  code: string
}

/** Every README.md and package entry under `dir`, skipping dependencies, builds and git. */
function documents(dir: string, found: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name.startsWith('.') || name === 'node_modules' || name.startsWith('dist')) continue
    const path = join(dir, name)
    if (statSync(path).isDirectory()) documents(path, found)
    else if (name === 'README.md' || (name.endsWith('.ts') && path.includes(`${sep}src${sep}`)))
      found.push(path)
  }
  return found
}

/** The ```ts fences of a Markdown file, or of the TSDoc comments of a TypeScript file. */
function examplesOf(path: string): Example[] {
  const lines = readFileSync(path, 'utf8').split('\n')
  const inComment = path.endsWith('.ts')
  const out: Example[] = []
  let start = -1
  let body: string[] = []
  lines.forEach((raw, index) => {
    const line = inComment ? raw.replace(/^\s*\* ?/, '') : raw
    if (start < 0 && /^```(ts|typescript)\s*$/.test(line.trim())) {
      start = index + 1
      body = []
    } else if (start >= 0 && line.trim() === '```') {
      out.push({ source: relative(root, path), line: start, code: body.join('\n') })
      start = -1
    } else if (start >= 0) body.push(line)
  })
  return out
}

const examples = documents(root).flatMap(examplesOf)
rmSync(outDir, { recursive: true, force: true })
mkdirSync(outDir, { recursive: true })
const names = examples.map((example, i) => {
  const name = `${String(i).padStart(3, '0')}-${example.source.replace(/[/.]/g, '_')}-L${example.line}.ts`
  writeFileSync(join(outDir, name), `// ${example.source}:${example.line}\n${example.code}\nexport {}\n`)
  return name
})
writeFileSync(
  join(outDir, 'tsconfig.json'),
  JSON.stringify({
    extends: '../tsconfig.base.json',
    compilerOptions: { noEmit: true, composite: false, incremental: false, emitDeclarationOnly: false },
    files: names,
  }),
)
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
try {
  execFileSync(process.execPath, [tsc, '-p', outDir], { cwd: root, stdio: 'pipe', encoding: 'utf8' })
} catch (err) {
  const output = `${(err as { stdout?: string }).stdout ?? ''}${(err as { stderr?: string }).stderr ?? ''}`
  // Name the document, not the scratch file: each scratch file's first line says where it came from.
  console.error(
    output.replace(/\.examples\/(\d{3})-[^(]*\((\d+),(\d+)\)/g, (_, i: string, line: string, col: string) => {
      const example = examples[Number(i)]!
      return `${example.source}:${example.line + Number(line) - 2}:${col}`
    }),
  )
  console.error(`check:examples: documented examples do not compile (${examples.length} checked)`)
  process.exit(1)
}
console.log(`check:examples: ${examples.length} documented examples compile`)
