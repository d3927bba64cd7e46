/**
 * A duration for people, in its largest whole unit: `1 h`, `90 min`, `45 s`, `2 d`.
 * @param seconds - the duration, seconds
 */
export function formatDuration(seconds: bigint): string {
  const units: [bigint, string][] = [
    [86_400n, 'd'],
    [3_600n, 'h'],
    [60n, 'min'],
  ]
  for (const [size, name] of units)
    if (seconds >= size && seconds % size === 0n) return `${seconds / size} ${name}`
  return `${seconds} s`
}
