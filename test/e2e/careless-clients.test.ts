import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { connect as connectTcp, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as connectTls } from "node:tls";
import { isLeanServer } from "../../src/http/lean-listener.js";
import { NO_OPENSSL, makeCertificate, type TestCertificate } from "../support/certificates.js";
import { RecordingLogger } from "../support/context.js";
import { bitrixLikeConfig, publishOk, request, sleep, start, waitFor, withServer, type RawConfig, type Running } from "../support/helpers.js";
import { httpsRequest } from "../support/https-client.js";
import { openStream } from "../support/stream-client.js";
import { WsClient } from "../support/ws-client.js";

/**
 * Clients that are slow or careless on purpose, against every kind of listener (lean and
 * node:http, plain and TLS): they lose their connection at the limit, and the other clients
 * notice nothing.
 */

const HEADER_TIMEOUT_MS = 1000;
/** A timed-out connection closes within this after the timeout (timer wheel ticks, the node:http check). */
const SLACK_MS = 1200;

/** One attacker connection: when it was opened, when the server closed it, what the server said. */
class Attacker {
  readonly openedAt = Date.now();
  closedAt = 0;
  text = "";
  private trickle: NodeJS.Timeout | undefined;

  constructor(
    readonly name: string,
    readonly socket: Socket,
  ) {
    socket.on("data", (chunk: Buffer) => (this.text += chunk.toString("latin1")));
    socket.on("error", () => {});
    socket.on("close", () => {
      this.closedAt = Date.now();
      clearInterval(this.trickle);
    });
  }

  /** A head that never ends: one header byte every 100 ms once connected (`secureConnect` for TLS). */
  slowHead(connected: "connect" | "secureConnect"): this {
    this.socket.once(connected, () => {
      this.socket.write("GET /bitrix/sub?CHANNEL_ID=slow HTTP/1.1\r\nHost: x\r\nX-Slow: ");
      this.trickle = setInterval(() => this.socket.write("a"), 100);
    });
    return this;
  }
}

function openPlain(port: number): Socket {
  return connectTcp(port, "127.0.0.1");
}

function openTls(port: number, ca: Buffer): Socket {
  return connectTls({ host: "127.0.0.1", port, servername: "localhost", ca: [ca] });
}

describe("slowloris on every listener", { skip: NO_OPENSSL }, () => {
  let dir: string;
  let cert: TestCertificate;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "pushwire-slowloris-"));
    cert = makeCertificate(dir, "s");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** The Bitrix layout (subscriber and publisher servers) twice: plain, and again over TLS; on either parser. */
  function allListeners(parser: "lean" | "node"): RawConfig {
    const raw = bitrixLikeConfig({ http: { clientHeaderTimeout: `${HEADER_TIMEOUT_MS}ms`, subscriberParser: parser } });
    const [sub, pub] = raw.servers as RawConfig[];
    const ssl = { certificate: cert.certFile, certificateKey: cert.keyFile };
    raw.servers = [sub, pub, { ...sub, ssl }, { ...pub, ssl }];
    return raw;
  }

  for (const parser of ["lean", "node"] as const) test(`${parser}: a head that never ends and a silent connection (on TLS: a handshake that never starts) are closed at clientHeaderTimeout; other clients are served meanwhile`, async () => {
    const log = new RecordingLogger();
    const app: Running = await start(allListeners(parser), { log });
    const attackers: Attacker[] = [];
    try {
      const kinds = app.push.listeners.map((l, i) => `${isLeanServer(l.server) ? "lean" : "node:http"}${i >= 2 ? " tls" : ""}`);
      const kind = parser === "lean" ? "lean" : "node:http";
      assert.deepEqual(kinds, [kind, kind, `${kind} tls`, `${kind} tls`]);
      for (const [i, listener] of app.push.listeners.entries()) {
        const port = listener.address.port;
        const tls = i >= 2;
        for (let n = 0; n < 3; n++) {
          attackers.push(new Attacker(`${kinds[i]}: slow head ${n}`, tls ? openTls(port, cert.pem) : openPlain(port)).slowHead(tls ? "secureConnect" : "connect"));
          attackers.push(new Attacker(`${kinds[i]}: ${tls ? "no handshake" : "silent"} ${n}`, openPlain(port)));
        }
      }
      // Meanwhile, plain requests on every listener keep being answered promptly.
      let served = 0;
      const started = Date.now();
      while (Date.now() - started < HEADER_TIMEOUT_MS + SLACK_MS + 200) {
        for (const [i, listener] of app.push.listeners.entries()) {
          const path = i % 2 === 0 ? "/bitrix/sub?CHANNEL_ID=other" : "/bitrix/pub/?CHANNEL_ID=other";
          const asked = Date.now();
          const reply = i >= 2
            ? await httpsRequest(listener.address.port, path, { ca: [cert.pem], timeoutMs: 2000 })
            : await request(listener.address.port, path, { timeoutMs: 2000 });
          assert.equal(reply.status, i % 2 === 0 ? 403 : 404, `${kinds[i]}: the usual answer`);
          assert.ok(Date.now() - asked < 500, `${kinds[i]}: answered within 500 ms`);
          served++;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.ok(served >= 8, `plain requests served: ${served}`);
      for (const attacker of attackers) {
        assert.ok(attacker.closedAt > 0, `${attacker.name}: closed within ${HEADER_TIMEOUT_MS + SLACK_MS} ms`);
        const lived = attacker.closedAt - attacker.openedAt;
        assert.ok(lived >= HEADER_TIMEOUT_MS - 100 && lived <= HEADER_TIMEOUT_MS + SLACK_MS, `${attacker.name}: closed after ${lived} ms`);
        if (attacker.name.includes("slow head")) assert.match(attacker.text, /^HTTP\/1\.1 408 /, `${attacker.name}: 408`);
      }
      assert.deepEqual(log.lines.filter((line) => line.startsWith("error")), []);
    } finally {
      for (const attacker of attackers) attacker.socket.destroy();
      await app.close();
    }
  });
});

