import { after, before, describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser, Page } from "playwright-core";
import { browserSkipReason } from "../support/chromium-path.js";
import { launchChromium } from "../support/chromium-pull-client.js";
import { PAGE_HTML, type PageEvent } from "../support/browser-page.js";
import { bitrixLikeConfig, httpDate, lastStored, publishOk, sleep, start, type Running } from "../support/helpers.js";

/**
 * The subscriber transports in a real browser (Debian's Chromium driven by playwright-core): the
 * browser's own EventSource, WebSocket and XMLHttpRequest talk to pushwire from a page served on
 * another port, so every request is cross-origin and CORS is the browser's, not ours.
 * Without a Chromium the suite is skipped with the reason (`npm test` installs one first where it
 * can); CI sets PUSHWIRE_REQUIRE_BROWSER=1, which turns that skip into a failure.
 */

const SKIP = browserSkipReason();
/** The longest any single browser event may take; the slowest is an EventSource reconnection (1 s TTL + 500 ms retry). */
const EVENT_MS = 5000;

test("a Chromium is there when the run requires one (PUSHWIRE_REQUIRE_BROWSER=1)", { skip: process.env["PUSHWIRE_REQUIRE_BROWSER"] !== "1" && "browser not required" }, () => {
  assert.equal(SKIP, false, `the browser suites would be skipped: ${SKIP}`);
});

/** What the page reported, and waits on it that fail with everything the page said. */
class PageLog {
  readonly events: PageEvent[] = [];

  of(source: string, kind?: string): PageEvent[] {
    return this.events.filter((e) => e.source === source && (kind === undefined || e.kind === kind));
  }

  /** Waits until `source` has reported `count` events of `kind`; returns them. */
  async until(source: string, kind: string, count = 1, ms = EVENT_MS): Promise<PageEvent[]> {
    const deadline = Date.now() + ms;
    while (this.of(source, kind).length < count) {
      if (Date.now() > deadline) {
        throw new Error(`timed out after ${ms} ms waiting for ${count} '${kind}' from ${source}; the page reported:\n${this.dump()}`);
      }
      await sleep(5);
    }
    return this.of(source, kind);
  }

  dump(): string {
    return this.events.map((e) => JSON.stringify(e)).join("\n");
  }
}

interface XhrReply {
  status: number;
  text: string;
  lastModified: string | null;
  contentType: string | null;
  ms: number;
  error: string | null;
}

interface Envelope {
  id: number;
  channel: string;
  tag: string;
  time: string;
  eventid: string;
  text: unknown;
}

type PollReply = PageEvent & XhrReply & { cursor: string; items: Envelope[] };

