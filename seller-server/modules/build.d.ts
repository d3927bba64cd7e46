/** Where the built modules are. */
export declare const MODULES_OUT_DIR: string
/** The modules this build makes, by name. */
export declare const JOB_MODULES: {
  readonly airQualityStats: {
    readonly sources: readonly ['src/airQualityStats.c', 'src/airQuality.h']
    readonly flags: readonly ['-lm']
  }
  readonly airQualityReport: {
    readonly sources: readonly ['src/airQualityReport.c', 'src/airQuality.h']
    readonly flags: readonly ['-lm']
  }
  readonly attack: {
    readonly sources: readonly ['attacks/attack.c']
    readonly flags: readonly []
  }
  readonly importsSystem: {
    readonly sources: readonly ['attacks/importsSystem.c']
    readonly flags: readonly []
  }
  readonly hugeMemory: {
    readonly sources: readonly ['attacks/hugeMemory.c']
    readonly flags: readonly ['-Wl,--initial-memory=1073741824']
  }
}
/** A module's name. */
export type JobModuleName = keyof typeof JOB_MODULES
/**
 * Builds every job module that is missing or older than its sources, two at a time.
 *
 * @returns the path of each module's `.wasm`
 * @throws Error when clang is missing or a source does not compile (clang's message attached)
 */
export declare function buildJobModules(): Promise<Record<JobModuleName, string>>