describe("slow readers", () => {
  const live = (path: string, subscriber: string, messageTemplate: string): RawConfig => ({ path, subscriber, channelsPath: "$arg_id", messageTemplate, subscriberMaxBacklog: "64k" });

  test("on streaming, EventSource and WebSocket at once: each reader that stops reading is dropped past subscriberMaxBacklog; the others get every message, whole and in order", async () => {
    const config = bitrixLikeConfig({ extraSubLocations: [live("/stream", "streaming", "~text~|"), live("/ev", "eventsource", "~text~"), live("/ws/", "websocket", "~text~")] });
    const log = new RecordingLogger();
    await withServer(config, async (app) => {
      const port = app.port(0);
      const stuck = { stream: openStream(port, "/stream?id=ch"), ev: openStream(port, "/ev?id=ch"), ws: await WsClient.upgrade(port, "/ws/?id=ch") };
      stuck.stream.connection.pause();
      stuck.ev.connection.pause();
      stuck.ws.socket.pause();
      const reader = { stream: openStream(port, "/stream?id=ch").response, ev: openStream(port, "/ev?id=ch").response, ws: await WsClient.upgrade(port, "/ws/?id=ch") };
      await waitFor(() => app.push.ctx.held.size === 6, 2000, "six subscribers");
      const body = (n: number): string => String(n).padStart(5, "0") + "z".repeat(16 * 1024 - 5);
      // The WebSocket reader takes its frames as they come (the stream readers keep what arrives).
      const frames: string[] = [];
      let published = 0;
      let publishing = true;
      const reading = (async () => {
        while (publishing || frames.length < published) {
          if (frames.length >= published) {
            await sleep(5);
            continue;
          }
          frames.push((await reader.ws.nextFrame(5000)).payload.toString());
        }
      })();
      // Loopback buffers take a few MB of a stalled reader's bytes before the server's backlog grows.
      while (published < 1000 && app.push.ctx.held.size > 3) await publishOk(app, "ch", body(++published));
      assert.equal(app.push.ctx.held.size, 3, `the three stalled readers dropped within ${published} messages of 16 KB`);
      for (let n = 0; n < 20; n++) await publishOk(app, "ch", body(++published));
      publishing = false;
      await reading;
      const all = Array.from({ length: published }, (_, i) => body(i + 1));
      assert.ok(frames.every((frame, i) => frame === all[i]) && frames.length === published, "WebSocket: every message, in order");
      await reader.stream.untilLength(all.join("|").length + 1, 10_000);
      assert.ok(reader.stream.text === `${all.join("|")}|`, "streaming: every message, in order");
      const events = all.map((text) => `data: ${text}\n\n`).join("");
      await reader.ev.untilLength(events.length, 10_000);
      const text = reader.ev.text;
      assert.ok(text.slice(text.indexOf("data: ")) === events, "EventSource: every message, in order (after the stream's opening comment)");
      const dropped = log.lines.filter((line) => / dropped: \d+ bytes not read/.test(line));
      assert.deepEqual(dropped.map((line) => line.split(" ")[1]).sort(), ["eventsource", "streaming", "websocket"]);
      assert.deepEqual(log.lines.filter((line) => line.startsWith("error")), []);
      stuck.stream.connection.close();
      stuck.ev.connection.close();
      stuck.ws.destroy();
      reader.ws.destroy();
    }, { log });
  });
});
