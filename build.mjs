// Bundles src/main.ts and everything it imports into one file, dist/pushwire.js, that runs
// with `node pushwire.js` anywhere (no package.json needed beside it).
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";

/**
 * The one runtime workaround. Deno loads a `.js` file as an ES module (CommonJS only for `.cjs`
 * or beside a package.json saying so), where `require` does not exist. The bundle only requires
 * node: built-ins, which `process.getBuiltinModule` (Node ≥ 20.16, Bun, Deno) returns. Under
 * Node and Bun, `require` is the CommonJS one and this line changes nothing.
 */
const DENO_REQUIRE = 'var require = typeof require === "function" ? require : process.getBuiltinModule;';

const { version } = JSON.parse(readFileSync(new URL("./package.json", import.meta.url), "utf8"));

/** The commit `pushwire --version` names: short hash, "-dirty" with uncommitted changes, "unknown" without git. */
function buildCommit() {
  const git = (...args) => execFileSync("git", args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  try {
    const hash = git("rev-parse", "--short=12", "HEAD");
    return git("status", "--porcelain", "--untracked-files=no") === "" ? hash : `${hash}-dirty`;
  } catch {
    return "unknown";
  }
}

await build({
  entryPoints: ["src/main.ts"],
  outfile: "dist/pushwire.js",
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  banner: { js: "#!/usr/bin/env node\n\"use strict\";\n// pushwire " + version + " — HTTP push server speaking the nginx-push-stream-module protocol. MIT.\n" + DENO_REQUIRE },
  define: { PUSHWIRE_VERSION: JSON.stringify(version), PUSHWIRE_COMMIT: JSON.stringify(buildCommit()) },
  legalComments: "none",
  logLevel: "warning",
});
chmodSync("dist/pushwire.js", 0o755);

// The release file: the same bytes under a versioned name, with its checksum in sha256sum's format
// (`sha256sum -c pushwire-<version>.js.sha256` checks a copy). Older versions' files are removed.
const release = `pushwire-${version}.js`;
for (const name of readdirSync("dist")) {
  if (/^pushwire-.+\.js(\.sha256)?$/.test(name) && !name.startsWith(release)) rmSync(`dist/${name}`);
}
copyFileSync("dist/pushwire.js", `dist/${release}`);
chmodSync(`dist/${release}`, 0o755);
const digest = createHash("sha256").update(readFileSync(`dist/${release}`)).digest("hex");
writeFileSync(`dist/${release}.sha256`, `${digest}  ${release}\n`);
