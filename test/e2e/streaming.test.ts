import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Message } from "../../src/core/message.js";
import {
  assertCors, assertNoCache, assertRefusal, bitrixLikeConfig, httpDate, openRequest, publish, publishOk, request, start, waitFor, withServer,
  CACHE_CONTROL, DEFAULT_TYPE, EPOCH, EXPIRES, type BitrixLikeOptions, type RawConfig, type Running,
} from "../support/helpers.js";
import { openStream, StreamConnection, type StreamResponse } from "../support/stream-client.js";

/**
 * Streaming subscribers over real sockets (PROTOCOL.md §8.1, §9, §14, §18.1): one chunked response
 * per connection carrying the header template, catch-up, live messages and pings, ended by the
 * TTL, channel deletion or shutdown with the footer and `0\r\n\r\n`. The publisher is BitrixVM's
 * /bitrix/pub/ (it stores messages); the subscriber location is /stream?id=….
 */

const STREAM = { path: "/stream", subscriber: "streaming", channelsPath: "$arg_id", messageTemplate: "~channel~:~id~:~text~|" };

/** BitrixVM's layout plus /stream with `sub` overrides (and `http` top-level keys). */
function streaming(sub: RawConfig = {}, http: RawConfig = {}, extra: RawConfig[] = []): BitrixLikeOptions {
  return { http, extraSubLocations: [{ ...STREAM, ...sub }, ...extra] };
}

/** The whole raw config of {@link streaming} (for tests that start and stop the server themselves). */
function streamingConfig(sub: RawConfig): RawConfig {
  return bitrixLikeConfig(streaming(sub));
}

/** Opens a stream and waits until the server holds `held` connections (the subscriber is live). */
async function subscribe(app: Running, path: string, headers: Record<string, string> = {}, held = 1): Promise<{ connection: StreamConnection; response: StreamResponse }> {
  const opened = openStream(app.port(0), path, { headers });
  await waitFor(() => app.push.ctx.held.size === held, 2000, `${path} to be subscribed`);
  return opened;
}

/** An admin DELETE; a body (with its length: node does not chunk a DELETE) is the -2 message's text. */
function deleteChannel(app: Running, channels: string, body?: string) {
  const headers: Record<string, string> = body === undefined ? {} : { "Content-Length": String(Buffer.byteLength(body)) };
  return request(app.port(1), `/bitrix/pub/?CHANNEL_ID=${channels}`, { method: "DELETE", body, headers });
}

/** The stored messages of a channel, oldest first. */
function stored(app: Running, channel: string): Message[] {
  const ring = app.push.ctx.store.find(channel)!.messages;
  const result: Message[] = [];
  for (let i = 0; i < ring.length; i++) result.push(ring.at(i)!);
  return result;
}

function assertStreamHead(response: StreamResponse, contentType = DEFAULT_TYPE): void {
  assert.equal(response.status, 200, response.rawHead);
  assert.match(response.rawHead, /^HTTP\/1\.1 200 OK\r\n/);
  assert.equal(response.headers.get("transfer-encoding"), "chunked");
  assert.equal(response.headers.get("content-length"), undefined);
  assert.equal(response.headers.get("content-type"), contentType);
  assert.equal(response.headers.get("expires"), EXPIRES);
  assert.equal(response.headers.get("cache-control"), CACHE_CONTROL);
}

