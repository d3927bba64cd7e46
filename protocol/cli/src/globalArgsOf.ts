import type { Command } from 'commander'

/**
 * The global flags given on this command line (`--config x`, `--key-file y`, …), in the order commander
 * defines them, so commands printed for the user (resume, refund) reach the same marketplace with the
 * same key. Defaults, the environment and the config file are not repeated: they still apply.
 */
export function globalArgsOf(program: Command): string[] {
  const args: string[] = []
  for (const option of program.options) {
    const key = option.attributeName()
    if (program.getOptionValueSource(key) !== 'cli') continue
    const value: unknown = program.getOptionValue(key)
    const flag = option.long ?? option.short!
    if (value === true) args.push(flag)
    else if (Array.isArray(value)) for (const v of value) args.push(flag, String(v))
    else if (value !== undefined && value !== false) args.push(flag, String(value))
  }
  return args
}
