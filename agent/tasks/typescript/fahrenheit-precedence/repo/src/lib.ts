/** Degrees Fahrenheit in degrees Celsius. */
export function fahrenheitToCelsius(f: number): number {
  return f - 32 * 5 / 9;
}
