import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { browserSkipReason, findChromium } from "../test/support/chromium-path.js";

/**
 * The step of `npm test` that gets the browser tests a browser: it finds Chromium, or installs
 * Debian's package when this user can (root, or sudo without a password, with apt-get), or says
 * in one line why the browser suites will be skipped. It fails the run only when
 * PUSHWIRE_REQUIRE_BROWSER=1 (CI sets it: there, a skipped browser suite would hide a defect).
 */

const APT_TIMEOUT_MS = 10 * 60_000;

function say(line: string): void {
  process.stdout.write(`browser tests: ${line}\n`);
}

/** How to run apt-get as root here (a command prefix), or why it cannot be. */
function rootPrefix(): string[] | string {
  if (!existsSync("/usr/bin/apt-get")) return "no apt-get to install it with";
  if (process.getuid?.() === 0) return [];
  const sudo = spawnSync("sudo", ["-n", "true"], { stdio: "ignore" });
  return sudo.status === 0 ? ["sudo", "-n"] : "not root and no password-less sudo to install it";
}

function run(prefix: string[], args: string[]): { ok: boolean; output: string } {
  const [command, ...rest] = [...prefix, ...args];
  const result = spawnSync(command!, rest, {
    encoding: "utf8", timeout: APT_TIMEOUT_MS,
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  return { ok: result.status === 0, output: `${result.stdout ?? ""}${result.stderr ?? ""}${result.error ? String(result.error) : ""}` };
}

function installWithApt(prefix: string[]): boolean {
  say("no Chromium found; installing Debian's chromium with apt-get (once, a minute or two)");
  const steps = [["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]];
  for (const step of steps) {
    const { ok, output } = run(prefix, step);
    if (!ok) {
      process.stdout.write(output.split("\n").slice(-15).join("\n") + "\n");
      say(`\`${step.join(" ")}\` failed`);
      return false;
    }
  }
  return true;
}

function main(): number {
  const required = process.env["PUSHWIRE_REQUIRE_BROWSER"] === "1";
  if (process.env["PUSHWIRE_SKIP_BROWSER"] === "1") {
    say("SKIPPED (PUSHWIRE_SKIP_BROWSER=1)");
    return required ? 1 : 0;
  }
  let whyNone = "";
  if (!findChromium() && !process.env["PUSHWIRE_CHROMIUM"]) {
    const prefix = rootPrefix();
    if (typeof prefix === "string") whyNone = prefix;
    else if (!installWithApt(prefix)) whyNone = "apt-get failed";
  }
  const found = findChromium();
  if (found) {
    const version = spawnSync(found, ["--version"], { encoding: "utf8", timeout: 20_000 }).stdout?.trim();
    say(`${found}${version ? ` (${version})` : ""}`);
    return 0;
  }
  say(`SKIPPED: ${browserSkipReason()}${whyNone ? `; ${whyNone}` : ""}`);
  return required ? 1 : 0;
}

process.exitCode = main();
