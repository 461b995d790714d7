/**
 * What a reload changed, for its log line: the keys whose effective values differ between two
 * configurations in the file's own shape (what `effectiveConfig` returns), as
 * `servers[0].locations[1].longpollingConnectionTtl 40s→10s`. Pure; no I/O.
 */

/** Keys whose values never reach a log line. */
const SECRET_KEYS = new Set(["securityKey"]);
/** A value longer than this (a template, a list) is shortened in the log. */
const MAX_VALUE_LENGTH = 40;

type Json = unknown;

/** One changed key: where it is, and `path old→new` for the log. */
export interface ConfigChange {
  path: string;
  text: string;
}

function isObject(value: Json): value is Record<string, Json> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `40s`, `"Channel deleted"`, `["127.0.0.1"]`: bare when unambiguous, JSON otherwise; shortened. */
function show(value: Json): string {
  const text = typeof value === "string" && /^[^\s"]+$/.test(value) ? value : JSON.stringify(value) ?? "unset";
  return text.length > MAX_VALUE_LENGTH ? `${text.slice(0, MAX_VALUE_LENGTH - 1)}…` : text;
}

function walk(before: Json, after: Json, path: string, out: ConfigChange[]): void {
  if (isObject(before) && isObject(after)) {
    for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
      const at = path ? `${path}.${key}` : key;
      if (SECRET_KEYS.has(key)) {
        if (before[key] !== after[key]) out.push({ path: at, text: `${at} changed` });
      } else {
        walk(before[key], after[key], at, out);
      }
    }
    return;
  }
  // servers and locations: element by element; one added or removed is named, not dumped.
  if (Array.isArray(before) && Array.isArray(after) && (before.some(isObject) || after.some(isObject))) {
    for (let i = 0; i < Math.max(before.length, after.length); i++) {
      const at = `${path}[${i}]`;
      if (i >= before.length) out.push({ path: at, text: `${at} added` });
      else if (i >= after.length) out.push({ path: at, text: `${at} removed` });
      else walk(before[i], after[i], at, out);
    }
    return;
  }
  if (JSON.stringify(before) !== JSON.stringify(after)) out.push({ path, text: `${path} ${show(before)}→${show(after)}` });
}

/** Every changed key of two effective configurations, in the file's order, as `path old→new`. */
export function configChanges(before: Json, after: Json): ConfigChange[] {
  const out: ConfigChange[] = [];
  walk(before, after, "", out);
  return out;
}

/** Joins changes for one log line: at most `max` of them, then how many more. */
export function summarizeChanges(changes: readonly string[], max = 10): string {
  if (changes.length <= max) return changes.join("; ");
  return `${changes.slice(0, max).join("; ")}; and ${changes.length - max} more`;
}
