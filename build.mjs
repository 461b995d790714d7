// Bundles src/main.ts and everything it imports into one file, dist/pushwire.js, that runs
// with `node pushwire.js` anywhere (no package.json needed beside it).
import { build } from "esbuild";
import { readFileSync, chmodSync } from "node:fs";

const { version } = JSON.parse(readFileSync(new URL("./package.json", import.meta.url), "utf8"));

await build({
  entryPoints: ["src/main.ts"],
  outfile: "dist/pushwire.js",
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  banner: { js: "#!/usr/bin/env node\n// pushwire " + version + " — HTTP push server speaking the nginx-push-stream-module protocol. MIT." },
  define: { PUSHWIRE_VERSION: JSON.stringify(version) },
  legalComments: "none",
  logLevel: "warning",
});
chmodSync("dist/pushwire.js", 0o755);
