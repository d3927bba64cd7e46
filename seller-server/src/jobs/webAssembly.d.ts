/**
 * The part of the WebAssembly JavaScript API (https://webassembly.github.io/spec/js-api/) the job
 * sandbox uses. TypeScript declares it only in its DOM libraries, which a Node package does not load;
 * Node has the API as a global.
 */
declare namespace WebAssembly {
  type ImportExportKind = 'function' | 'table' | 'memory' | 'global' | 'tag'
  interface ModuleImportDescriptor {
    module: string
    name: string
    kind: ImportExportKind
  }
  interface ModuleExportDescriptor {
    name: string
    kind: ImportExportKind
  }
  class Module {
    constructor(bytes: ArrayBufferView | ArrayBuffer)
    static imports(module: Module): ModuleImportDescriptor[]
    static exports(module: Module): ModuleExportDescriptor[]
  }
  class Instance {
    constructor(module: Module, imports?: Record<string, Record<string, unknown>>)
    readonly exports: Record<string, unknown>
  }
  class Memory {
    constructor(descriptor: { initial: number; maximum?: number })
    readonly buffer: ArrayBuffer
    grow(delta: number): number
  }
  class CompileError extends Error {}
  class LinkError extends Error {}
  class RuntimeError extends Error {}
}