describe("streaming: the response", () => {
  test("the 200 head is sent at once, before any message, even with an empty header template", async () => {
    await withServer(streaming(), async (app) => {
      const { response } = await subscribe(app, "/stream?id=ch");
      await response.head(1000);
      assertStreamHead(response);
      assert.equal(response.headers.get("access-control-allow-origin"), undefined);
      assert.equal(response.text, "");
      assert.equal(app.push.ctx.hub.subscriptions, 1);
    });
  });

  test("headers: chunked, the location's defaultType, no-cache; CORS with allowedOrigins", async () => {
    await withServer(streaming({ headerTemplate: "H", allowedOrigins: "*", defaultType: "text/html; charset=utf-8" }), async (app) => {
      const { response } = await subscribe(app, "/stream?id=ch");
      await response.untilIncludes("H");
      assertStreamHead(response, "text/html; charset=utf-8");
      assert.equal(response.headers.get("access-control-allow-origin"), "*");
      assert.equal(response.headers.get("access-control-allow-methods"), "GET");
      assert.equal(response.headers.get("access-control-allow-headers"), "If-Modified-Since,If-None-Match,Etag,Event-Id,Event-Type,Last-Event-Id");
      assert.equal(response.text, "H");
      assert.deepEqual(response.chunkSizes, [1]);
    });
  });

  test("OPTIONS → 200 empty with CORS; POST and HEAD → 405 Allow: GET; none subscribes", async () => {
    await withServer(streaming({ allowedOrigins: "*" }), async (app) => {
      const options = await request(app.port(0), "/stream?id=ch", { method: "OPTIONS" });
      assert.equal(options.status, 200);
      assert.equal(options.headers["content-length"], "0");
      assertCors(options);
      for (const method of ["POST", "HEAD", "PUT", "DELETE"]) {
        const reply = await request(app.port(0), "/stream?id=ch", { method, body: method === "POST" || method === "PUT" ? "x" : undefined });
        assert.equal(reply.status, 405, method);
        assert.equal(reply.headers["allow"], "GET", method);
        assertNoCache(reply);
        assertCors(reply);
      }
      assert.equal(app.push.ctx.held.size, 0);
      assert.equal(app.push.ctx.hub.subscriptions, 0);
    });
  });
});

describe("streaming: messages", () => {
  test("header template, then live messages of all channels in publish order (exact bytes)", async () => {
    await withServer(streaming({ headerTemplate: "<H>" }), async (app) => {
      const { response } = await subscribe(app, "/stream?id=a/b");
      await response.untilEndsWith("<H>");
      const published = await publish(app.port(1), "a", "x1");
      assert.equal(published.text, '{"channel": "a", "published_messages": 1, "stored_messages": 1, "subscribers": 1}\r\n');
      await response.untilEndsWith("a:1:x1|");
      await publishOk(app, "c", "not mine");
      await publishOk(app, "b", "y1");
      await publishOk(app, "a", "x2");
      await response.untilEndsWith("a:2:x2|");
      assert.equal(response.text, "<H>a:1:x1|b:1:y1|a:2:x2|");
      // Each piece leaves as its own chunk, at once.
      assert.deepEqual(response.chunkSizes, [3, 7, 7, 7]);
      assert.equal(response.ended, undefined);
    });
  });

  test("a multi-channel publish reaches a subscriber of both channels once per channel", async () => {
    await withServer(streaming(), async (app) => {
      const { response } = await subscribe(app, "/stream?id=a/b");
      await publishOk(app, "a/b", "both");
      await response.untilEndsWith("b:1:both|");
      assert.equal(response.text, "a:1:both|b:1:both|");
    });
  });

  test("a message is rendered with each location's own template; bytes pass unchanged", async () => {
    const other = { ...STREAM, path: "/other", messageTemplate: "[~text~|~size~|~event-id~|~event-type~]" };
    await withServer(streaming({}, {}, [other]), async (app) => {
      const { response: one } = await subscribe(app, "/stream?id=ch");
      const { response: two } = await subscribe(app, "/other?id=ch", {}, 2);
      const text = "żółw \"quoted\" <b>&</b>\r\n~id~";
      await publishOk(app, "ch", text, { "Event-Id": "e1", "Event-Type": "kind" });
      const size = Buffer.byteLength(text);
      const expectedOne = Buffer.from(`ch:1:${text}|`);
      const expectedTwo = Buffer.from(`[${text}|${size}|e1|kind]`);
      await one.untilLength(expectedOne.length);
      await two.untilLength(expectedTwo.length);
      assert.deepEqual(one.body, expectedOne);
      assert.deepEqual(two.body, expectedTwo);
    });
  });
});

describe("streaming: a client that stops reading", () => {
  test("is dropped once subscriberMaxBacklog bytes wait for it; other subscribers lose nothing", async () => {
    await withServer(streaming({ messageTemplate: "~text~", subscriberMaxBacklog: "1m" }), async (app) => {
      const { connection: stuck } = await subscribe(app, "/stream?id=ch");
      stuck.pause();
      const { response: reader } = await subscribe(app, "/stream?id=ch", {}, 2);
      // Pieces well under the limit, so a client that reads never has 1 MiB waiting. Loopback
      // socket buffers take several MB before the stuck client's backlog grows: at most 200 × 256 KiB.
      const piece = "x".repeat(256 * 1024);
      let sent = 0;
      while (app.push.ctx.held.size === 2 && sent < 200) {
        await publishOk(app, "ch", piece);
        sent++;
      }
      assert.equal(app.push.ctx.held.size, 1, `the stuck subscriber was dropped after ${sent} messages`);
      assert.equal(app.push.ctx.hub.subscriptions, 1);
      await publishOk(app, "ch", "after");
      await reader.untilLength(sent * piece.length + 5, 5000);
      assert.equal(reader.body.length, sent * piece.length + 5);
      assert.ok(reader.text.endsWith("xafter"));
      stuck.resume();
      await stuck.untilClosed(5000);
    });
  });
});

