const NUMERALS: [number, string][] = [[1000, "M"], [500, "D"], [100, "C"], [50, "L"], [10, "X"], [5, "V"], [1, "I"]];

/** n (1..3999) in Roman numerals. */
export function toRoman(n: number): string {
  let out = "";
  for (const [value, letters] of NUMERALS) {
    while (n >= value) {
      out += letters;
      n -= value;
    }
  }
  return out;
}
