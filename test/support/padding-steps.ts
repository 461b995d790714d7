/** push-stream's padding step rule (PROTOCOL.md §8.7): 100·(⌊D/100⌋+1) bytes, or exactly MAX on the last step. */
export function expectedPadding(length: number, min: number, max: number): number {
  const missing = min - length;
  if (missing <= 0) return 0;
  const step = Math.floor(missing / 100);
  return step === Math.floor(max / 100) ? max : 100 * (step + 1);
}
