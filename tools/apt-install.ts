import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

/**
 * Installs Debian packages for `npm test` (Chromium for the browser suites, redis-server for the
 * Redis suites) when this user can: root, or sudo without a password, with apt-get.
 */

const APT_TIMEOUT_MS = 10 * 60_000;

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

/** apt-get update, then install `packages`; undefined when done, else why not (the last lines of a failure are printed). */
export function aptInstall(packages: string[], say: (line: string) => void): string | undefined {
  const prefix = rootPrefix();
  if (typeof prefix === "string") return prefix;
  say(`installing Debian's ${packages.join(", ")} with apt-get (once, a minute or two)`);
  const steps = [["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "--no-install-recommends", ...packages]];
  for (const step of steps) {
    const { ok, output } = run(prefix, step);
    if (!ok) {
      process.stdout.write(output.split("\n").slice(-15).join("\n") + "\n");
      return `\`${step.join(" ")}\` failed`;
    }
  }
  return undefined;
}

/** The path of a program found, with what its `--version` says (for the one line a step prints). */
export function describeProgram(path: string): string {
  const version = spawnSync(path, ["--version"], { encoding: "utf8", timeout: 20_000 }).stdout?.trim();
  return `${path}${version ? ` (${version})` : ""}`;
}
