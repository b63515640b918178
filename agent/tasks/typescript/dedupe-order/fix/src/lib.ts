/** items without repeats. */
export function dedupe(items: string[]): string[] {
  return [...new Set(items)];
}
