// Bundles src/main.ts and everything it imports into one file, dist/pushwire.js, that runs
// with `node pushwire.js` anywhere (no package.json needed beside it).
import { build } from "esbuild";
import { readFileSync, chmodSync } from "node:fs";

/**
 * The one runtime workaround. Deno loads a `.js` file as an ES module (CommonJS only for `.cjs`
 * or beside a package.json saying so), where `require` does not exist. The bundle only requires
 * node: built-ins, which `process.getBuiltinModule` (Node ≥ 20.16, Bun, Deno) returns. Under
 * Node and Bun, `require` is the CommonJS one and this line changes nothing.
 */
const DENO_REQUIRE = 'var require = typeof require === "function" ? require : process.getBuiltinModule;';

const { version } = JSON.parse(readFileSync(new URL("./package.json", import.meta.url), "utf8"));

await build({
  entryPoints: ["src/main.ts"],
  outfile: "dist/pushwire.js",
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  banner: { js: "#!/usr/bin/env node\n\"use strict\";\n// pushwire " + version + " — HTTP push server speaking the nginx-push-stream-module protocol. MIT.\n" + DENO_REQUIRE },
  define: { PUSHWIRE_VERSION: JSON.stringify(version) },
  legalComments: "none",
  logLevel: "warning",
});
chmodSync("dist/pushwire.js", 0o755);
