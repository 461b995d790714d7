import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NO_OPENSSL, makeCertificate, type TestCertificate } from "../support/certificates.js";
import { freePort, httpDate, openRequest, request, sleep, EPOCH } from "../support/helpers.js";
import { httpsRequest } from "../support/https-client.js";
import { launch, type Launched } from "../support/launch.js";
import { OP, WsClient, closePayload } from "../support/ws-client.js";

/**
 * The same dist/pushwire.js under each JavaScript runtime the design promises: real requests
 * against a real process. bun and deno come from npm (dev dependencies), in node_modules/.bin.
 */

const BIN = join(__dirname, "..", "..", "..", "node_modules", ".bin");

const RUNTIMES: Array<{ name: string; command: string[]; pattern: RegExp }> = [
  { name: "node", command: [process.execPath], pattern: /runtime=node v/ },
  { name: "bun", command: [join(BIN, "bun")], pattern: /runtime=bun \d/ },
  { name: "deno", command: [join(BIN, "deno"), "run", "-A"], pattern: /runtime=deno \d/ },
];

const scratch = mkdtempSync(join(tmpdir(), "pushwire-runtimes-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

let cert: TestCertificate | undefined;
let nextCert: TestCertificate | undefined;

/** Each runtime's certificate files: `cert` first; a test copies `nextCert` over them and sends SIGHUP. */
function liveCertificate(name: string): { certificate: string; certificateKey: string } {
  const live = { certificate: join(scratch, `${name}-live.crt`), certificateKey: join(scratch, `${name}-live.key`) };
  copyFileSync(cert!.certFile, live.certificate);
  copyFileSync(cert!.keyFile, live.certificateKey);
  return live;
}

/** A subscriber with a 1 s hold (and one with 30 s, for SIGTERM) and the tag/time cursor, a publisher, and the subscriber again over TLS. */
function configFile(name: string): string {
  const sub = {
    path: "/sub", subscriber: "long-polling", channelsPath: "$arg_id", lastReceivedMessageTag: "$arg_tag",
    lastReceivedMessageTime: "$arg_time", longpollingConnectionTtl: "1s",
  };
  const pub = { path: "/pub", publisher: "admin", channelsPath: "$arg_id", storeMessages: true };
  const long = { ...sub, path: "/hold", longpollingConnectionTtl: "30s" };
  const ws = {
    path: "/ws", subscriber: "websocket", channelsPath: "$arg_id", lastReceivedMessageTag: "$arg_tag",
    lastReceivedMessageTime: "$arg_time", pingMessageInterval: "1s",
  };
  const servers: unknown[] = [{ listen: "127.0.0.1:0", locations: [sub, long, ws, pub] }];
  if (cert) servers.push({ listen: "127.0.0.1:0", ssl: liveCertificate(name), locations: [sub, long] });
  const file = join(scratch, `${name}.json`);
  writeFileSync(file, JSON.stringify({ servers }));
  return file;
}

before(() => {
  if (NO_OPENSSL) return;
  cert = makeCertificate(scratch, "runtime");
  nextCert = makeCertificate(scratch, "runtime-next");
});

for (const runtime of RUNTIMES) {
  const missing = existsSync(runtime.command[0]!) ? false : `${runtime.command[0]} is not installed (npm ci installs bun and deno as dev dependencies)`;

  describe(`dist/pushwire.js under ${runtime.name}`, { skip: missing }, () => {
    let app: Launched;
    let port: number;
    const since = (tag: number, time: number): string => `tag=${tag}&time=${encodeURIComponent(httpDate(time))}`;

    before(async () => {
      app = await launch(["--config", configFile(runtime.name)], runtime.command);
      port = app.ports[0]!;
    });
    after(async () => {
      if (app) await app.stop();
    });

    test("starts and names its runtime", () => {
      assert.match(app.output(), runtime.pattern);
    });

    test("publish, then catch-up", async () => {
      const published = await request(port, "/pub?id=rt", { method: "POST", body: "one" });
      assert.equal(published.status, 200);
      assert.equal(published.text, '{"channel": "rt", "published_messages": 1, "stored_messages": 1, "subscribers": 0}\r\n');
      const caught = await request(port, `/sub?id=rt&tag=0&time=${encodeURIComponent(EPOCH)}`);
      assert.equal(caught.status, 200);
      assert.equal(caught.text, "one");
      assert.match(caught.headers.etag ?? "", /^W\/\d+$/);
    });

    test("a held long-poll gets the next message", async () => {
      const now = Math.floor(Date.now() / 1000);
      const held = openRequest(port, `/sub?id=rt2&${since(0, now)}`);
      await sleep(200);
      assert.equal((await request(port, "/pub?id=rt2", { method: "POST", body: "two" })).status, 200);
      const reply = await held.reply;
      assert.equal(reply.status, 200);
      assert.equal(reply.text, "two");
    });

    test("nothing new: 304 Not Modified when the hold ends", async () => {
      const started = Date.now();
      const reply = await request(port, `/sub?id=rt&${since(0, Math.floor(Date.now() / 1000) + 1)}`);
      assert.equal(reply.status, 304);
      assert.equal(reply.headers.etag, "W/0");
      assert.equal(reply.body.length, 0);
      assert.ok(Date.now() - started >= 900, "held for the configured second");
    });

    test("WebSocket: handshake, catch-up, live message, ping, pong echo, close echo", async () => {
      assert.equal((await request(port, "/pub?id=rtws", { method: "POST", body: "stored" })).status, 200);
      const client = await WsClient.upgrade(port, `/ws?id=rtws&tag=0&time=${encodeURIComponent(EPOCH)}`);
      try {
        assert.equal(await client.nextText(), "stored");
        assert.equal((await request(port, "/pub?id=rtws", { method: "POST", body: "live" })).status, 200);
        assert.equal(await client.nextText(), "live");
        client.send(OP.ping, "are you there");
        let frame = await client.nextFrame();
        assert.deepEqual([frame.opcode, frame.payload.toString()], [OP.pong, "are you there"]);
        frame = await client.nextFrame(3000); // the server's own ping after 1 s of silence
        assert.deepEqual([frame.opcode, frame.payload.length], [OP.ping, 0]);
        client.send(OP.close, closePayload(1000));
        frame = await client.nextFrame();
        assert.deepEqual([frame.opcode, frame.closeCode], [OP.close, 1000]);
        await client.waitEnd();
      } finally {
        client.destroy();
      }
    });

    test("https catch-up", { skip: NO_OPENSSL }, async () => {
      const reply = await httpsRequest(app.ports[1]!, `/sub?id=rt&tag=0&time=${encodeURIComponent(EPOCH)}`, { ca: [cert!.pem] });
      assert.equal(reply.status, 200);
      assert.equal(reply.text, "one");
      assert.equal(reply.fingerprint, cert!.fingerprint);
    });

    test("SIGHUP reloads; stored messages stay", async () => {
      const mark = app.output().length;
      app.child.kill("SIGHUP");
      await app.waitFor(/reload: applied: /, 5000, mark);
      const caught = await request(port, `/sub?id=rt&tag=0&time=${encodeURIComponent(EPOCH)}`);
      assert.deepEqual([caught.status, caught.text], [200, "one"]);
    });

    test("SIGHUP with a new certificate: a new connection sees it, a long-poll held over the old one gets its message", { skip: NO_OPENSSL }, async () => {
      const tlsPort = app.ports[1]!;
      const ca = [cert!.pem, nextCert!.pem];
      const held = httpsRequest(tlsPort, `/hold?id=rt4&${since(0, Math.floor(Date.now() / 1000) + 1)}`, { ca });
      await sleep(300);
      copyFileSync(nextCert!.certFile, join(scratch, `${runtime.name}-live.crt`));
      copyFileSync(nextCert!.keyFile, join(scratch, `${runtime.name}-live.key`));
      const mark = app.output().length;
      app.child.kill("SIGHUP");
      await app.waitFor(/reload: applied: 127\.0\.0\.1:0 certificate .* loaded;/, 5000, mark);
      const fresh = await httpsRequest(tlsPort, `/sub?id=rt&tag=0&time=${encodeURIComponent(EPOCH)}`, { ca });
      assert.equal(fresh.fingerprint, nextCert!.fingerprint);
      assert.equal((await request(port, "/pub?id=rt4", { method: "POST", body: "four" })).status, 200);
      const reply = await held;
      assert.deepEqual([reply.status, reply.text, reply.fingerprint], [200, "four", cert!.fingerprint]);
    });

    // Bun's node:cluster shares a port through SO_REUSEPORT on Linux (every worker its own socket); deno has none.
    const clustered = runtime.name === "node" || (runtime.name === "bun" && process.platform === "linux");
    test(clustered ? "--workers 2: a primary and two workers" : "--workers 2: one process, and the start-up log says why", async () => {
      // A fixed port: under bun each worker opens its own socket on it (port 0 would differ per worker).
      const file = join(scratch, `${runtime.name}-workers.json`);
      const locations = [{ path: "/sub", subscriber: "long-polling", channelsPath: "$arg_id", lastReceivedMessageTag: "$arg_tag", lastReceivedMessageTime: "$arg_time", longpollingConnectionTtl: "1s" }, { path: "/pub", publisher: "admin", channelsPath: "$arg_id", storeMessages: true }];
      writeFileSync(file, JSON.stringify({ servers: [{ listen: `127.0.0.1:${await freePort()}`, locations }] }));
      const workers = await launch(["--config", file, "--workers", "2"], runtime.command);
      try {
        // The first " started " line is a worker's; the primary's follows once both workers listen.
        if (clustered) {
          const [, scheduling] = await workers.waitFor(/workers=2 pids=\d+,\d+ connections=(\S+):/);
          assert.equal(scheduling, runtime.name === "bun" ? "reuseport" : "kernel");
        } else {
          assert.match(workers.output(), new RegExp(`warn workers: 2 asked for, but ${runtime.name} [^;]+; running one process`));
          assert.doesNotMatch(workers.output(), /workers=2/);
        }
        const wport = workers.ports[0]!;
        assert.equal((await request(wport, "/pub?id=rtw", { method: "POST", body: "w" })).status, 200);
        const caught = await request(wport, `/sub?id=rtw&tag=0&time=${encodeURIComponent(EPOCH)}`);
        assert.deepEqual([caught.status, caught.text], [200, "w"]);
      } finally {
        assert.equal(await workers.stop(), 0);
      }
    });

    test("--workers 2 with a listener on port 0 under bun: one process, since its workers could not share that port", { skip: runtime.name !== "bun" }, async () => {
      const single = await launch(["--config", configFile(runtime.name), "--workers", "2"], runtime.command);
      try {
        assert.match(single.output(), /warn workers: 2 asked for, but bun [^;]+ workers cannot share port 0 \(each would get a port of its own\); running one process/);
      } finally {
        assert.equal(await single.stop(), 0);
      }
    });

    test("SIGTERM answers a held long-poll with 304 and exits 0", async () => {
      const held = openRequest(port, `/hold?id=rt3&${since(0, Math.floor(Date.now() / 1000) + 1)}`);
      await sleep(200);
      const code = app.stop();
      const reply = await held.reply;
      assert.equal(reply.status, 304);
      assert.equal(await code, 0);
    });
  });
}
