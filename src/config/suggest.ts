/**
 * "did you mean": the known word a mistyped one was most likely meant to be — a few letters
 * off (`--chek`, `longpolling`) or cut short (`long-poll`, `stream`). Pure.
 */

/** Edits (insert, delete, replace) between two short words. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** The candidate closest to `word` (case-insensitive), if it is close enough to be a typo of it. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const typed = word.toLowerCase();
  if (typed.length < 2) return undefined;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const known = candidate.toLowerCase();
    // A word cut short counts as close: `long-poll` for `long-polling`.
    const d = typed.length >= 3 && known.startsWith(typed) ? 1 : distance(typed, known);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(1, Math.floor(typed.length / 3)) ? best : undefined;
}

/** ` (did you mean "x"?)` or nothing: for the end of an error message. */
export function didYouMean(word: string, candidates: readonly string[], quote = "\""): string {
  const hit = closest(word, candidates);
  return hit ? ` (did you mean ${quote}${hit}${quote}?)` : "";
}