describe("real browser", { skip: SKIP }, () => {
  let app: Running | undefined;
  let pageServer: Server | undefined;
  let browser: Browser | undefined;
  /** http://127.0.0.1:<port> of the page, and of pushwire's subscriber server. */
  let pageOrigin = "";
  let subOrigin = "";
  let channelSeq = 0;

  before(async () => {
    app = await start(bitrixLikeConfig({
      // /bitrix/sub stays BitrixVM's (authorizedChannelsOnly, allowedOrigins "*", Bitrix template), held 1 s.
      sub: { longpollingConnectionTtl: "1s" },
      extraSubLocations: [
        { path: "/es/", subscriber: "eventsource", channelsPath: "$arg_CHANNEL_ID", allowedOrigins: "*" },
        {
          // The stream ends after 1 s; a header template starting with ": " is sent verbatim, so it
          // can carry `retry:` and the browser reconnects after 500 ms instead of its ~3 s default.
          path: "/es-ttl/", subscriber: "eventsource", channelsPath: "$arg_CHANNEL_ID", allowedOrigins: "*",
          subscriberConnectionTtl: "1s", headerTemplate: ": pushwire\nretry: 500\n",
        },
        { path: "/ws/", subscriber: "websocket", channelsPath: "$arg_CHANNEL_ID", subscriberConnectionTtl: "1s" },
      ],
    }));
    subOrigin = `http://127.0.0.1:${app.port(0)}`;
    pageServer = createServer((req, res) => {
      if (req.url !== "/") return void res.writeHead(404).end();
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" }).end(PAGE_HTML);
    });
    await new Promise<void>((resolve) => pageServer!.listen(0, "127.0.0.1", resolve));
    pageOrigin = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}`;
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    pageServer?.closeAllConnections();
    await new Promise((resolve) => (pageServer ? pageServer.close(resolve) : resolve(undefined)));
    await app?.close();
  });

  /** A fresh page (own browser context) on the page server, reporting into a new log; closed after the test. */
  async function openPage(t: TestContext): Promise<{ page: Page; log: PageLog }> {
    const context = await browser!.newContext();
    t.after(() => context.close());
    const page = await context.newPage();
    const log = new PageLog();
    page.on("pageerror", (error) => log.events.push({ source: "page", kind: "pageerror", message: error.message }));
    const opened = Date.now();
    await page.exposeFunction("report", (event: PageEvent) => void log.events.push({ ...event, at: Date.now() - opened }));
    await page.goto(`${pageOrigin}/`, { timeout: EVENT_MS });
    await log.until("page", "ready");
    return { page, log };
  }

  /** Calls window.pw[name](...args) in the page. */
  function call<T = unknown>(page: Page, name: string, ...args: unknown[]): Promise<T> {
    return page.evaluate(
      ([fn, params]) => (globalThis as unknown as { pw: Record<string, (...a: unknown[]) => unknown> }).pw[fn]!(...params),
      [name, args] as [string, unknown[]],
    ) as Promise<T>;
  }

  /** A channel id of its own for each test, Bitrix-shaped (32 hex). */
  function channel(): string {
    return (++channelSeq).toString(16).padStart(8, "0").repeat(4);
  }

  /** How many connections are subscribed to `id` right now. */
  function subscribers(id: string): number {
    return app!.push.ctx.store.find(id)?.subscribers.size ?? 0;
  }

  async function untilSubscribed(id: string, count = 1): Promise<void> {
    const deadline = Date.now() + EVENT_MS;
    while (subscribers(id) !== count) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${count} subscriber(s) on ${id}; there are ${subscribers(id)}`);
      await sleep(5);
    }
  }

  const publish = (id: string, body: string, headers: Record<string, string> = {}) => publishOk(app!, id, body, headers);

  test("EventSource gets each message's exact data, its Event-Id as lastEventId and its Event-Type as the event type", async (t) => {
    const { page, log } = await openPage(t);
    const id = channel();
    await call(page, "openEventSource", "es", `${subOrigin}/es/?CHANNEL_ID=${id}`, ["greeting", "other"]);
    await log.until("es", "open");
    await untilSubscribed(id);

    await publish(id, "plain text");
    await publish(id, '{"json":true,"n":[1,2]}', { "Event-Id": "ev-1" });
    await publish(id, "héllo ✓ 🚀");
    await publish(id, "typed", { "Event-Type": "greeting" });
    await publish(id, "line one\nline two\r\nline three", { "Event-Id": "ev-2", "Event-Type": "other" });
    const big = "ü".repeat(100_000);
    await publish(id, big);
    const events = await log.until("es", "event", 6);

    assert.deepEqual(events.map(({ type, data, lastEventId, origin }) => ({ type, data, lastEventId, origin })), [
      { type: "message", data: "plain text", lastEventId: "", origin: subOrigin },
      { type: "message", data: '{"json":true,"n":[1,2]}', lastEventId: "ev-1", origin: subOrigin },
      // The browser keeps the last event ID until an event sets another (HTML, server-sent events).
      { type: "message", data: "héllo ✓ 🚀", lastEventId: "ev-1", origin: subOrigin },
      { type: "greeting", data: "typed", lastEventId: "ev-1", origin: subOrigin },
      { type: "other", data: "line one\nline two\nline three", lastEventId: "ev-2", origin: subOrigin },
      { type: "message", data: big, lastEventId: "ev-2", origin: subOrigin },
    ]);
    assert.equal(log.of("es", "error").length, 0, log.dump());
    await call(page, "close", "es");
  });

  test("EventSource reconnects after the TTL with Last-Event-ID and gets exactly what it missed, once, in order", async (t) => {
    const { page, log } = await openPage(t);
    const id = channel();
    const requests: Array<Promise<Record<string, string>>> = [];
    page.on("request", (request) => {
      if (request.url().includes("/es-ttl/")) requests.push(request.allHeaders());
    });
    await call(page, "openEventSource", "es", `${subOrigin}/es-ttl/?CHANNEL_ID=${id}`, []);
    await log.until("es", "open");
    await untilSubscribed(id);
    await publish(id, "m1", { "Event-Id": "ev-1" });
    await log.until("es", "event", 1);

    // The server ends the stream at its 1 s TTL; while the browser waits to reconnect, three more.
    await log.until("es", "error", 1);
    assert.equal(log.of("es", "error")[0]!.readyState, 0, "the browser is reconnecting (CONNECTING), not closed");
    await publish(id, "m2", { "Event-Id": "ev-2" });
    await publish(id, "m3 ✓", { "Event-Id": "ev-3" });
    await publish(id, "m4", { "Event-Id": "ev-4" });
    assert.equal(subscribers(id), 0, "m2..m4 were published while the browser was disconnected");
    assert.equal(log.of("es", "event").length, 1);

    await log.until("es", "open", 2);
    await log.until("es", "event", 4);
    await untilSubscribed(id);
    await publish(id, "m5", { "Event-Id": "ev-5" });
    // The second TTL end and reconnection (Last-Event-ID ev-5) must bring nothing again.
    await log.until("es", "open", 3);
    await untilSubscribed(id);

    const events = log.of("es", "event").map(({ data, lastEventId }) => ({ data, lastEventId }));
    assert.deepEqual(events, [
      { data: "m1", lastEventId: "ev-1" },
      { data: "m2", lastEventId: "ev-2" },
      { data: "m3 ✓", lastEventId: "ev-3" },
      { data: "m4", lastEventId: "ev-4" },
      { data: "m5", lastEventId: "ev-5" },
    ]);
    const sent = await Promise.all(requests);
    assert.deepEqual(sent.slice(0, 3).map((h) => h["last-event-id"]), [undefined, "ev-1", "ev-5"], "Last-Event-ID of each connection");
    await call(page, "close", "es");
  });

  test("WebSocket gets each message as a text frame with the exact data, then the TTL close with code 1000", async (t) => {
    const { page, log } = await openPage(t);
    const id = channel();
    await call(page, "openWebSocket", "ws", `${subOrigin.replace("http:", "ws:")}/ws/?CHANNEL_ID=${id}`);
    await log.until("ws", "open");
    await untilSubscribed(id);
    const opened = Date.now();
    // Payload lengths in all three frame-length forms: 7-bit, 16-bit (≥ 126) and 64-bit (≥ 65536).
    const texts = ["plain text", '{"json":true}', "héllo ✓ 🚀", "line one\nline two\r\n", "é".repeat(200), "w".repeat(70_000)];
    for (const text of texts) await publish(id, text);
    const [closed] = await log.until("ws", "close", 1, 3000);
    const elapsed = Date.now() - opened;

    const messages = log.of("ws", "message");
    assert.deepEqual(messages.map((m) => m.isText), texts.map(() => true), "text frames");
    assert.deepEqual(messages.map((m) => m.data), texts);
    assert.deepEqual({ code: closed!.code, reason: closed!.reason, wasClean: closed!.wasClean }, { code: 1000, reason: "", wasClean: true });
    // Timed from the page's open, which the browser sees a little after the server counted from.
    assert.ok(elapsed >= 500 && elapsed <= 3000, `closed by the 1 s TTL (after ${elapsed} ms)`);
    assert.equal(log.of("ws", "error").length, 0, log.dump());
    assert.equal(log.events.indexOf(closed!), log.events.length - 1, "nothing after the close");
  });

  test("WebSocket refused after the handshake: close 1008 with push-stream's JSON explain, and the server lets the socket go", async (t) => {
    // Its own pushwire, so a connection the server keeps cannot hold up the others' shutdown.
    const own = await start(bitrixLikeConfig());
    t.after(() => Promise.race([own.close(), sleep(1000)]));
    const { page, log } = await openPage(t);
    const id = channel();

    // authorizedChannelsOnly: a channel with no stored message is refused once the socket is open.
    await call(page, "openWebSocket", "ws", `ws://127.0.0.1:${own.port(0)}/bitrix/subws/?CHANNEL_ID=${id}`);
    const [closed] = await log.until("ws", "close");
    assert.deepEqual(
      { code: closed!.code, reason: closed!.reason, wasClean: closed!.wasClean },
      { code: 1008, reason: '{"http_status": 403, "explain":"Subscriber could not create channels."}', wasClean: true },
    );
    assert.deepEqual(log.of("ws").map((e) => e.kind), ["open", "close"]);
    // The browser answered with its own close frame (RFC 6455 §5.5.1) and closed its side.
    const server = own.push.listeners[0]!.server;
    const connections = () => new Promise<number>((resolve, reject) => server.getConnections((error, n) => (error ? reject(error) : resolve(n))));
    const deadline = Date.now() + 1000;
    let open = await connections();
    while (open > 0 && Date.now() < deadline) {
      await sleep(20);
      open = await connections();
    }
    assert.equal(open, 0, "the refused WebSocket's connection is closed on the server too");
  });

  test("WebSocket on Bitrix's location: tag/time catch-up as Bitrix envelopes, then live; the browser's close is echoed", async (t) => {
    const { page, log } = await openPage(t);
    const id = channel();
    await publish(id, '{"n":1}');
    await publish(id, '{"n":2}');
    const second = lastStored(app!, id);
    await publish(id, '{"n":3}');
    // The cursor of message 2: only 3 is newer.
    const cursor = `&tag=${second.tag}&time=${encodeURIComponent(httpDate(second.time))}`;
    await call(page, "openWebSocket", "ws", `${subOrigin.replace("http:", "ws:")}/bitrix/subws/?CHANNEL_ID=${id}${cursor}`);
    await log.until("ws", "message", 1);
    await untilSubscribed(id);
    await publish(id, '{"n":4}');
    const messages = await log.until("ws", "message", 2);
    const stored = (n: number) => app!.push.ctx.store.find(id)!.messages.at(n)!;
    assert.deepEqual(messages.map((m) => m.data), [3, 4].map((n) => {
      const m = stored(n - 1);
      return `#!NGINXNMS!#{"id":${n},"channel":"${id}","tag":"${m.tag}","time":"${httpDate(m.time)}","eventid":"","text":{"n":${n}}}#!NGINXNME!#`;
    }));
    await call(page, "close", "ws");
    const [closed] = await log.until("ws", "close");
    // ws.close() sends a close frame without a status; the server echoes it, so the page sees 1005.
    assert.deepEqual({ code: closed!.code, wasClean: closed!.wasClean }, { code: 1005, wasClean: true });
    await untilSubscribed(id, 0);
  });

  test("XMLHttpRequest long-poll loop, Bitrix-style: live message, catch-up after reconnect, 304 after the 1 s hold", async (t) => {
    const { page, log } = await openPage(t);
    const id = channel();
    const base = `${subOrigin}/bitrix/sub?CHANNEL_ID=${id}`;

    // The page really is cross-origin: an answer without Access-Control-Allow-Origin is unreadable.
    const blocked = await call<XhrReply>(page, "get", `${subOrigin}/bitrix/subws/?CHANNEL_ID=${id}`);
    assert.deepEqual({ status: blocked.status, error: blocked.error }, { status: 0, error: "network error" });

    await publish(id, '{"n":0}'); // authorizedChannelsOnly: the channel needs a stored message
    await call(page, "startPolling", "lp", base);
    const replies = () => log.of("lp", "reply") as PollReply[];

    // 1. The first poll has no cursor: it waits (message 0 is not sent) and gets message 1.
    await untilSubscribed(id);
    await publish(id, '{"n":1}');
    await log.until("lp", "reply", 1);
    // 2. Held again with message 1's cursor; message 2 answers it and the loop pauses.
    await untilSubscribed(id);
    await call(page, "pausePolling", "lp");
    await publish(id, '{"n":2}');
    await log.until("lp", "reply", 2);
    // 3. While no poll is open, 3 and 4; the next poll gets both at once.
    await publish(id, '{"n":3}');
    await publish(id, '{"n":4}');
    assert.equal(subscribers(id), 0, "3 and 4 were published between polls");
    await call(page, "resumePolling", "lp");
    await log.until("lp", "reply", 3);
    // 4. Nothing more: the poll is held 1 s, then 304; the loop polls again with the same cursor.
    await log.until("lp", "reply", 4, 3000);
    await untilSubscribed(id);
    await call(page, "pausePolling", "lp");
    await publish(id, '{"n":5}');
    await log.until("lp", "reply", 5);
    await call(page, "stopPolling", "lp");
    await log.until("lp", "stopped");

    const all = replies();
    assert.deepEqual(all.map((r) => r.status), [200, 200, 200, 304, 200]);
    assert.deepEqual(all.map((r) => r.items.map((i) => i.text)), [[{ n: 1 }], [{ n: 2 }], [{ n: 3 }, { n: 4 }], [], [{ n: 5 }]]);
    assert.equal(all[0]!.cursor, "", "the first poll carries no cursor");
    for (const [i, reply] of all.entries()) {
      assert.equal(reply.error, null, `reply ${i + 1} readable`);
      if (reply.status !== 200) continue;
      const newest = reply.items[reply.items.length - 1]!;
      // Last-Modified is a CORS-safelisted header: the page reads it; it is the newest message's time.
      assert.equal(reply.lastModified, newest.time, `reply ${i + 1} Last-Modified`);
      assert.equal(reply.contentType, "text/plain; charset=utf-8");
    }
    const stored = (n: number) => app!.push.ctx.store.find(id)!.messages.at(n)!;
    assert.equal(all[2]!.cursor, `&tag=${stored(2).tag}&time=${encodeURIComponent(httpDate(stored(2).time))}`, "the catch-up poll resumed from message 2");
    const notModified = all[3]!;
    assert.equal(notModified.text, "");
    assert.ok(notModified.ms >= 900 && notModified.ms < 3000, `304 after the 1 s hold (${notModified.ms} ms)`);
    assert.match(notModified.lastModified ?? "", /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
    assert.equal(all[4]!.cursor, all[3]!.cursor, "after a 304 the loop keeps its cursor");
  });

  test("XMLHttpRequest with Bitrix's old If-Modified-Since/If-None-Match headers passes the CORS preflight and resumes", async (t) => {
    const { page } = await openPage(t);
    const id = channel();
    await publish(id, '{"n":1}');
    const first = lastStored(app!, id);
    await publish(id, '{"n":2}');
    const reply = await call<XhrReply>(page, "get", `${subOrigin}/bitrix/sub?CHANNEL_ID=${id}`, {
      "If-Modified-Since": httpDate(first.time),
      "If-None-Match": String(first.tag),
    });
    assert.equal(reply.error, null, "the preflight was accepted");
    assert.equal(reply.status, 200);
    const second = lastStored(app!, id);
    assert.equal(
      reply.text,
      `#!NGINXNMS!#{"id":2,"channel":"${id}","tag":"${second.tag}","time":"${httpDate(second.time)}","eventid":"","text":{"n":2}}#!NGINXNME!#`,
    );
  });
});
