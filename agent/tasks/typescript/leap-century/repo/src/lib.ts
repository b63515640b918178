/** Whether year has a 29 February. */
export function isLeap(year: number): boolean {
  return year % 4 === 0;
}
