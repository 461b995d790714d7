import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { normalizeConfig } from "../../src/config/schema.js";
import { bitrixPush2Config } from "../../src/config/layouts/bitrix-push2.js";
import { ChannelSigner } from "../../src/bitrix-push2/signature.js";
import { openRequest, request } from "../support/helpers.js";
import { BUNDLE, launch } from "../support/launch.js";
import { push2Config } from "../support/bitrix-push2-site.js";

const scratch = mkdtempSync(join(tmpdir(), "pushwire-push2-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

function run(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [BUNDLE, ...args], { encoding: "utf8", timeout: 10_000, env: { ...process.env, ...env } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test("--layout bitrix-push2 --print-config: BitrixVM 7.3+'s ports and paths, the key from PUSHWIRE_SECURITY_KEY; --check accepts it back", () => {
  const { status, stdout, stderr } = run(["--layout", "bitrix-push2", "--print-config"], { PUSHWIRE_SECURITY_KEY: "site-key-1" });
  assert.equal(status, 0, stderr);
  const printed = JSON.parse(stdout) as { securityKey: string; securityAlgo: string; onlineTtl: unknown; servers: Array<{ listen: string; locations: Array<Record<string, unknown>> }> };
  assert.equal(printed.securityKey, "site-key-1");
  assert.equal(printed.securityAlgo, "sha1");
  assert.deepEqual(printed.servers.map((s) => s.listen), ["8893", "127.0.0.1:8895"]);
  const where = (i: number) => printed.servers[i]!.locations.map((l) => `${l.path} ${l.protocol ?? "push-stream"} ${l.publisher ?? l.subscriber ?? (l.channelsStatistics ? "stats" : l.dashboard ? "dashboard" : "deny")}`);
  assert.deepEqual(where(0), ["/bitrix/sub/ bitrix-push2 long-polling", "/bitrix/subws/ bitrix-push2 websocket", "/bitrix/rest/ bitrix-push2 normal", "/ push-stream deny"]);
  assert.deepEqual(where(1), ["/bitrix/pub/ bitrix-push2 admin", "/server-stat bitrix-push2 stats", "/dashboard/ push-stream dashboard", "/ push-stream deny"]);
  const file = join(scratch, "printed.json");
  writeFileSync(file, stdout);
  const check = run(["--check", "--config", file]);
  assert.equal(check.status, 0, check.stderr);
});

test("no security key: --check warns (and still exits 0), the start-up logs the warning; with a key, no warning", async () => {
  const check = run(["--layout", "bitrix-push2", "--check"], { PUSHWIRE_SECURITY_KEY: "" });
  assert.equal(check.status, 0, check.stderr);
  assert.equal(check.stdout, "pushwire: configuration built-in bitrix-push2 layout is ok (1 warning)\n");
  assert.equal(check.stderr, "pushwire: config: warning: securityKey: empty, so bitrix-push2 subscribers' signed channel ids are refused (400 or WebSocket close 4010 \"Wrong Channel Id.\"); set the site's signature_key in PUSHWIRE_SECURITY_KEY or \"securityKey\"\n");
  const keyed = run(["--layout", "bitrix-push2", "--check"], { PUSHWIRE_SECURITY_KEY: "site-key-1" });
  assert.equal(keyed.stdout, "pushwire: configuration built-in bitrix-push2 layout is ok\n");
  assert.equal(keyed.stderr, "");

  const file = join(scratch, "push2-no-key.json");
  writeFileSync(file, JSON.stringify(push2Config({ key: "" })));
  const saved = process.env["PUSHWIRE_SECURITY_KEY"];
  process.env["PUSHWIRE_SECURITY_KEY"] = "";
  const app = await launch(["--config", file]).finally(() => {
    if (saved === undefined) delete process.env["PUSHWIRE_SECURITY_KEY"];
    else process.env["PUSHWIRE_SECURITY_KEY"] = saved;
  });
  try {
    await app.waitFor(/warn config: securityKey: empty, so bitrix-push2 subscribers' signed channel ids are refused/);
  } finally {
    await app.stop();
  }
});

test("--layout: an unknown name, or with --config, is a usage error (exit 2)", () => {
  assert.equal(run(["--layout", "nginx"]).status, 2);
  const file = join(scratch, "c.json");
  writeFileSync(file, JSON.stringify({ servers: [{ listen: "127.0.0.1:0", locations: [{ path: "/", deny: "all" }] }] }));
  const both = run(["--layout", "bitrix-push2", "--config", file]);
  assert.equal(both.status, 2);
  assert.match(both.stderr, /--layout/);
});

test("config checks: protocol values, push2 subscriber modes, the HMAC algorithm", () => {
  const one = (location: Record<string, unknown>, top: Record<string, unknown> = {}) => normalizeConfig({ ...top, servers: [{ listen: "1", locations: [{ path: "/x", channelsPath: "$arg_id", ...location }] }] });
  assert.match(one({ protocol: "push3", subscriber: "long-polling" }).errors?.join() ?? "", /invalid protocol "push3"/);
  assert.match(one({ protocol: "bitrix-push2", subscriber: "eventsource" }).errors?.join() ?? "", /bitrix-push2 serves "long-polling" and "websocket" subscribers only/);
  assert.match(one({ protocol: "bitrix-push2", publisher: "admin" }, { securityAlgo: "nohash" }).errors?.join() ?? "", /securityAlgo: unknown hash/);
  assert.equal(one({ protocol: "bitrix-push2", publisher: "admin" }, { securityAlgo: "sha256", onlineTtl: "5s" }).errors, undefined);
  assert.equal(normalizeConfig(bitrixPush2Config("k")).errors, undefined);
});

test("a --config file with an empty securityKey takes PUSHWIRE_SECURITY_KEY: ids signed with it are accepted, others refused", async () => {
  const file = join(scratch, "push2.json");
  writeFileSync(file, JSON.stringify({ ...push2Config({ key: "", hold: "1s" }) }));
  const saved = process.env["PUSHWIRE_SECURITY_KEY"];
  process.env["PUSHWIRE_SECURITY_KEY"] = "from-the-environment";
  const app = await launch(["--config", file]).finally(() => {
    if (saved === undefined) delete process.env["PUSHWIRE_SECURITY_KEY"];
    else process.env["PUSHWIRE_SECURITY_KEY"] = saved;
  });
  try {
    const id = "0123456789abcdef0123456789abcdef";
    const good = new ChannelSigner("from-the-environment", "sha1").signed(id);
    const bad = new ChannelSigner("another", "sha1").signed(id);
    assert.equal((await request(app.ports[0]!, `/bitrix/sub/?CHANNEL_ID=${bad}`)).status, 400);
    const poll = openRequest(app.ports[0]!, `/bitrix/sub/?CHANNEL_ID=${good}`);
    assert.equal((await poll.reply).status, 304);
    assert.doesNotMatch(app.output(), /securityKey: empty/);
  } finally {
    await app.stop();
  }
});
