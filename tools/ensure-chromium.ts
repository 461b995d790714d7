import { browserSkipReason, findChromium } from "../test/support/chromium-path.js";
import { aptInstall, describeProgram } from "./apt-install.js";

/**
 * The step of `npm test` that gets the browser tests a browser: it finds Chromium, or installs
 * Debian's package when this user can (root, or sudo without a password, with apt-get), or says
 * in one line why the browser suites will be skipped. It fails the run only when
 * PUSHWIRE_REQUIRE_BROWSER=1 (CI sets it: there, a skipped browser suite would hide a defect).
 */

function say(line: string): void {
  process.stdout.write(`browser tests: ${line}\n`);
}

function main(): number {
  const required = process.env["PUSHWIRE_REQUIRE_BROWSER"] === "1";
  if (process.env["PUSHWIRE_SKIP_BROWSER"] === "1") {
    say("SKIPPED (PUSHWIRE_SKIP_BROWSER=1)");
    return required ? 1 : 0;
  }
  let whyNone = "";
  if (!findChromium() && !process.env["PUSHWIRE_CHROMIUM"]) {
    say("no Chromium found");
    whyNone = aptInstall(["chromium"], say) ?? "";
  }
  const found = findChromium();
  if (found) {
    say(describeProgram(found));
    return 0;
  }
  say(`SKIPPED: ${browserSkipReason()}${whyNone ? `; ${whyNone}` : ""}`);
  return required ? 1 : 0;
}

process.exitCode = main();
