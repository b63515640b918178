/** The n largest values, largest first. */
export function largest(values: number[], n: number): number[] {
  return [...values].sort((a, b) => b - a).slice(0, n);
}
