declare const PUSHWIRE_VERSION: string | undefined;

/** Set by build.mjs from package.json; "dev" when running unbundled sources. */
export const VERSION: string = typeof PUSHWIRE_VERSION === "string" ? PUSHWIRE_VERSION : "dev";
