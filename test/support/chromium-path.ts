import { existsSync, readdirSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/**
 * Where the browser tests find Chromium, and why they skip when there is none. One answer for
 * every browser suite and for `tools/ensure-chromium` (the step of `npm test` that installs it
 * where it can), so a run either uses the same browser everywhere or says once why it has none.
 */

/** Debian/Ubuntu packages, Google's package, and Chromium builds that playwright downloaded. */
const SYSTEM_PATHS = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome", "/usr/bin/google-chrome-stable", "/snap/bin/chromium"];

function playwrightBuilds(): string[] {
  const cache = process.env["PLAYWRIGHT_BROWSERS_PATH"] || join(homedir(), ".cache", "ms-playwright");
  let entries: string[];
  try {
    entries = readdirSync(cache).filter((name) => name.startsWith("chromium-")).sort().reverse();
  } catch {
    return [];
  }
  return entries.flatMap((name) => [join(cache, name, "chrome-linux64", "chrome"), join(cache, name, "chrome-linux", "chrome")]);
}

/** The Chromium the browser tests launch: $PUSHWIRE_CHROMIUM, else the first one installed. */
export function findChromium(): string | null {
  const chosen = process.env["PUSHWIRE_CHROMIUM"];
  if (chosen) return existsSync(chosen) ? chosen : null;
  return [...SYSTEM_PATHS, ...playwrightBuilds()].find((path) => existsSync(path)) ?? null;
}

/** What a skipped browser suite says; false when the suites run. */
export function browserSkipReason(): string | false {
  if (process.env["PUSHWIRE_SKIP_BROWSER"] === "1") return "PUSHWIRE_SKIP_BROWSER=1";
  if (findChromium()) return false;
  const chosen = process.env["PUSHWIRE_CHROMIUM"];
  return chosen
    ? `PUSHWIRE_CHROMIUM=${chosen} does not exist`
    : `no Chromium found (${SYSTEM_PATHS.join(", ")}, playwright's cache); install Debian's chromium or set PUSHWIRE_CHROMIUM`;
}
