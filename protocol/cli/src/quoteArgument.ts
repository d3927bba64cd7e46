/**
 * Quotes one argument for a POSIX shell, so a printed command can be pasted back: safe characters as
 * they are, anything else in single quotes. (Small enough not to add `shell-quote` to the CLI's
 * dependencies for it.)
 */
export function quoteArgument(arg: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg
  return `'${arg.replace(/'/g, `'\\''`)}'`
}
