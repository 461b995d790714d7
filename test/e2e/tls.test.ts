import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent } from "node:https";
import { connect } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { normalizeConfig } from "../../src/config/schema.js";
import { NO_OPENSSL, makeCertificate, type TestCertificate } from "../support/certificates.js";
import { bitrixLikeConfig, envelopes, lastStored, httpDate, publishOk, rawExchange, start, waitFor, EPOCH, type RawConfig, type Running } from "../support/helpers.js";
import { httpsRequest } from "../support/https-client.js";

/** TLS listeners (`ssl` on a server): served by node:https with the same handlers, certificates reloaded live. */
describe("TLS", { skip: NO_OPENSSL }, () => {
  let dir: string;
  let certA: TestCertificate;
  let certB: TestCertificate;
  /** The paths the configuration names; tests copy A or B over them as an admin would. */
  let liveCert: string;
  let liveKey: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "pushwire-tls-"));
    certA = makeCertificate(dir, "a");
    certB = makeCertificate(dir, "b");
    liveCert = join(dir, "live.crt");
    liveKey = join(dir, "live.key");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function install(cert: TestCertificate): void {
    copyFileSync(cert.certFile, liveCert);
    copyFileSync(cert.keyFile, liveKey);
  }

  /** The Bitrix layout with its subscriber server on TLS. */
  function tlsConfig(ssl: RawConfig = {}): RawConfig {
    const raw = bitrixLikeConfig();
    const servers = raw.servers as RawConfig[];
    servers[0] = { ...servers[0], ssl: { certificate: liveCert, certificateKey: liveKey, ...ssl } };
    return raw;
  }

  async function withTls(body: (app: Running) => Promise<void>): Promise<void> {
    const app = await start(tlsConfig());
    try {
      await body(app);
    } finally {
      await app.close();
    }
  }

  test("catch-up and a held long-poll work over https", async () => {
    install(certA);
    await withTls(async (app) => {
      await publishOk(app, "tls1", '"first"');
      const caught = await httpsRequest(app.port(0), `/bitrix/sub?CHANNEL_ID=tls1&tag=0&time=${encodeURIComponent(EPOCH)}`, { ca: [certA.pem] });
      assert.equal(caught.status, 200);
      assert.equal(caught.fingerprint, certA.fingerprint);
      assert.deepEqual(envelopes(caught.text).map((e) => e.text), ["first"]);
      assert.equal(caught.headers["access-control-allow-origin"], "*");

      const { tag, time } = lastStored(app, "tls1");
      const held = httpsRequest(app.port(0), `/bitrix/sub?CHANNEL_ID=tls1&tag=${tag}&time=${encodeURIComponent(httpDate(time))}`, { ca: [certA.pem] });
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "the https long-poll to be held");
      await publishOk(app, "tls1", '"second"');
      const delivered = await held;
      assert.equal(delivered.status, 200);
      assert.deepEqual(envelopes(delivered.text).map((e) => e.text), ["second"]);
    });
  });

  test("HTTP/1.1 keep-alive: two requests over one TLS connection", async () => {
    install(certA);
    await withTls(async (app) => {
      await publishOk(app, "tls2", '"x"');
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const path = `/bitrix/sub?CHANNEL_ID=tls2&tag=0&time=${encodeURIComponent(EPOCH)}`;
        const first = await httpsRequest(app.port(0), path, { ca: [certA.pem], agent });
        const second = await httpsRequest(app.port(0), path, { ca: [certA.pem], agent });
        assert.equal(first.status, 200);
        assert.equal(second.status, 200);
        assert.equal(first.headers.connection, "keep-alive");
        assert.equal(second.localPort, first.localPort, "the same client socket");
        assert.equal(app.push.connections, 1, "one connection on the server");
      } finally {
        agent.destroy();
      }
    });
  });

  test("a plain HTTP request on the TLS port is not served", async () => {
    install(certA);
    await withTls(async (app) => {
      const reply = await rawExchange(app.port(0), "GET /bitrix/sub?CHANNEL_ID=a HTTP/1.1\r\nHost: x\r\n\r\n", 1000);
      assert.doesNotMatch(reply.text, /^HTTP\/1\.1 200/);
    });
  });

  test("reload: a new connection gets the new certificate, a long-poll held on the old one still gets its message", async () => {
    install(certA);
    await withTls(async (app) => {
      await publishOk(app, "tls3", '"before"');
      const { tag, time } = lastStored(app, "tls3");
      const held = httpsRequest(app.port(0), `/bitrix/sub?CHANNEL_ID=tls3&tag=${tag}&time=${encodeURIComponent(httpDate(time))}`, { ca: [certA.pem] });
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "the long-poll to be held");

      install(certB);
      const next = normalizeConfig(tlsConfig());
      assert.ok(next.config, next.errors?.join("; "));
      const port = app.port(0);
      const report = await app.push.reload(next.config);
      assert.equal(app.port(0), port, "the listener was kept, not reopened");
      assert.ok(report.changes.some((c) => c.includes(`certificate ${liveCert} loaded`)), report.changes.join("; "));

      const fresh = await httpsRequest(port, `/bitrix/sub?CHANNEL_ID=tls3&tag=0&time=${encodeURIComponent(EPOCH)}`, { ca: [certA.pem, certB.pem] });
      assert.equal(fresh.fingerprint, certB.fingerprint);
      assert.equal(app.push.ctx.held.size, 1, "the held long-poll survived the reload");
      await publishOk(app, "tls3", '"after"');
      const delivered = await held;
      assert.equal(delivered.fingerprint, certA.fingerprint, "answered over the connection made with the old certificate");
      assert.deepEqual(envelopes(delivered.text).map((e) => e.text), ["after"]);
    });
  });

  test("reload: a plain listener that gains an ssl block is closed and reopened with TLS", async () => {
    install(certA);
    const app = await start(bitrixLikeConfig());
    try {
      const before = app.push.listeners.map((l) => l.server);
      const next = normalizeConfig(tlsConfig());
      assert.ok(next.config);
      const report = await app.push.reload(next.config);
      const tlsListener = app.push.listeners.find((l) => l.config.ssl)!;
      assert.ok(tlsListener, "a TLS listener");
      assert.deepEqual(report.changes, ["127.0.0.1:0 closed", `127.0.0.1:0 opened (TLS) on port ${tlsListener.address.port}`]);
      await publishOk(app, "tls5", '"s"');
      const reply = await httpsRequest(tlsListener.address.port, `/bitrix/sub?CHANNEL_ID=tls5&tag=0&time=${encodeURIComponent(EPOCH)}`, { ca: [certA.pem] });
      assert.deepEqual(envelopes(reply.text).map((e) => e.text), ["s"]);
      // Both old listeners were plain 127.0.0.1:0: one is kept (now the publisher), one closed.
      assert.deepEqual(before.map((server) => server.listening).sort(), [false, true]);
      assert.deepEqual(app.push.listeners.map((l) => Boolean(l.config.ssl)), [true, false], "listeners in the file's order");
    } finally {
      await app.close();
    }
  });

  test("reload: the same fixed port switches from http to https", async () => {
    install(certA);
    const raw = bitrixLikeConfig();
    const servers = raw.servers as RawConfig[];
    const app = await start(raw);
    try {
      const port = app.port(0);
      // The running subscriber's port, now written in the file: the same address, with TLS.
      servers[0] = { ...servers[0], listen: `127.0.0.1:${port}` };
      await app.push.reload(normalizeConfig(raw).config!);
      servers[0] = { ...servers[0], ssl: { certificate: liveCert, certificateKey: liveKey } };
      const report = await app.push.reload(normalizeConfig(raw).config!);
      assert.deepEqual(report.changes, [`127.0.0.1:${port} closed`, `127.0.0.1:${port} opened (TLS) on port ${port}`]);
      await publishOk(app, "tls6", '"t"');
      const reply = await httpsRequest(port, `/bitrix/sub?CHANNEL_ID=tls6&tag=0&time=${encodeURIComponent(EPOCH)}`, { ca: [certA.pem] });
      assert.deepEqual(envelopes(reply.text).map((e) => e.text), ["t"]);
    } finally {
      await app.close();
    }
  });

  test("reload with an unchanged certificate leaves the listener alone", async () => {
    install(certA);
    await withTls(async (app) => {
      const next = normalizeConfig(tlsConfig());
      assert.ok(next.config);
      const report = await app.push.reload(next.config);
      assert.deepEqual(report.changes, []);
    });
  });

  test("protocols limit the TLS versions offered", async () => {
    install(certA);
    const app = await start(tlsConfig({ protocols: ["TLSv1.3"] }));
    try {
      const refused = await new Promise<string>((resolve) => {
        const socket = connect({ host: "127.0.0.1", port: app.port(0), ca: [certA.pem], servername: "localhost", maxVersion: "TLSv1.2" });
        socket.on("secureConnect", () => { resolve("connected"); socket.destroy(); });
        socket.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      });
      assert.notEqual(refused, "connected");
      const ok = await httpsRequest(app.port(0), "/", { ca: [certA.pem] });
      assert.equal(ok.status, 403);
    } finally {
      await app.close();
    }
  });

  describe("configuration", () => {
    test("a key that does not match the certificate is refused with both file names", () => {
      const result = normalizeConfig(tlsConfig({ certificate: certA.certFile, certificateKey: certB.keyFile }));
      assert.ok(result.errors);
      assert.equal(result.errors.length, 1);
      assert.match(result.errors[0]!, new RegExp(`^servers\\[0\\]\\.ssl: unusable certificate ${certA.certFile} / key ${certB.keyFile}: .*`));
    });

    test("a certificate file that is not PEM is refused", () => {
      const junk = join(dir, "junk.crt");
      writeFileSync(junk, "not a certificate\n");
      const result = normalizeConfig(tlsConfig({ certificate: junk, certificateKey: certA.keyFile }));
      assert.ok(result.errors);
      assert.match(result.errors[0]!, /^servers\[0\]\.ssl: unusable certificate .*junk\.crt/);
    });

    test("missing files, unknown keys, bad protocols and ciphers: one line each", () => {
      const result = normalizeConfig(tlsConfig({ certificate: join(dir, "nope.crt"), protocols: ["SSLv3"], ciphers: "", sslStapling: true }));
      assert.deepEqual(result.errors, [
        "servers[0].ssl.sslStapling: unknown key (ssl takes certificate, certificateKey, protocols, ciphers)",
        `servers[0].ssl.certificate: cannot read ${join(dir, "nope.crt")}: ENOENT: no such file or directory, open '${join(dir, "nope.crt")}'`,
        "servers[0].ssl.protocols: must be a non-empty list of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3",
        "servers[0].ssl.ciphers: must be an OpenSSL cipher list string",
      ]);
    });

    test("a cipher list OpenSSL does not know is refused", () => {
      const result = normalizeConfig(tlsConfig({ certificate: certA.certFile, certificateKey: certA.keyFile, protocols: ["TLSv1.2"], ciphers: "NO-SUCH-CIPHER" }));
      assert.ok(result.errors);
      assert.match(result.errors[0]!, /^servers\[0\]\.ssl: unusable certificate .*cipher/i);
    });

    test("ssl is only allowed on a server", () => {
      const raw = { ...tlsConfig(), ssl: { certificate: certA.certFile, certificateKey: certA.keyFile } };
      assert.ok(normalizeConfig(raw).errors?.includes("ssl: not allowed here (it belongs on a server)"));
    });
  });
});
