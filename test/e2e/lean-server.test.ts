import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { normalizeConfig } from "../../src/config/schema.js";
import { createLeanServer, isLeanServer } from "../../src/http/lean-listener.js";
import { NO_OPENSSL, makeCertificate, type TestCertificate } from "../support/certificates.js";
import { bitrixLikeConfig, envelopes, lastStored, httpDate, parseHead, publishOk, rawExchange, start, waitFor, withServer, EPOCH, type Running } from "../support/helpers.js";
import { httpsRequest } from "../support/https-client.js";
import { RawClient as Client } from "../support/raw-client.js";

/**
 * The lean subscriber listener (`subscriberParser: "lean"`, src/http/lean-server.ts) over real
 * sockets: which servers get it, keep-alive and pipelining in order, request bodies dropped,
 * HTTP/1.0 and 1.1 framing, clients that leave, timeouts, TLS. The whole suite also runs against it
 * with PUSHWIRE_SUBSCRIBER_PARSER=lean.
 */

const LEAN = { subscriberParser: "lean" };
const POLL = { path: "/poll", subscriber: "polling", channelsPath: "$arg_id" };
const STREAM = { path: "/stream", subscriber: "streaming", channelsPath: "$arg_id", messageTemplate: "~text~|" };
const leanLayout = { http: LEAN, extraSubLocations: [POLL, STREAM] };
/** A polling cursor older than everything: the answer carries every stored message. */
const FROM_START = `If-Modified-Since: ${EPOCH}\r\nIf-None-Match: 0\r\n`;

function cursorNow(app: Running, channel: string): string {
  const { tag, time } = lastStored(app, channel);
  return `tag=${tag}&time=${encodeURIComponent(httpDate(time))}`;
}

describe("which servers are lean", () => {
  test("every server gets the lean listener, the publisher's and a statistics one too; \"node\" means none", async () => {
    await withServer(leanLayout, async (app) => {
      assert.deepEqual(app.push.listeners.map((l) => isLeanServer(l.server)), [true, true]);
    });
    await withServer({ http: { subscriberParser: "node" } }, async (app) => {
      assert.deepEqual(app.push.listeners.map((l) => isLeanServer(l.server)), [false, false]);
    });
    const stats = bitrixLikeConfig({ http: LEAN, extraSubLocations: [{ path: "/stats", channelsStatistics: true, channelsPath: "$arg_id" }] });
    const app = await start(stats);
    try {
      assert.equal(isLeanServer(app.push.listeners[0]!.server), true, "a statistics location is served lean");
    } finally {
      await app.close();
    }
  });

  test("an unknown value is a configuration error", () => {
    assert.deepEqual(normalizeConfig(bitrixLikeConfig({ http: { subscriberParser: "fast" } })).errors, ['subscriberParser: must be "lean" or "node", got "fast"']);
  });

  test("a reload that adds a publisher to a lean server keeps that server on the same port, and back", async () => {
    await withServer(leanLayout, async (app) => {
      const port = app.port(0);
      const server = app.push.listeners[0]!.server;
      const withPublisher = bitrixLikeConfig({ http: LEAN, extraSubLocations: [POLL, { path: "/pub", publisher: "admin", channelsPath: "$arg_id", storeMessages: true }] });
      (withPublisher.servers as Array<{ listen: string }>)[0]!.listen = `127.0.0.1:${port}`;
      const report = await app.push.reload(normalizeConfig(withPublisher).config!);
      assert.ok(!report.changes.some((change) => change.includes("parser")), report.changes.join("; "));
      assert.equal(app.push.listeners[0]!.server, server, "the same lean server serves the publisher");
      assert.equal(app.port(0), port);
      const published = await rawExchange(port, "POST /pub?id=r HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx");
      assert.equal(parseHead(published.text).status, 200);

      const back = bitrixLikeConfig({ http: LEAN, extraSubLocations: [POLL] });
      (back.servers as Array<{ listen: string }>)[0]!.listen = `127.0.0.1:${port}`;
      await app.push.reload(normalizeConfig(back).config!);
      assert.equal(app.push.listeners[0]!.server, server);
      const polled = await rawExchange(port, `GET /poll?id=r HTTP/1.1\r\nHost: x\r\n${FROM_START}Connection: close\r\n\r\n`);
      assert.equal(parseHead(polled.text).body, "x");
    });
  });
});

