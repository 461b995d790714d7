import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bitrixLikeConfig, envelopes, EPOCH, publish, request, start, type RawConfig, type Running } from "../support/helpers.js";
import { openStream } from "../support/stream-client.js";
import { WsClient } from "../support/ws-client.js";

/**
 * What a new user starts from: the starter configuration (`--print-config --layout all`) with a
 * working location per mode, the versioned release file with its checksum, and the README's
 * examples that run on the supported runtime.
 */

const ROOT = join(__dirname, "..", "..", "..");
const BUNDLE = join(ROOT, "dist", "pushwire.js");
const { version } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };

function pushwire(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [BUNDLE, ...args], { encoding: "utf8", timeout: 10_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

type Server = { listen: string; locations: Array<RawConfig & { path: string }> };

describe("the starter configuration: --print-config --layout all", () => {
  let printed: RawConfig & { servers: Server[] };
  let app: Running;
  /** Ports of the browser listener and of the site's (loopback) listener. */
  let browserPort = 0;
  let sitePort = 0;

  before(async () => {
    const { status, stdout, stderr } = pushwire("--print-config", "--layout", "all");
    assert.equal(status, 0, stderr);
    printed = JSON.parse(stdout) as typeof printed;
    // The same file, on ephemeral loopback ports.
    app = await start({ ...printed, servers: printed.servers.map((server) => ({ ...server, listen: "127.0.0.1:0" })) });
    browserPort = app.port(0);
    sitePort = app.port(1);
  });
  after(() => app?.close());

  test("has every mode, the publisher, statistics, /metrics and /health, each with a note, and passes --check", () => {
    const [browsers, site] = printed.servers;
    assert.deepEqual(printed.servers.map((s) => s.listen), ["8893", "127.0.0.1:8895"]);
    const roles = (server: Server) => server.locations.map((l) => `${l.path} ${String(l.subscriber ?? l.publisher ?? (l.channelsStatistics ? "statistics" : l.metrics ? "metrics" : l.health ? "health" : l.dashboard ? "dashboard" : "deny"))}`);
    assert.deepEqual(roles(browsers!), ["/bitrix/sub long-polling", "/bitrix/subws/ websocket", "/lp/ long-polling", "/poll/ polling", "/stream/ streaming", "/ev/ eventsource", "/ws/ websocket", "/ deny"]);
    assert.deepEqual(roles(site!), ["/bitrix/pub/ admin", "/dashboard/ dashboard", "/pub/ admin", "/channels-stats statistics", "/metrics metrics", "/health health", "/ deny"]);
    for (const location of [...browsers!.locations.slice(2), ...site!.locations.slice(1)]) {
      assert.equal(typeof location["//"], "string", `${location.path} has a note`);
    }
    assert.equal(typeof printed["//"], "string");
    const file = join(ROOT, "build", "starter.json");
    writeFileSync(file, JSON.stringify(printed));
    const check = pushwire("--check", "--config", file);
    assert.equal(check.status, 0, check.stderr);
    assert.match(check.stdout, /is ok/);
  });

  test("a message published on /pub/ reaches every subscriber location", async () => {
    const stream = openStream(browserPort, "/stream/?id=starter");
    const events = openStream(browserPort, "/ev/?id=starter");
    const socket = await WsClient.connect(browserPort, "/ws/?id=starter");
    await stream.response.head();
    await events.response.head();
    const held = request(browserPort, `/lp/?id=starter`, { headers: { "If-Modified-Since": EPOCH } });

    const published = await publish(sitePort, "starter", "hello", {});
    assert.equal(published.status, 200);
    assert.match(published.text, /"channel": "starter"/);

    assert.equal((await held).status, 200);
    assert.equal((await held).text, "hello");
    await stream.response.untilIncludes("hello\n");
    await events.response.untilIncludes("data: hello\n\n");
    assert.equal(await socket.nextText(), "hello");
    const polled = await request(browserPort, "/poll/?id=starter", { headers: { "If-Modified-Since": EPOCH } });
    assert.deepEqual([polled.status, polled.text], [200, "hello"]);
    stream.connection.close();
    events.connection.close();
    socket.destroy();
  });

  test("statistics, /metrics and /health answer on the site's listener", async () => {
    await publish(sitePort, "counted", "x", {});
    const stats = await request(sitePort, "/channels-stats?id=counted");
    assert.equal(stats.status, 200);
    assert.equal((JSON.parse(stats.text) as { channel: string }).channel, "counted");
    const metrics = await request(sitePort, "/metrics");
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /^pushwire_/m);
    assert.equal((await request(sitePort, "/health")).status, 200);
    assert.equal((await request(browserPort, "/metrics")).status, 403, "not on the public listener");
  });
});

test("`pushwire --layout all` serves the starter layout as it is", () => {
  const { status, stdout } = pushwire("--check", "--layout", "all");
  assert.equal(status, 0);
  assert.match(stdout, /built-in all-modes layout is ok/);
});

test("npm run build leaves the release file: pushwire-<version>.js and its sha256", () => {
  const release = join(ROOT, "dist", `pushwire-${version}.js`);
  assert.ok(existsSync(release), `${release} is built`);
  assert.deepEqual(readFileSync(release), readFileSync(BUNDLE));
  const digest = createHash("sha256").update(readFileSync(release)).digest("hex");
  assert.equal(readFileSync(`${release}.sha256`, "utf8"), `${digest}  pushwire-${version}.js\n`);
  const check = spawnSync("sha256sum", ["-c", `pushwire-${version}.js.sha256`], { cwd: join(ROOT, "dist"), encoding: "utf8" });
  if (!check.error) assert.equal(check.status, 0, check.stdout + check.stderr);
});

test("the README's WebSocket example runs on Node 20 and prints the message", async () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const line = readme.split("\n").find((l) => l.startsWith("node --experimental-websocket -e "));
  assert.ok(line, "the README has a WebSocket example for node");
  const app = await start(bitrixLikeConfig());
  try {
    await publish(app.port(1), "abc", '{"a":1}', {});
    const command = line.replace("127.0.0.1:8893", `127.0.0.1:${app.port(0)}`);
    const child = spawn("sh", ["-c", command.replace(/^node /, `"${process.execPath}" `)], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString()));
    const until = Date.now() + 5000;
    while (!out.includes("#!NGINXNME!#") && Date.now() < until && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
    child.kill();
    assert.deepEqual(envelopes(out).map((m) => [m.channel, m.text]), [["abc", { a: 1 }]], out);
  } finally {
    await app.close();
  }
});