describe("streaming: one message larger than subscriberMaxBacklog", () => {
  test("does not drop a client that keeps reading: only bytes left from earlier writes count", async () => {
    await withServer(streaming({ messageTemplate: "~text~", subscriberMaxBacklog: "64k" }), async (app) => {
      const { response: reader } = await subscribe(app, "/stream?id=ch");
      const big = "y".repeat(256 * 1024);
      await publishOk(app, "ch", big);
      await reader.untilLength(big.length, 5000);
      await publishOk(app, "ch", "next");
      await reader.untilLength(big.length + 4, 5000);
      assert.ok(reader.text.endsWith("ynext"));
      assert.equal(app.push.ctx.held.size, 1, "still subscribed");
    });
  });
});

describe("streaming: catch-up before live messages", () => {
  /** Three stored messages on `a`, then the stream; returns their stamps. */
  async function backlog(app: Running): Promise<Message[]> {
    for (const text of ["m1", "m2", "m3"]) await publishOk(app, "a", text);
    return stored(app, "a");
  }

  test("by If-Modified-Since / If-None-Match: after the cursor, then live", async () => {
    await withServer(streaming({ headerTemplate: "H|" }), async (app) => {
      const [m1] = await backlog(app);
      const { response } = await subscribe(app, "/stream?id=a", { "If-Modified-Since": httpDate(m1!.time), "If-None-Match": String(m1!.tag) });
      await response.untilEndsWith("a:3:m3|");
      assert.equal(response.text, "H|a:2:m2|a:3:m3|");
      await publishOk(app, "a", "m4");
      await response.untilEndsWith("a:4:m4|");
      assert.equal(response.text, "H|a:2:m2|a:3:m3|a:4:m4|");
    });
  });

  test("epoch with tag 0 replays everything stored; no cursor replays nothing", async () => {
    await withServer(streaming({ headerTemplate: "H|" }), async (app) => {
      await backlog(app);
      const { response: all } = await subscribe(app, "/stream?id=a", { "If-Modified-Since": EPOCH, "If-None-Match": "0" });
      await all.untilEndsWith("a:3:m3|");
      assert.equal(all.text, "H|a:1:m1|a:2:m2|a:3:m3|");
      const { response: none } = await subscribe(app, "/stream?id=a", {}, 2);
      await none.untilIncludes("H|");
      await publishOk(app, "a", "m4");
      await none.untilEndsWith("a:4:m4|");
      assert.equal(none.text, "H|a:4:m4|");
    });
  });

  test("by the configured tag/time values ($arg_tag, $arg_time), which win over the headers", async () => {
    await withServer(streaming({ headerTemplate: "H|", lastReceivedMessageTag: "$arg_tag", lastReceivedMessageTime: "$arg_time" }), async (app) => {
      const [, m2] = await backlog(app);
      const path = `/stream?id=a&tag=${m2!.tag}&time=${encodeURIComponent(httpDate(m2!.time))}`;
      const { response } = await subscribe(app, path, { "If-Modified-Since": EPOCH, "If-None-Match": "0" });
      await response.untilEndsWith("a:3:m3|");
      assert.equal(response.text, "H|a:3:m3|");
    });
  });

  test("by backtrack `.bN`, several channels merged in publish order", async () => {
    await withServer(streaming({ headerTemplate: "H|" }), async (app) => {
      await publishOk(app, "a", "a1");
      await publishOk(app, "b", "b1");
      await publishOk(app, "a", "a2");
      await publishOk(app, "b", "b2");
      const { response } = await subscribe(app, "/stream?id=a.b1/b.b2");
      await response.untilEndsWith("b:2:b2|");
      assert.equal(response.text, "H|b:1:b1|a:2:a2|b:2:b2|");
      const { response: more } = await subscribe(app, "/stream?id=a.b5", {}, 2);
      await more.untilEndsWith("a:2:a2|");
      assert.equal(more.text, "H|a:1:a1|a:2:a2|");
    });
  });
});