describe("connections", () => {
  test("pipelined requests are answered in order: one held long-poll delays the answers behind it", async () => {
    await withServer(leanLayout, async (app) => {
      await publishOk(app, "p", "1");
      const client = await Client.open(app.port(0));
      client.socket.write(
        `GET /poll?id=p HTTP/1.1\r\nHost: x\r\n${FROM_START}\r\n`
        + `GET /bitrix/sub?CHANNEL_ID=p&${cursorNow(app, "p")} HTTP/1.1\r\nHost: x\r\n\r\n`
        + "GET /poll?id=nothing HTTP/1.1\r\nHost: x\r\n\r\n",
      );
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "the long-poll held");
      // The first answer left before the hold began; the client may read it a moment later.
      await waitFor(() => client.statuses().length > 0, 2000, "the first answer");
      assert.deepEqual(client.statuses(), [200], "only the first answer: the third waits for the held one");
      await publishOk(app, "p", '"2"');
      await waitFor(() => client.statuses().length === 3, 2000, "all three answers");
      assert.deepEqual(client.statuses(), [200, 200, 304]);
      assert.deepEqual(envelopes(client.text).map((e) => e.text), ["2"]);
      assert.equal(client.closed, false, "keep-alive");
      client.socket.destroy();
    });
  });

  test("pipelined requests beyond twice clientMaxHeaderSize behind a held long-poll pause reading, and are all answered after it", async () => {
    await withServer({ ...leanLayout, http: { ...LEAN, clientMaxHeaderSize: "1k" } }, async (app) => {
      await publishOk(app, "q", "1");
      const client = await Client.open(app.port(0));
      const behind = Array.from({ length: 40 }, (_, i) => `GET /poll?id=none&n=${i} HTTP/1.1\r\nHost: x\r\nX-Pad: ${"p".repeat(40)}\r\n\r\n`).join("");
      assert.ok(behind.length > 2 * 1024);
      client.socket.write(`GET /bitrix/sub?CHANNEL_ID=q&${cursorNow(app, "q")} HTTP/1.1\r\nHost: x\r\n\r\n${behind}`);
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "the long-poll held");
      assert.deepEqual(client.statuses(), []);
      await publishOk(app, "q", '"2"');
      await waitFor(() => client.statuses().length === 41, 3000, "all 41 answers");
      assert.deepEqual(client.statuses(), [200, ...new Array(40).fill(304)]);
      client.socket.destroy();
    });
  });

  test("a request arriving one byte per packet is answered like one in a single packet", async () => {
    await withServer(leanLayout, async (app) => {
      await publishOk(app, "d", "bytes");
      const client = await Client.open(app.port(0));
      client.socket.setNoDelay(true);
      const bytes = Buffer.from(`GET /poll?id=d HTTP/1.1\r\nHost: x\r\n${FROM_START}\r\n`);
      for (let i = 0; i < bytes.length; i++) {
        client.socket.write(bytes.subarray(i, i + 1));
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      await waitFor(() => client.statuses().length === 1, 2000, "the answer");
      assert.equal(parseHead(client.text).body, "bytes");
      client.socket.destroy();
    });
  });

  test("a GET with a body (Content-Length or chunked, in pieces) is answered and the connection stays usable", async () => {
    await withServer(leanLayout, async (app) => {
      await publishOk(app, "b", "x");
      const client = await Client.open(app.port(0));
      client.socket.write(`GET /poll?id=b HTTP/1.1\r\nHost: x\r\n${FROM_START}Content-Length: 10\r\n\r\nabc`);
      await waitFor(() => client.statuses().length === 1, 2000, "answer before the body is complete");
      client.socket.write("defghij");
      client.socket.write(`GET /poll?id=b HTTP/1.1\r\nHost: x\r\n${FROM_START}Transfer-Encoding: chunked\r\n\r\n3\r\nab`);
      client.socket.write("c\r\n0\r\n\r\nGET /poll?id=none HTTP/1.1\r\nHost: x\r\n\r\n");
      await waitFor(() => client.statuses().length === 3, 2000, "three answers");
      assert.deepEqual(client.statuses(), [200, 200, 304]);
      client.socket.destroy();
    });
  });

  test("a malformed chunked body after the request was answered: that answer only, then the connection closes", async () => {
    await withServer(leanLayout, async (app) => {
      const reply = await rawExchange(app.port(0), "GET /poll?id=c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
      assert.equal(reply.closedByServer, true);
      assert.match(reply.text, /^HTTP\/1\.1 304 /, "the request itself was answered");
      assert.equal(reply.text.indexOf("HTTP/1.1", 1), -1, `no second answer: ${JSON.stringify(reply.text)}`);
    });
  });

  test("framing as node:http: chunked stream on HTTP/1.1, close-delimited on 1.0; keep-alive headers", async () => {
    await withServer(leanLayout, async (app) => {
      const polled = await rawExchange(app.port(0), "GET /poll?id=f HTTP/1.1\r\nHost: x\r\n\r\n", 300);
      const head = parseHead(polled.text);
      assert.equal(head.headers.get("connection"), "keep-alive");
      assert.equal(head.headers.get("keep-alive"), "timeout=75");
      assert.match(head.headers.get("date") ?? "", /^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/);
      assert.equal(polled.closedByServer, false);

      const v11 = await Client.open(app.port(0));
      v11.socket.write("GET /stream?id=f HTTP/1.1\r\nHost: x\r\n\r\n");
      const v10 = await Client.open(app.port(0));
      v10.socket.write("GET /stream?id=f HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
      await waitFor(() => app.push.ctx.held.size === 2, 2000, "two streams");
      await publishOk(app, "f", "m");
      await waitFor(() => v11.text.endsWith("\r\n") && v11.text.includes("m|") && v10.text.includes("m|"), 2000, "the message on both");
      const h11 = parseHead(v11.text);
      assert.equal(h11.headers.get("transfer-encoding"), "chunked");
      assert.equal(h11.body, "2\r\nm|\r\n");
      const h10 = parseHead(v10.text);
      assert.equal(h10.headers.get("transfer-encoding"), undefined);
      assert.equal(h10.headers.get("connection"), "close");
      assert.equal(h10.body, "m|");
      await app.push.close(500);
      await waitFor(() => v11.closed && v10.closed, 2000, "both closed on shutdown");
      assert.ok(parseHead(v11.text).body.endsWith("0\r\n\r\n"), "the last chunk");
    });
  });

  test("a client that leaves, or only shuts its side, releases its held long-poll", async () => {
    await withServer(leanLayout, async (app) => {
      await publishOk(app, "l", "1");
      const path = `/bitrix/sub?CHANNEL_ID=l&${cursorNow(app, "l")}`;
      const gone = await Client.open(app.port(0));
      gone.socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
      const half = await Client.open(app.port(0));
      half.socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
      await waitFor(() => app.push.ctx.held.size === 2, 2000, "two held");
      gone.socket.destroy();
      half.socket.end();
      await waitFor(() => app.push.ctx.held.size === 0, 2000, "both released");
      await waitFor(() => half.closed, 2000, "the server closed the half-closed connection");
      assert.equal(app.push.ctx.store.find("l")!.subscribers.size, 0);
    });
  });
});

describe("responses", () => {
  test("a header value that would split the response (a percent-decoded CR LF) is a 500, as node:http makes it", async () => {
    const cors = { path: "/cors", subscriber: "polling", channelsPath: "$arg_id", allowedOrigins: "$arg_origin" };
    for (const parser of ["lean", "node"]) {
      await withServer({ http: { subscriberParser: parser }, extraSubLocations: [cors] }, async (app) => {
        const reply = await rawExchange(app.port(0), "GET /cors?id=h&origin=x%0d%0aX-Evil:%201 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert.equal(parseHead(reply.text).status, 500, parser);
        assert.doesNotMatch(reply.text, /X-Evil/i, parser);
        const fine = await rawExchange(app.port(0), "GET /cors?id=h&origin=https://a.example HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert.equal(parseHead(fine.text).headers.get("access-control-allow-origin"), "https://a.example", parser);
      });
    }
  });
  test("one message to held long-polls of every kind: each its own head (origin, JSONP, HTTP/1.0, keep-alive or close), the same body bytes", async () => {
    const lp = { path: "/lp", subscriber: "long-polling", channelsPath: "$arg_id", allowedOrigins: "$arg_origin", messageTemplate: "~id~:~text~|" };
    for (const parser of ["lean", "node"]) {
      await withServer({ http: { subscriberParser: parser }, extraSubLocations: [lp] }, async (app) => {
        const get = (query: string, version = "1.1", extra = "") => `GET /lp?id=s${query} HTTP/${version}\r\nHost: x\r\n${extra}\r\n`;
        const kinds = {
          // Interleaved, so that answers shared by origin are each framed for their connection.
          a1: get("&origin=https://a.example"),
          jsonp: get("&origin=https://b.example&callback=cb"),
          v10: get("&origin=https://a.example", "1.0"),
          bare: get(""),
          close: get("&origin=https://a.example", "1.1", "Connection: close\r\n"),
          v10KeepAlive: get("&origin=https://a.example", "1.0", "Connection: keep-alive\r\n"),
          a2: get("&origin=https://a.example"),
        };
        const answered = (client: Client) => client.text.includes("\r\n\r\n") && parseHead(client.text).body.length >= 4;
        const clients = new Map<string, Client>();
        for (const [name, bytes] of Object.entries(kinds)) {
          const client = await Client.open(app.port(0));
          client.socket.write(bytes);
          clients.set(name, client);
        }
        await waitFor(() => app.push.ctx.held.size === clients.size, 2000, "all held");
        const delivered = app.push.ctx.metrics.deliveredMessages;
        await publishOk(app, "s", "m");
        await waitFor(() => [...clients.values()].every(answered), 2000, "every answer");
        const heads = new Map([...clients].map(([name, client]) => [name, parseHead(client.text)]));
        const at = (name: string) => heads.get(name)!;
        for (const [name, head] of heads) {
          assert.equal(head.status, 200, `${parser} ${name}`);
          assert.equal(head.headers.get("etag"), "W/1", `${parser} ${name}`);
        }
        for (const name of ["a1", "a2", "v10", "v10KeepAlive", "close", "bare"]) assert.equal(at(name).body, "1:m|", `${parser} ${name}`);
        assert.equal(at("jsonp").body, "cb([1:m|]);", parser);
        assert.equal(at("a1").headers.get("access-control-allow-origin"), "https://a.example", parser);
        assert.equal(at("jsonp").headers.get("access-control-allow-origin"), "https://b.example", parser);
        assert.equal(at("jsonp").headers.get("content-type"), "application/javascript", parser);
        assert.equal(at("close").headers.get("access-control-allow-origin"), "https://a.example", parser);
        assert.equal(at("bare").headers.get("access-control-allow-origin"), undefined, parser);
        for (const name of ["a1", "a2", "jsonp", "v10KeepAlive", "bare"]) assert.equal(at(name).headers.get("connection"), "keep-alive", `${parser} ${name}`);
        for (const name of ["v10", "close"]) {
          assert.equal(at(name).headers.get("connection"), "close", `${parser} ${name}`);
          await waitFor(() => clients.get(name)!.closed, 2000, `${parser} ${name} closed by the server`);
        }
        assert.equal(app.push.ctx.metrics.deliveredMessages - delivered, clients.size, parser);
        // A kept-alive connection serves its next request after the shared answer.
        for (const [name, version] of [["a1", "1.1"], ["v10KeepAlive", "1.0"]] as const) {
          const client = clients.get(name)!;
          client.text = "";
          client.socket.write(get("", version, `${FROM_START}Connection: keep-alive\r\n`));
          await waitFor(() => answered(client), 2000, `${parser} ${name}: the next answer`);
          assert.equal(parseHead(client.text).body, "1:m|", `${parser} ${name}`);
          assert.equal(client.closed, false, `${parser} ${name}`);
        }
        for (const client of clients.values()) client.socket.destroy();
      });
    }
  });
});

describe("Expect", () => {
  test("Expect: 100-continue gets 100 Continue before the answer; another expectation gets 417 (as node:http)", async () => {
    for (const parser of ["lean", "node"]) {
      await withServer({ http: { subscriberParser: parser }, extraSubLocations: [POLL] }, async (app) => {
        const continued = await rawExchange(app.port(0), "POST /poll?id=e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\nhello");
        assert.match(continued.text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 405 /, parser);
        const other = await rawExchange(app.port(0), "GET /poll?id=e HTTP/1.1\r\nHost: x\r\nExpect: something\r\nConnection: close\r\n\r\n");
        assert.match(other.text, /^HTTP\/1\.1 417 /, parser);
      });
    }
  });
});

describe("timeouts and limits", () => {
  test("a head that does not complete in headersTimeoutMs gets 408; an idle keep-alive connection is closed after keepAliveMs", async () => {
    await withServer(leanLayout, async (app) => {
      const router = app.push.listeners[0]!.router;
      const server = createLeanServer(app.push.ctx, { maxHeaderSize: 4096, keepAliveMs: 300, headersTimeoutMs: 300 }, router.serve);
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const port = (server.address() as AddressInfo).port;
      try {
        const slow = await Client.open(port);
        slow.socket.write("GET /poll?id=t HTTP/1.1\r\nHo");
        const idle = await Client.open(port);
        idle.socket.write("GET /poll?id=t HTTP/1.1\r\nHost: x\r\n\r\n");
        await waitFor(() => idle.statuses().length === 1, 1000, "the idle client's answer");
        await waitFor(() => slow.closed && idle.closed, 3000, "both closed");
        assert.match(slow.text, /^HTTP\/1\.1 408 Request Timeout\r\n/);
        assert.deepEqual(idle.statuses(), [304], "the idle one only got its answer");
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    });
  });

  test("closeIdleConnections cuts idle connections and keeps those with a held request", async () => {
    await withServer(leanLayout, async (app) => {
      await publishOk(app, "i", "1");
      const idle = await Client.open(app.port(0));
      idle.socket.write("GET /poll?id=none HTTP/1.1\r\nHost: x\r\n\r\n");
      const busy = await Client.open(app.port(0));
      busy.socket.write(`GET /bitrix/sub?CHANNEL_ID=i&${cursorNow(app, "i")} HTTP/1.1\r\nHost: x\r\n\r\n`);
      await waitFor(() => idle.statuses().length === 1 && app.push.ctx.held.size === 1, 2000, "one answered, one held");
      app.push.listeners[0]!.server.closeIdleConnections();
      await waitFor(() => idle.closed, 2000, "the idle one closed");
      assert.equal(busy.closed, false);
      await publishOk(app, "i", '"2"');
      await waitFor(() => busy.statuses().length === 1, 2000, "the held one answered");
      busy.socket.destroy();
    });
  });
});

describe("TLS", { skip: NO_OPENSSL }, () => {
  let dir: string;
  let cert: TestCertificate;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "pushwire-lean-"));
    cert = makeCertificate(dir, "lean");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("an ssl server is lean too: a long-poll held over TLS gets its message", async () => {
    const raw = bitrixLikeConfig({ http: LEAN });
    const servers = raw.servers as Array<Record<string, unknown>>;
    servers[0] = { ...servers[0], ssl: { certificate: cert.certFile, certificateKey: cert.keyFile } };
    const app = await start(raw);
    try {
      assert.equal(isLeanServer(app.push.listeners[0]!.server), true);
      await publishOk(app, "s", '"1"');
      const held = httpsRequest(app.port(0), `/bitrix/sub?CHANNEL_ID=s&${cursorNow(app, "s")}`, { ca: [cert.pem] });
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "held over TLS");
      await publishOk(app, "s", '"2"');
      const reply = await held;
      assert.equal(reply.status, 200);
      assert.deepEqual(envelopes(reply.text).map((e) => e.text), ["2"]);
      const caught = await httpsRequest(app.port(0), `/bitrix/sub?CHANNEL_ID=s&tag=0&time=${encodeURIComponent(EPOCH)}`, { ca: [cert.pem] });
      assert.deepEqual(envelopes(caught.text).map((e) => e.text), ["1", "2"]);
    } finally {
      await app.close();
    }
  });
});
