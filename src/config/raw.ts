/** A configuration level as parsed from JSON, before it is checked. */
export type Raw = Record<string, unknown>;

/** A JSON object (not an array, not null): a level of the configuration. */
export function isObject(value: unknown): value is Raw {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