describe("streaming: catch-up by event id and mixed rules", () => {
  test("Last-Event-Id works on a stream too; a backtrack wins over the cursor for its channel", async () => {
    await withServer(streaming({ headerTemplate: "H|" }), async (app) => {
      for (const n of [1, 2, 3]) await publishOk(app, "a", `m${n}`, { "Event-Id": `e${n}` });
      await publishOk(app, "b", "b1");
      const { response: byId } = await subscribe(app, "/stream?id=a", { "Last-Event-Id": "e2" });
      await byId.untilEndsWith("a:3:m3|");
      assert.equal(byId.text, "H|a:3:m3|");
      const { response: mixed } = await subscribe(app, "/stream?id=a.b1/b", { "If-Modified-Since": EPOCH, "If-None-Match": "0" }, 2);
      await mixed.untilEndsWith("b:1:b1|");
      assert.equal(mixed.text, "H|a:3:m3|b:1:b1|");
    });
  });
});

describe("streaming: pings", () => {
  test("the id -1 message through the template with the default text: `-1: |`, every interval of silence", async () => {
    await withServer(streaming({ messageTemplate: "~id~:~text~|", pingMessageInterval: "300ms" }), async (app) => {
      // Taken before subscribing, so the measured interval can only be longer than the real one.
      const opened = Date.now();
      const { response } = await subscribe(app, "/stream?id=ch");
      await response.untilIncludes("-1: |", 2000);
      const first = Date.now() - opened;
      await response.untilEndsWith("-1: |-1: |", 2000);
      const second = Date.now() - opened;
      assert.ok(first >= 250, `first ping after ${first} ms (interval 300 ms)`);
      assert.ok(second - first >= 250, `second ping ${second - first} ms after the first`);
      assert.equal(response.text, "-1: |-1: |");
    });
  });

  test("pingMessageText and the special message's fields: channel empty, tag 0, epoch time", async () => {
    await withServer(streaming({ messageTemplate: "[~channel~|~id~|~tag~|~time~|~text~]", pingMessageInterval: "200ms" }, { pingMessageText: "PING" }), async (app) => {
      const { response } = await subscribe(app, "/stream?id=ch");
      await response.untilIncludes("]", 2000);
      assert.equal(response.text, `[|-1|0|${EPOCH}|PING]`);
    });
  });

  test("no ping while messages flow; the interval restarts after each message", async () => {
    await withServer(streaming({ messageTemplate: "~id~:~text~|", pingMessageInterval: "600ms" }), async (app) => {
      const { response } = await subscribe(app, "/stream?id=ch");
      let expected = "";
      let lastPublish = 0;
      for (let n = 1; n <= 8; n++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        lastPublish = Date.now();
        await publishOk(app, "ch", `m${n}`);
        expected += `${n}:m${n}|`;
        await response.untilEndsWith(`${n}:m${n}|`);
      }
      assert.equal(response.text, expected, "no ping among 8 messages 100 ms apart (interval 600 ms)");
      await response.untilEndsWith("-1: |", 2000);
      const gap = Date.now() - lastPublish;
      assert.ok(gap >= 550, `ping ${gap} ms after the last publish (interval 600 ms)`);
      assert.equal(response.text, `${expected}-1: |`);
    });
  });
});

