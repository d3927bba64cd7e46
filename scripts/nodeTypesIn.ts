/**
 * Whether a TypeScript project compiles with Node's types: browser-safe packages must not, or a
 * `Buffer` or `process` would type-check and only fail in a browser.
 */
import ts from 'typescript'

/**
 * Reads a tsconfig (following `extends`) and says what is wrong with its `types`, if anything.
 * @param tsconfigPath - absolute path of a `tsconfig*.json`
 * @returns why Node's types are visible to the project, or `undefined` when they are not
 * @throws Error when the file cannot be read or parsed
 */
export function nodeTypesIn(tsconfigPath: string): string | undefined {
  const parsed = ts.getParsedCommandLineOfConfigFile(tsconfigPath, undefined, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'))
    },
  })
  if (!parsed) throw new Error(`cannot read ${tsconfigPath}`)
  const types = parsed.options.types
  if (types === undefined)
    return 'has no `types` list, so every installed @types package (@types/node too) applies'
  if (types.some((t) => t === 'node' || t.startsWith('node/')))
    return `lists Node's types: "types": ${JSON.stringify(types)}`
  return undefined
}
