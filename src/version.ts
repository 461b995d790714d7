declare const PUSHWIRE_VERSION: string | undefined;
declare const PUSHWIRE_COMMIT: string | undefined;

/** Set by build.mjs from package.json; "dev" when running unbundled sources. */
export const VERSION: string = typeof PUSHWIRE_VERSION === "string" ? PUSHWIRE_VERSION : "dev";

/** The git commit the bundle was built from (with "-dirty" for uncommitted changes); "unknown" without git. */
export const BUILD_COMMIT: string = typeof PUSHWIRE_COMMIT === "string" ? PUSHWIRE_COMMIT : "unknown";