describe("streaming: the end of a stream", () => {
  test("subscriberConnectionTtl: the footer, then the chunked terminator; the subscription is gone", async () => {
    await withServer(streaming({ headerTemplate: "H|", footerTemplate: "|F", subscriberConnectionTtl: "400ms" }), async (app) => {
      const started = Date.now();
      const { response } = await subscribe(app, "/stream?id=ch");
      await publishOk(app, "ch", "m");
      const body = await response.untilEnd(2000);
      const lasted = Date.now() - started;
      assert.equal(body, "H|ch:1:m||F");
      assert.equal(response.ended, "terminator");
      assert.ok(response.rawBody.toString("latin1").endsWith("\r\n0\r\n\r\n"), JSON.stringify(response.rawBody.toString("latin1")));
      assert.ok(lasted >= 350, `stream lasted ${lasted} ms (TTL 400 ms)`);
      assert.equal(app.push.ctx.held.size, 0);
      assert.equal(app.push.ctx.hub.subscriptions, 0);
    });
  });

  test("a TTL-ended stream without a footer just ends; pings came before it", async () => {
    await withServer(streaming({ messageTemplate: "~id~|", pingMessageInterval: "200ms", subscriberConnectionTtl: "700ms" }), async (app) => {
      const { response } = await subscribe(app, "/stream?id=ch");
      const body = await response.untilEnd(2000);
      assert.match(body, /^(-1\|){2,3}$/);
      assert.equal(response.ended, "terminator");
    });
  });

  test("keep-alive: after a TTL-ended stream the same connection serves the next request", async () => {
    await withServer(streaming({ headerTemplate: "H|", footerTemplate: "|F", subscriberConnectionTtl: "300ms" }), async (app) => {
      const { connection, response } = await subscribe(app, "/stream?id=ch");
      assert.equal(await response.untilEnd(2000), "H||F");
      assert.equal(response.headers.get("connection"), "keep-alive");
      const next = connection.send("/stream?id=ch");
      await next.untilIncludes("H|");
      assertStreamHead(next);
      await publishOk(app, "ch", "again");
      assert.equal(await next.untilEnd(2000), "H|ch:1:again||F");
      assert.equal(connection.closed, false);
      connection.close();
    });
  });

  test("keep-alive: a GET with a body (Bitrix's online check sends one) still leaves the connection usable", async () => {
    await withServer(streaming({ headerTemplate: "H|", subscriberConnectionTtl: "300ms" }), async (app) => {
      const connection = new StreamConnection(app.port(0));
      const first = connection.send("/stream?id=ch", { body: "some=body&more=1" });
      assert.equal(await first.untilEnd(2000), "H|");
      assert.equal(first.ended, "terminator");
      const second = connection.send("/stream?id=ch");
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "the second stream to be subscribed");
      await publishOk(app, "ch", "m");
      assert.equal(await second.untilEnd(2000), "H|ch:1:m|");
      assertStreamHead(second);
      connection.close();
    });
  });

  test("channel deleted (single channel): HEADER_TEMPLATEChannel deletedFOOTER_TEMPLATE, then the end", async () => {
    const sub = { headerTemplate: "HEADER_TEMPLATE", messageTemplate: "~text~", footerTemplate: "FOOTER_TEMPLATE" };
    await withServer(streaming(sub), async (app) => {
      const { connection, response } = await subscribe(app, "/stream?id=ch");
      await response.untilIncludes("HEADER_TEMPLATE");
      const deleted = await deleteChannel(app, "ch");
      assert.equal(deleted.status, 200);
      assert.equal(await response.untilEnd(), "HEADER_TEMPLATEChannel deletedFOOTER_TEMPLATE");
      assert.equal(response.ended, "terminator");
      assert.equal(app.push.ctx.held.size, 0);
      // The connection stays usable.
      const next = connection.send("/stream?id=ch");
      await next.untilIncludes("HEADER_TEMPLATE");
      assertStreamHead(next);
      connection.close();
    });
  });

  test("the deleted text: channelDeletedMessageText, or the DELETE body", async () => {
    await withServer(streaming({ messageTemplate: "~id~:~channel~:~text~|" }, { channelDeletedMessageText: "Bye" }), async (app) => {
      const { response: first } = await subscribe(app, "/stream?id=one");
      await deleteChannel(app, "one");
      assert.equal(await first.untilEnd(), "-2:one:Bye|");
      const { response: second } = await subscribe(app, "/stream?id=two");
      await deleteChannel(app, "two", "gone for good");
      assert.equal(await second.untilEnd(), "-2:two:gone for good|");
    });
  });

  test("one of two channels deleted: the -2 message, and the stream goes on with the other", async () => {
    await withServer(streaming({ footerTemplate: "|F" }), async (app) => {
      const { response } = await subscribe(app, "/stream?id=a/b");
      await deleteChannel(app, "a");
      await response.untilEndsWith("a:-2:Channel deleted|");
      await publishOk(app, "b", "still here");
      await response.untilEndsWith("b:1:still here|");
      // A new channel `a` is not this subscriber's any more.
      await publishOk(app, "a", "new a");
      await publishOk(app, "b", "b2");
      await response.untilEndsWith("b:2:b2|");
      assert.equal(response.text, "a:-2:Channel deleted|b:1:still here|b:2:b2|");
      assert.equal(response.ended, undefined);
      await deleteChannel(app, "b");
      assert.equal(await response.untilEnd(), "a:-2:Channel deleted|b:1:still here|b:2:b2|b:-2:Channel deleted||F");
    });
  });

  test("shutdown (PushServer.close): the footer, the terminator, and the connection closes", async () => {
    const app = await start(streamingConfig({ headerTemplate: "H|", footerTemplate: "|F" }));
    let closed = false;
    try {
      const { connection, response } = await subscribe(app, "/stream?id=ch");
      await publishOk(app, "ch", "m");
      await response.untilEndsWith("ch:1:m|");
      const closing = app.close().then(() => (closed = true));
      assert.equal(await response.untilEnd(), "H|ch:1:m||F");
      assert.equal(response.ended, "terminator");
      await connection.untilClosed();
      await closing;
    } finally {
      if (!closed) await app.close();
    }
  });

  test("the client hanging up releases its subscriptions", async () => {
    await withServer(streaming(), async (app) => {
      const { connection } = await subscribe(app, "/stream?id=a/b");
      assert.equal(app.push.ctx.hub.subscriptions, 2);
      connection.close();
      await waitFor(() => app.push.ctx.held.size === 0 && app.push.ctx.hub.subscriptions === 0, 2000, "the subscription to be released");
      await publishOk(app, "a", "nobody listens");
    });
  });

  test("a request carrying Upgrade: websocket streams as usual; the client hanging up releases it", async () => {
    await withServer(streaming({ headerTemplate: "H|", footerTemplate: "|F" }), async (app) => {
      const upgrade = { Connection: "Upgrade", Upgrade: "websocket" };
      const { connection, response } = await subscribe(app, "/stream?id=ch", upgrade);
      await publishOk(app, "ch", "m1");
      await response.untilEndsWith("H|ch:1:m1|");
      assertStreamHead(response);
      connection.close();
      await waitFor(() => app.push.ctx.held.size === 0 && app.push.ctx.hub.subscriptions === 0, 2000, "the subscription to be released after the client left");
    });
  });

  test("HTTP/1.0: no chunked framing, the body ends when the server closes", async () => {
    await withServer(streaming({ headerTemplate: "H|", footerTemplate: "|F", subscriberConnectionTtl: "300ms" }), async (app) => {
      const connection = new StreamConnection(app.port(0));
      const response = connection.send("/stream?id=ch", { httpVersion: "1.0" });
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "subscribed");
      await publishOk(app, "ch", "m");
      assert.equal(await response.untilEnd(2000), "H|ch:1:m||F");
      assert.equal(response.ended, "close");
      assert.equal(response.headers.get("transfer-encoding"), undefined);
      assert.equal(response.headers.get("content-length"), undefined);
    });
  });
});

