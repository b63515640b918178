/** items without repeats. */
export function dedupe(items: string[]): string[] {
  return [...items].sort().filter((x, i, all) => i === 0 || all[i - 1] !== x);
}
