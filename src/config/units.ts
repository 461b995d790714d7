/**
 * nginx-style values: durations ("40s", "30m", "24h", "1d", "500ms", or a number of seconds)
 * and sizes ("256M", "32k", or a number of bytes). Each parser returns undefined on bad input
 * so the caller can name the key in its message.
 */

const DURATION_UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, M: 2592000, y: 31536000 };
const SIZE_UNITS: Record<string, number> = { "": 1, k: 1024, K: 1024, m: 1048576, M: 1048576, g: 1073741824, G: 1073741824 };

/** Seconds (possibly fractional). Like nginx, several parts add up: "1h30m", "1h 30m". */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== "string") return undefined;
  const text = value.trim();
  if (text === "") return undefined;
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w|M|y)?\s*/y;
  let total = 0;
  while (part.lastIndex < text.length) {
    const at = part.lastIndex;
    const m = part.exec(text);
    if (!m) return undefined;
    // A bare number (seconds) may only be the last part: "1h 30" is fine, "30 1h" is not.
    if (m[2] === undefined && part.lastIndex < text.length) return undefined;
    total += Number(m[1]) * DURATION_UNITS[m[2] ?? "s"]!;
    if (part.lastIndex === at) return undefined;
  }
  return total;
}

/** Bytes. */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== "string") return undefined;
  const m = /^\s*(\d+)([kKmMgG]?)\s*$/.exec(value);
  if (!m) return undefined;
  return Number(m[1]) * SIZE_UNITS[m[2]!]!;
}