describe("streaming: refused, ignored and redirected requests", () => {
  test("X-Nginx-PushStream-Mode: long-polling on a location with subscriberConnectionTtl: 304 after it", async () => {
    await withServer(streaming({ subscriberConnectionTtl: "300ms" }), async (app) => {
      const started = Date.now();
      const reply = await request(app.port(0), "/stream?id=ch", { headers: { "X-Nginx-PushStream-Mode": "long-polling" } });
      const waited = Date.now() - started;
      assert.equal(reply.status, 304);
      assert.equal(reply.headers["etag"], "W/0");
      assert.ok(waited >= 250 && waited < 3000, `held ${waited} ms (TTL 300 ms)`);
    });
  });

  test("`?callback=` is ignored: no JSONP wrapping, the location's type", async () => {
    await withServer(streaming({ headerTemplate: "H|" }), async (app) => {
      const { response } = await subscribe(app, "/stream?id=ch&callback=cb");
      await publishOk(app, "ch", "m");
      await response.untilEndsWith("ch:1:m|");
      assert.equal(response.text, "H|ch:1:m|");
      assertStreamHead(response);
    });
  });

  test("refusals are header-only HTTP answers with the explain text", async () => {
    const auth = { ...STREAM, path: "/auth", authorizedChannelsOnly: true };
    await withServer(streaming({ maxChannelsPerRequest: 2 }, { maxSubscribersPerChannel: 1 }, [auth]), async (app) => {
      const cases: Array<[string, number, string]> = [
        ["/stream", 400, "No channel id provided."],
        ["/stream?id=", 400, "No channel id provided."],
        ["/stream?id=a/b/c", 400, "Too many channels in one request."],
        ["/stream?id=ALL", 403, "Channel id not authorized for this method."],
        ["/stream?id=a*", 403, "Channel id not authorized for this method."],
        [`/stream?id=${"x".repeat(33)}`, 400, "Channel id is too large."],
        ["/auth?id=nothing_stored", 403, "Subscriber could not create channels."],
      ];
      for (const [path, status, explain] of cases) {
        const reply = await request(app.port(0), path);
        assertRefusal(reply, status, explain);
        assertNoCache(reply);
      }
      const { response } = await subscribe(app, "/stream?id=full");
      const refused = await request(app.port(0), "/stream?id=full");
      assertRefusal(refused, 403, "Subscribers limit per channel has been exceeded.");
      // …and the first subscriber still gets its messages.
      await publishOk(app, "full", "m");
      await response.untilEndsWith("full:1:m|");
      // A stored message authorizes the channel.
      await publishOk(app, "authorized", "m");
      const { response: authorized } = await subscribe(app, "/auth?id=authorized", {}, 2);
      await publishOk(app, "authorized", "m2");
      await authorized.untilEndsWith("authorized:2:m2|");
      assert.equal(app.push.ctx.held.size, 2);
    });
  });

  test("channel caps: maxNumberOfChannels and wildcard rules refuse with 403 and the explain", async () => {
    const http = { maxNumberOfChannels: 2, wildcardChannelPrefix: "bc_", maxNumberOfWildcardChannels: 1 };
    await withServer(streaming({ wildcardChannelMaxQtd: 1 }, http), async (app) => {
      const { response } = await subscribe(app, "/stream?id=one/two");
      assertRefusal(await request(app.port(0), "/stream?id=three"), 403, "Number of channels were exceeded.");
      assertRefusal(await request(app.port(0), "/stream?id=bc_x"), 403, "Subscribed too much wildcard channels.");
      assertRefusal(await request(app.port(0), "/stream?id=one/bc_x/bc_y"), 403, "Subscribed too much wildcard channels.");
      const { response: withWildcard } = await subscribe(app, "/stream?id=one/bc_x", {}, 2);
      await publishOk(app, "bc_x", "to all");
      await withWildcard.untilEndsWith("bc_x:1:to all|");
      await publishOk(app, "one", "m");
      await response.untilEndsWith("one:1:m|");
    });
  });

  test("headerTemplateFile: the file's content is the header template", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pushwire-stream-"));
    try {
      const file = join(dir, "header.html");
      writeFileSync(file, "<html><body>\n<!-- from a file -->\n");
      await withServer(streaming({ headerTemplateFile: file }), async (app) => {
        const { response } = await subscribe(app, "/stream?id=ch");
        await publishOk(app, "ch", "m");
        await response.untilEndsWith("ch:1:m|");
        assert.equal(response.text, "<html><body>\n<!-- from a file -->\nch:1:m|");
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("X-Nginx-PushStream-Mode: polling answers at once (304, or 200 with the catch-up)", async () => {
    await withServer(streaming({ headerTemplate: "H|", footerTemplate: "|F" }), async (app) => {
      const nothing = await request(app.port(0), "/stream?id=ch", { headers: { "X-Nginx-PushStream-Mode": "polling" } });
      assert.equal(nothing.status, 304);
      assert.equal(nothing.headers["content-length"], "0");
      assert.equal(nothing.body.length, 0);
      await publishOk(app, "ch", "m1");
      const some = await request(app.port(0), "/stream?id=ch.b1", { headers: { "X-Nginx-PushStream-Mode": "POLLING" } });
      assert.equal(some.status, 200);
      assert.equal(some.text, "H|ch:1:m1||F");
      assert.equal(app.push.ctx.held.size, 0);
    });
  });

  test("X-Nginx-PushStream-Mode: long-polling holds until a message, then answers and ends", async () => {
    await withServer(streaming({ headerTemplate: "H|", footerTemplate: "|F", pingMessageInterval: "100ms" }), async (app) => {
      const pending = openRequest(app.port(0), "/stream?id=ch", { headers: { "X-Nginx-PushStream-Mode": "long-polling" } });
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "the long-poll to be held");
      // No pings on a long-poll.
      await new Promise((resolve) => setTimeout(resolve, 250));
      await publishOk(app, "ch", "m1");
      const reply = await pending.reply;
      assert.equal(reply.status, 200);
      assert.equal(reply.text, "H|ch:1:m1||F");
      assert.match(String(reply.headers["etag"]), /^W\/\d+$/);
      assert.equal(app.push.ctx.held.size, 0);
    });
  });
});
