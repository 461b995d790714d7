/**
 * Text put inside a double-quoted JSON string: `"`, `\` and control characters escaped, everything
 * else (non-ASCII included) as it is. Values that need nothing — nearly all — come back unchanged
 * without allocating.
 */
export function escapeJsonString(text: string): string {
  return NEEDS_JSON_ESCAPE.test(text) ? JSON.stringify(text).slice(1, -1) : text;
}

const NEEDS_JSON_ESCAPE = /["\\\x00-\x1f]/;
