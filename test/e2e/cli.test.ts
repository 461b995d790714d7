import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { envelopes, publish, request, EPOCH } from "../support/helpers.js";

/** The built single file, exactly what an admin copies to a server. */
const BUNDLE = join(__dirname, "..", "..", "..", "dist", "pushwire.js");

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [BUNDLE, ...args], { encoding: "utf8", timeout: 10_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const scratch = mkdtempSync(join(tmpdir(), "pushwire-cli-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

function tempFile(name: string, content: string): string {
  const file = join(scratch, name);
  writeFileSync(file, content);
  return file;
}

interface Started {
  child: ChildProcess;
  /** Bound ports in listener order, read from the start-up log line. */
  ports: number[];
  output: () => string;
  exited: Promise<number | null>;
}

/** Starts the bundle and waits for its "started" log line. */
async function launch(args: string[]): Promise<Started> {
  const child = spawn(process.execPath, [BUNDLE, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const until = Date.now() + 10_000;
  while (!/ started /.test(out)) {
    if (Date.now() > until || child.exitCode !== null) throw new Error(`pushwire did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const ports = [...out.matchAll(/:(\d+) \[/g)].map((m) => Number(m[1]));
  return { child, ports, output: () => out, exited };
}

test("--help explains usage and exits 0", () => {
  const { status, stdout } = run("--help");
  assert.equal(status, 0);
  assert.match(stdout, /^pushwire \d+\.\d+\.\d+ /);
  assert.match(stdout, /Usage: pushwire \[--config FILE\] \[--message-log DIR\] \[--workers N\] \[--redis URL\] \[--check\] \[--print-config\]/);
  assert.match(stdout, /--redis URL {8}share every channel with the other pushwire nodes that use this Redis/);
  assert.match(stdout, /--workers N\|auto {3}serve from N processes that share the ports/);
  assert.match(stdout, /--message-log DIR {2}keep published messages in a log in DIR/);
  // Every code the program exits with (src/main.ts: EXIT_* and the uncaught-exception handler).
  assert.match(stdout, /Exit codes: 0 ok, 1 invalid configuration, 2 bad command line, 3 cannot listen,\s+4 cannot open the message log \(in use by another pushwire, not writable\),\s+70 internal error/);
});

test("--version prints the package version and the commit of the build", () => {
  const { status, stdout } = run("--version");
  assert.equal(status, 0);
  const { version } = require("../../../package.json") as { version: string };
  assert.match(stdout, new RegExp(`^pushwire ${version.replaceAll(".", "\\.")} \\(commit [0-9a-f]{12}(-dirty)?\\)\n$`));
});

test("--redis takes a redis:// URL: anything else is a usage error naming the reason; --print-config shows the broker it makes", () => {
  const bad = run("--redis", "rediss://10.0.0.5");
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--redis: "rediss:\/\/10\.0\.0\.5": only redis:\/\/ is supported \(TLS to Redis is not\)/);
  const missing = run("--redis");
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /--redis needs a URL like redis:\/\/127\.0\.0\.1:6379/);
  const printed = run("--redis", "redis://10.0.0.5:6380/2", "--print-config");
  assert.equal(printed.status, 0);
  assert.deepEqual(JSON.parse(printed.stdout).broker, { redis: { url: "redis://10.0.0.5:6380/2", sentinels: [], name: "mymaster", keyPrefix: "pushwire:", commandTimeout: 5, startTimeout: 5, waitReplicas: 0, waitTimeout: 1 } });
});

test("an unknown argument is a usage error: exit 2", () => {
  const { status, stderr } = run("--frobnicate");
  assert.equal(status, 2);
  assert.match(stderr, /unknown argument --frobnicate/);
});

test("a mistyped option is a usage error that names the option meant", () => {
  const { status, stderr } = run("--chek");
  assert.equal(status, 2);
  assert.equal(stderr, "pushwire: unknown argument --chek (did you mean --check?)\nTry 'pushwire --help'.\n");
  assert.match(run("--log-levle=warn").stderr, /unknown argument --log-levle=warn \(did you mean --log-level\?\)/);
});

test("--check messages: a JSON syntax error by line and column, a port out of range, a mode with did-you-mean", () => {
  const syntax = run("--check", "--config", tempFile("syntax.json", '{\n  "servers": [\n    { "listen": "8893", }\n  ]\n}\n'));
  assert.equal(syntax.status, 1);
  assert.match(syntax.stderr, /syntax\.json: invalid JSON: Expected double-quoted property name in JSON at line 3 column 25\n/);
  const truncated = run("--check", "--config", tempFile("truncated.json", '{\n  "servers": [\n'));
  assert.match(truncated.stderr, /truncated\.json: invalid JSON: Unexpected end of JSON input at line 3 column 1\n/);
  const values = run("--check", "--config", tempFile("values.json", JSON.stringify({
    servers: [{ listen: "88930", locations: [{ path: "/sub", subscriber: "long-poll", channelsPath: "$arg_id" }, { path: "/pub", publisher: "admn", channelsPath: "$arg_id" }] }],
  })));
  assert.equal(values.status, 1);
  assert.deepEqual(values.stderr.trim().split("\n").slice(0, 3), [
    "pushwire: config: servers[0].listen: port 88930 is out of range (0-65535)",
    'pushwire: config: servers[0].locations[0].subscriber: invalid subscriber mode value: long-poll, accepted values (streaming, polling, long-polling, eventsource, websocket) (did you mean "long-polling"?)',
    'pushwire: config: servers[0].locations[1].publisher: invalid publisher mode value: admn, accepted values (normal, admin) (did you mean "admin"?)',
  ]);
});

test("port 0: --check warns that the system picks the port; the start-up line names the port bound", async () => {
  const file = tempFile("port0.json", JSON.stringify({ servers: [{ listen: "127.0.0.1:0", locations: [{ path: "/", deny: "all" }] }] }));
  const check = run("--check", "--config", file);
  assert.equal(check.status, 0);
  assert.equal(check.stdout, `pushwire: configuration ${file} is ok (1 warning)\n`);
  assert.equal(check.stderr, "pushwire: config: warning: servers[0].listen: port 0 binds a free port the system picks at each start; the start-up line names it\n");
  const app = await launch(["--config", file]);
  try {
    const [port] = app.ports;
    assert.ok(port! > 0);
    assert.match(app.output(), new RegExp(` started .* listen: 127\\.0\\.0\\.1:${port} \\[/ deny\\]`));
    assert.equal((await request(port!, "/")).status, 403, "the port named is the one bound");
  } finally {
    app.child.kill("SIGTERM");
    await app.exited;
  }
});

test("--check accepts the built-in layout", () => {
  const { status, stdout } = run("--check");
  assert.equal(status, 0);
  assert.match(stdout, /configuration built-in BitrixVM layout is ok/);
});

test("--check on a broken config names each problem and exits 1", () => {
  const file = tempFile("bad.json", JSON.stringify({
    messageTtl: "forever",
    push_stream_max_channel_id_length: 32,
    servers: [{ listen: "99999", locations: [{ path: "/sub", subscriber: "long-polling" }] }],
  }));
  const { status, stderr } = run("--check", "--config", file);
  assert.equal(status, 1);
  const lines = stderr.trim().split("\n");
  assert.deepEqual(lines, [
    'pushwire: config: messageTtl: invalid duration "forever" (use seconds or an nginx time such as "40s", "30m", "24h")',
    'pushwire: config: push_stream_max_channel_id_length: unknown key (did you mean "maxChannelIdLength"?)',
    "pushwire: config: servers[0].listen: port 99999 is out of range (0-65535)",
    "pushwire: config: servers[0].locations[0].channelsPath: must be set on a publisher or subscriber location",
    `pushwire: configuration ${file} is invalid (4 problems)`,
  ]);
});

test("--check on unreadable or invalid JSON exits 1 with the reason", () => {
  const missing = run("--check", "--config", "/nonexistent/pushwire.json");
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /\/nonexistent\/pushwire\.json: cannot read/);
  const broken = run("--check", "--config", tempFile("broken.json", "{ not json"));
  assert.equal(broken.status, 1);
  assert.match(broken.stderr, /invalid JSON/);
});

test("--print-config prints the effective built-in layout, which --check accepts back", () => {
  const { status, stdout } = run("--print-config");
  assert.equal(status, 0);
  const printed = JSON.parse(stdout) as Record<string, unknown>;
  assert.equal(printed.maxMessagesStoredPerChannel, 1000);
  assert.equal(printed.messageTtl, "24h");
  assert.equal(printed.channelInactivityTime, 30); // a default, filled in
  const servers = printed.servers as Array<{ listen: string; locations: Array<Record<string, unknown>> }>;
  assert.deepEqual(servers.map((s) => s.listen), ["8893", "127.0.0.1:8895"]);
  const sub = servers[0]!.locations[0]!;
  assert.equal(sub.path, "/bitrix/sub");
  assert.equal(sub.longpollingConnectionTtl, "40s");
  assert.equal(sub.storeMessages, false);
  const check = run("--check", "--config", tempFile("printed.json", stdout));
  assert.equal(check.status, 0, check.stderr);
});

test("a port already in use: exit 3 with the reason", async () => {
  const config = { servers: [{ listen: "127.0.0.1:0", locations: [{ path: "/", deny: "all" }] }] };
  const first = await launch(["--config", tempFile("a.json", JSON.stringify(config))]);
  try {
    const clash = { servers: [{ listen: `127.0.0.1:${first.ports[0]}`, locations: [{ path: "/", deny: "all" }] }] };
    const { status, stderr } = run("--config", tempFile("b.json", JSON.stringify(clash)));
    assert.equal(status, 3);
    assert.match(stderr, /cannot listen: .*EADDRINUSE/);
  } finally {
    first.child.kill("SIGTERM");
    await first.exited;
  }
});

test("no arguments: the BitrixVM layout on 8893 and 127.0.0.1:8895 serves a Bitrix round trip", async () => {
  const app = await launch([]);
  try {
    assert.deepEqual(app.ports, [8893, 8895]);
    const pub = await publish(8895, "abc", '{"a":1}');
    assert.equal(pub.status, 200);
    assert.equal(pub.text, '{"channel": "abc", "published_messages": 1, "stored_messages": 1, "subscribers": 0}\r\n');
    const sub = await request(8893, `/bitrix/sub?CHANNEL_ID=abc&tag=0&time=${encodeURIComponent(EPOCH)}`);
    assert.equal(sub.status, 200);
    assert.equal(sub.headers["access-control-allow-origin"], "*");
    const [message] = envelopes(sub.text);
    assert.equal(message!.id, 1);
    assert.equal(message!.channel, "abc");
    assert.deepEqual(message!.text, { a: 1 });
    assert.equal(sub.headers.etag, `W/${message!.tag}`);
    // The BitrixVM layout refuses what it does not serve.
    assert.equal((await request(8893, "/")).status, 403);
    assert.equal((await request(8893, "/bitrix/sub?CHANNEL_ID=abc&callback=x")).status, 400);
    assert.equal((await request(8893, "/bitrix/sub?CHANNEL_ID=nostored")).status, 403);
  } finally {
    app.child.kill("SIGTERM");
    assert.equal(await app.exited, 0);
  }
});

test("SIGTERM answers held long-polls with 304 and exits 0 promptly", async () => {
  const config = {
    servers: [
      { listen: "127.0.0.1:0", locations: [{ path: "/sub", subscriber: "long-polling", channelsPath: "$arg_id", longpollingConnectionTtl: "40s" }] },
    ],
  };
  const app = await launch(["--config", tempFile("term.json", JSON.stringify(config))]);
  const port = app.ports[0]!;
  const held = [1, 2, 3].map(() => request(port, "/sub?id=waiting"));
  await new Promise((r) => setTimeout(r, 300)); // let the three requests be held
  const sent = Date.now();
  app.child.kill("SIGTERM");
  const replies = await Promise.all(held);
  for (const reply of replies) {
    assert.equal(reply.status, 304);
    assert.equal(reply.headers.etag, "W/0");
    assert.equal(reply.body.length, 0);
  }
  assert.equal(await app.exited, 0);
  assert.ok(Date.now() - sent < 3000, "exited within 3 s");
  assert.match(app.output(), /SIGTERM: stopping, answering 3 held subscriber\(s\)/);
});
