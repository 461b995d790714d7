import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { configChanges, summarizeChanges } from "../../src/config/diff.js";
import { effectiveConfig } from "../../src/config/schema.js";
import { bitrixVmConfig } from "../../src/config/layouts/bitrixvm.js";

/** The reload log line's list of changed keys (src/config/diff.ts). */

const texts = (before: unknown, after: unknown): string[] => configChanges(before, after).map((change) => change.text);

describe("configChanges", () => {
  test("names each changed key by its path, old→new, in the file's order", () => {
    const before = effectiveConfig(bitrixVmConfig());
    const raw = bitrixVmConfig() as { servers: Array<{ locations: Array<Record<string, unknown>> }> } & Record<string, unknown>;
    raw.messageTtl = "1h";
    raw.servers[0]!.locations[0]!.longpollingConnectionTtl = "10s";
    raw.servers[1]!.locations[0]!.allow = ["10.0.0.0/8"];
    assert.deepEqual(configChanges(before, effectiveConfig(raw)), [
      { path: "messageTtl", text: "messageTtl 24h→1h" },
      { path: "servers[0].locations[0].longpollingConnectionTtl", text: "servers[0].locations[0].longpollingConnectionTtl 40s→10s" },
      { path: "servers[1].locations[0].allow", text: 'servers[1].locations[0].allow ["127.0.0.0/8","::1"]→["10.0.0.0/8"]' },
    ]);
    assert.deepEqual(configChanges(before, effectiveConfig(bitrixVmConfig())), []);
  });

  test("a key set or unset, a server or location added or removed", () => {
    assert.deepEqual(texts({ a: 1, servers: [{ locations: [{ path: "/" }] }] }, { a: 1, b: "x", servers: [{ locations: [{ path: "/" }, { path: "/y" }] }, { locations: [] }] }), [
      "servers[0].locations[1] added",
      "servers[1] added",
      "b unset→x",
    ]);
    assert.deepEqual(texts({ servers: [{ locations: [] }, { locations: [] }] }, { servers: [{ locations: [] }] }), ["servers[1] removed"]);
  });

  test("strings with spaces are quoted; long values are shortened; securityKey never shows its value", () => {
    assert.deepEqual(texts({ t: "Channel deleted" }, { t: "gone" }), ['t "Channel deleted"→gone']);
    const [long] = texts({ headerTemplate: "" }, { headerTemplate: "x ".repeat(50) });
    assert.equal(long, `headerTemplate ""→"${"x ".repeat(19)}…`);
    assert.deepEqual(texts({ securityKey: "a" }, { securityKey: "b" }), ["securityKey changed"]);
    assert.deepEqual(texts({ securityKey: "a" }, { securityKey: "a" }), []);
  });
});

test("summarizeChanges keeps the line bounded", () => {
  const many = Array.from({ length: 14 }, (_, i) => `k${i} 1→2`);
  assert.equal(summarizeChanges(many.slice(0, 2)), "k0 1→2; k1 1→2");
  assert.equal(summarizeChanges(many), `${many.slice(0, 10).join("; ")}; and 4 more`);
});
