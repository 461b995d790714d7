import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { NO_OPENSSL, makeCertificate } from "../support/certificates.js";
import { rawExchange, request, sleep, EPOCH, type RawConfig } from "../support/helpers.js";
import { httpsRequest } from "../support/https-client.js";
import { BUNDLE, launch } from "../support/launch.js";

/** The built bundle as an admin runs it: SIGHUP reload, the log lines journald gets, TLS flags. */

const scratch = mkdtempSync(join(tmpdir(), "pushwire-ops-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

function writeConfig(name: string, raw: RawConfig): string {
  const file = join(scratch, name);
  writeFileSync(file, JSON.stringify(raw));
  return file;
}

const sub = { path: "/sub", subscriber: "long-polling", channelsPath: "$arg_id", lastReceivedMessageTag: "$arg_tag", lastReceivedMessageTime: "$arg_time", longpollingConnectionTtl: "3s" };
const pub = { path: "/pub", publisher: "admin", channelsPath: "$arg_id", storeMessages: true };

function layout(extra: RawConfig = {}, subLocation: RawConfig = sub): RawConfig {
  return { ...extra, servers: [{ listen: "127.0.0.1:0", locations: [subLocation, pub] }] };
}

const catchUp = (id: string): string => `/sub?id=${id}&tag=0&time=${encodeURIComponent(EPOCH)}`;

test("SIGHUP applies a changed file; an invalid one is refused line by line and the old one keeps serving", async () => {
  const file = writeConfig("reload.json", layout());
  const app = await launch(["--config", file]);
  try {
    const port = app.ports[0]!;
    assert.equal((await request(port, "/pub?id=a", { method: "POST", body: "one" })).status, 200);
    const held = request(port, "/sub?id=b");
    await sleep(300); // let it be held before the reload

    // A valid change: the subscriber template changes, the publisher stays.
    writeFileSync(file, JSON.stringify(layout({ maxNumberOfChannels: 50 }, { ...sub, messageTemplate: "<~text~>" })));
    let mark = app.output().length;
    app.child.kill("SIGHUP");
    await app.waitFor(/info reload: applied: maxNumberOfChannels 0→50; servers\[0\]\.locations\[0\]\.messageTemplate ~text~→<~text~>; listen: 127\.0\.0\.1:\d+ \[/, 5000, mark);
    assert.equal((await request(port, catchUp("a"))).text, "<one>");

    // An invalid file: one line per problem, then the refusal; nothing changes.
    writeFileSync(file, JSON.stringify({ messageTtl: "soon", servers: [{ listen: "127.0.0.1:0", locations: [{ path: "/sub", subscriber: "long-polling" }] }] }));
    mark = app.output().length;
    app.child.kill("SIGHUP");
    await app.waitFor(/reload refused/, 5000, mark);
    const lines = app.output().slice(mark).trim().split("\n").map((l) => l.replace(/^\S+Z /, ""));
    assert.deepEqual(lines, [
      `info SIGHUP: reloading ${file}`,
      'error reload: config: messageTtl: invalid duration "soon" (use seconds or an nginx time such as "40s", "30m", "24h")',
      "error reload: config: servers[0].locations[0].channelsPath: must be set on a publisher or subscriber location",
      `error reload refused: ${file} has 2 problems; the running configuration stays`,
    ]);
    assert.equal((await request(port, catchUp("a"))).text, "<one>", "the previous configuration still serves");

    // The long-poll held through both reloads still gets its message.
    assert.equal((await request(port, "/pub?id=b", { method: "POST", body: "two" })).status, 200);
    const reply = await held;
    assert.equal(reply.status, 200);
    assert.equal(reply.text, "two", "routed before the first reload: answered with the template it was held with");
  } finally {
    assert.equal(await app.stop(), 0);
  }
});

test("start-up summary, periodic stats and the access log are one line each", async () => {
  const file = writeConfig("logs.json", layout({ logStatsInterval: "1s", accessLog: true }));
  const app = await launch(["--config", file]);
  try {
    const port = app.ports[0]!;
    await app.waitFor(/tls off/); // the start-up lines may arrive in separate chunks
    const out = app.output();
    assert.match(out, /^\S+Z info pushwire \d+\.\d+\.\d+ started pid=\d+ runtime=node v\d+\S* config="[^"]+" listen: 127\.0\.0\.1:\d+ \[\/sub long-polling, \/pub publisher admin\]$/m);
    assert.match(out, /^\S+Z info limits maxMessagesStoredPerChannel=0 messageTtl=1800s .* logStatsInterval=1s accessLog=on openFileLimit=(\d+|unknown)$/m);
    assert.match(out, /^\S+Z info tls off: no server in the configuration has an "ssl" block$/m);
    await request(port, "/pub?id=s", { method: "POST", body: "x" });
    await request(port, "/nowhere");
    await app.waitFor(/access 127\.0\.0\.1 "POST \/pub\?id=s HTTP\/1\.1" 200 \d+ms/);
    await app.waitFor(/access 127\.0\.0\.1 "GET \/nowhere HTTP\/1\.1" 404 \d+ms/);
    const [stats] = await app.waitFor(/info stats connections=\d+ held=0 channels=1 wildcard_channels=0 messages=1 subscribers=0 published=1 published\/s=\d+\.\d/, 3000);
    assert.ok(stats);
    assert.doesNotMatch(app.output(), /\x1b\[/, "no terminal colour codes");
  } finally {
    await app.stop();
  }
});

test("a malformed request is logged with the client address", async () => {
  const app = await launch(["--config", writeConfig("bad.json", layout())]);
  try {
    await rawExchange(app.ports[0]!, "\x01\x02 garbage\r\n\r\n", 1000);
    await app.waitFor(/info client error 400 from 127\.0\.0\.1: HPE_/);
  } finally {
    await app.stop();
  }
});

test("the open-file limit: in the start-up line; reaching it is logged, counted in /metrics and /health, and its end logged", { skip: process.platform !== "linux" }, async () => {
  const limit = 64;
  const file = writeConfig("nofile.json", { servers: [{ listen: "127.0.0.1:0", locations: [sub, pub, { path: "/metrics", metrics: true }, { path: "/health", health: true }] }] });
  const app = await launch(["--config", file], ["bash", "-c", `ulimit -n ${limit} && exec "${process.execPath}" "$@"`, "pushwire"]);
  const clients: Socket[] = [];
  try {
    const port = app.ports[0]!;
    await app.waitFor(new RegExp(`info limits .* openFileLimit=${limit}$`, "m"));
    // More connections than descriptors: the runtime closes the extra ones unanswered.
    for (let i = 0; i < limit + 16; i++) {
      const socket = connect(port, "127.0.0.1");
      socket.on("error", () => {});
      clients.push(socket);
    }
    const [warning] = await app.waitFor(/warn open-file limit reached: (\d+) of 64 descriptors in use, (\d+) connections; new connections are closed unanswered until some close \(raise LimitNOFILE or ulimit -n\)/);
    assert.ok(warning);
    const mark = app.output().length;
    for (const socket of clients) socket.destroy();
    await app.waitFor(/info open files back under the limit: \d+ of 64 in use, \d+ connections/, 5000, mark);
    const metrics = (await request(port, "/metrics")).text;
    assert.match(metrics, /^pushwire_fd_limit 64$/m);
    assert.match(metrics, /^pushwire_fd_exhausted 0$/m);
    assert.match(metrics, /^pushwire_fd_exhausted_total 1$/m);
    assert.match(metrics, /^pushwire_fd_in_use \d+$/m);
    const health = JSON.parse((await request(port, "/health")).text) as Record<string, unknown>;
    assert.equal(health.status, "ok");
    assert.equal(health.fd_limit, 64);
    assert.equal(health.fd_exhausted, false);
    assert.equal((await request(port, "/pub?id=after", { method: "POST", body: "served" })).status, 200, "new connections are served again");
    assert.equal(app.output().match(/open-file limit reached/g)?.length, 1, "one warning for one episode");
  } finally {
    for (const socket of clients) socket.destroy();
    assert.equal(await app.stop(), 0);
  }
});

test("--log-level warn keeps info lines (start-up, stats, access) out", async () => {
  const file = writeConfig("quiet.json", layout({ logStatsInterval: "1s", accessLog: true }));
  const child = spawn(process.execPath, [BUNDLE, "--config", file, "--log-level", "warn"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr.on("data", (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  await sleep(1500); // past one stats interval
  child.kill("SIGTERM");
  assert.equal(await exited, 0);
  assert.equal(out, "");
});

test("--ssl-cert/--ssl-key: go together, and only with the built-in layout", () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [BUNDLE, ...args], { encoding: "utf8", timeout: 10_000 });
  const alone = run("--ssl-cert", "/x.crt", "--check");
  assert.equal(alone.status, 2);
  assert.match(alone.stderr, /--ssl-cert and --ssl-key go together/);
  const withConfig = run("--ssl-cert", "/x.crt", "--ssl-key", "/x.key", "--config", "/x.json");
  assert.equal(withConfig.status, 2);
  assert.match(withConfig.stderr, /apply to the built-in layout; with --config put an "ssl" block on the server/);
  const missing = run("--ssl-cert", "/nonexistent.crt", "--ssl-key", "/nonexistent.key", "--check");
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /servers\[1\]\.ssl\.certificate: cannot read \/nonexistent\.crt/);
});

test("--print-config with a certificate adds the BitrixVM TLS listener 8894 with the subscriber locations", { skip: NO_OPENSSL }, () => {
  const cert = makeCertificate(scratch, "print");
  const printed = spawnSync(process.execPath, [BUNDLE, "--print-config", "--ssl-cert", cert.certFile, "--ssl-key", cert.keyFile], { encoding: "utf8" });
  assert.equal(printed.status, 0, printed.stderr);
  const servers = (JSON.parse(printed.stdout) as { servers: Array<{ listen: string; ssl?: RawConfig; locations: RawConfig[] }> }).servers;
  assert.deepEqual(servers.map((s) => s.listen), ["8893", "8894", "127.0.0.1:8895"]);
  assert.deepEqual(servers[1]!.ssl, { certificate: cert.certFile, certificateKey: cert.keyFile });
  assert.deepEqual(servers[1]!.locations, servers[0]!.locations);
  const check = spawnSync(process.execPath, [BUNDLE, "--check", "--config", writeConfig("printed-tls.json", JSON.parse(printed.stdout))], { encoding: "utf8" });
  assert.equal(check.status, 0, check.stderr);
});

test("SIGHUP re-reads the certificate; a broken one is refused and the old one keeps serving", { skip: NO_OPENSSL }, async () => {
  const a = makeCertificate(scratch, "hup-a");
  const b = makeCertificate(scratch, "hup-b");
  const live = { certificate: join(scratch, "hup.crt"), certificateKey: join(scratch, "hup.key") };
  copyFileSync(a.certFile, live.certificate);
  copyFileSync(a.keyFile, live.certificateKey);
  const file = writeConfig("hup.json", { servers: [{ listen: "127.0.0.1:0", ssl: live, locations: [sub, pub] }] });
  const app = await launch(["--config", file]);
  try {
    const port = app.ports[0]!;
    await app.waitFor(/info tls on port/);
    assert.match(app.output(), new RegExp(`info tls on port ${port}: certificate ${live.certificate} key ${live.certificateKey} protocols TLSv1\\.2,TLSv1\\.3`));
    assert.match(app.output(), new RegExp(`listen: https://127\\.0\\.0\\.1:${port} \\[`));
    const ca = [a.pem, b.pem];
    await rawExchange(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 500); // plain HTTP on the TLS port
    await app.waitFor(/info tls handshake failed from 127\.0\.0\.1: /);
    assert.equal((await httpsRequest(port, "/pub?id=t", { ca, method: "POST", body: "tls" })).status, 200);

    writeFileSync(live.certificate, "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n");
    let mark = app.output().length;
    app.child.kill("SIGHUP");
    await app.waitFor(/reload refused/, 5000, mark);
    assert.match(app.output().slice(mark), /error reload: config: servers\[0\]\.ssl: unusable certificate /);
    assert.equal((await httpsRequest(port, catchUp("t"), { ca })).fingerprint, a.fingerprint);

    copyFileSync(b.certFile, live.certificate);
    copyFileSync(b.keyFile, live.certificateKey);
    mark = app.output().length;
    app.child.kill("SIGHUP");
    await app.waitFor(new RegExp(`reload: applied: 127\\.0\\.0\\.1:0 certificate ${live.certificate} loaded;`), 5000, mark);
    const fresh = await httpsRequest(port, catchUp("t"), { ca });
    assert.equal(fresh.fingerprint, b.fingerprint);
    assert.equal(fresh.text, "tls", "the stored message survived both reloads");
  } finally {
    assert.equal(await app.stop(), 0);
  }
});
