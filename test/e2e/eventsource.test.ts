import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  assertCors, assertNoCache, assertRefusal, bitrixLikeConfig, openRequest, publishOk, request, start, waitFor, withServer,
  CACHE_CONTROL, EXPIRES, type BitrixLikeOptions, type RawConfig, type Running,
} from "../support/helpers.js";
import { openStream, type StreamConnection, type StreamResponse } from "../support/stream-client.js";

/**
 * EventSource subscribers over real sockets (PROTOCOL.md §8.5, §9, §14; push-stream's
 * event_source_spec.rb): a text/event-stream whose header/footer are comment lines, each message an
 * event of `data:` lines (with `id:`/`event:` from Event-Id/Event-Type), pings `: -1\n`, and
 * Last-Event-Id resuming after an id. Every stream is also run through a small WHATWG parser, so
 * what a browser would see is checked, not only the bytes.
 */

const EV = { path: "/ev", subscriber: "eventsource", channelsPath: "$arg_id" };
const CONTENT_TYPE = "text/event-stream; charset=utf-8";

function eventsource(sub: RawConfig = {}, http: RawConfig = {}): BitrixLikeOptions {
  return { http, extraSubLocations: [{ ...EV, ...sub }] };
}

async function subscribe(app: Running, path: string, headers: Record<string, string> = {}, held = 1): Promise<{ connection: StreamConnection; response: StreamResponse }> {
  const opened = openStream(app.port(0), path, { headers });
  await waitFor(() => app.push.ctx.held.size === held, 2000, `${path} to be subscribed`);
  return opened;
}

/** The body as UTF-8 (EventSource streams are UTF-8). */
function utf8(response: StreamResponse): string {
  return response.body.toString("utf8");
}

// ---------------------------------------------------------------------------------------------
// A minimal EventSource parser following the WHATWG HTML "event stream interpretation" rules.

interface SseEvent {
  type: string;
  data: string;
  lastEventId: string;
}

interface SseResult {
  events: SseEvent[];
  comments: string[];
  /** The last event id the stream set (what a browser sends back as Last-Event-ID). */
  lastEventId: string;
  /** Text after the last complete line (an event cut short is never dispatched). */
  rest: string;
}

function parseEventStream(stream: string): SseResult {
  const result: SseResult = { events: [], comments: [], lastEventId: "", rest: "" };
  let text = stream.startsWith("\uFEFF") ? stream.slice(1) : stream;
  let data = "";
  let eventType = "";
  let lastEventId = "";
  for (;;) {
    const match = /\r\n|\r|\n/.exec(text);
    // A trailing CR might be the start of a CRLF: a real parser waits; at the end it is a line end.
    if (!match) break;
    const line = text.slice(0, match.index);
    text = text.slice(match.index + match[0].length);
    if (line === "") {
      result.lastEventId = lastEventId;
      if (data === "") {
        eventType = "";
        continue;
      }
      if (data.endsWith("\n")) data = data.slice(0, -1);
      result.events.push({ type: eventType || "message", data, lastEventId });
      data = "";
      eventType = "";
      continue;
    }
    if (line.startsWith(":")) {
      result.comments.push(line.slice(1));
      continue;
    }
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") eventType = value;
    else if (field === "data") data += `${value}\n`;
    else if (field === "id" && !value.includes("\0")) lastEventId = value;
    // "retry" and unknown fields do not matter here.
  }
  result.lastEventId = lastEventId;
  result.rest = text;
  return result;
}

test("the SSE parser itself follows the WHATWG examples", () => {
  const parsed = parseEventStream(": comment\ndata: YHOO\ndata: +2\ndata: 10\n\nid: 1\ndata:x\r\n\r\nevent: add\rdata: 73857293\r\rdata\n\ndata: cut");
  assert.deepEqual(parsed.events, [
    { type: "message", data: "YHOO\n+2\n10", lastEventId: "" },
    { type: "message", data: "x", lastEventId: "1" },
    { type: "add", data: "73857293", lastEventId: "1" },
    { type: "message", data: "", lastEventId: "1" },
  ]);
  assert.deepEqual(parsed.comments, [" comment"]);
  assert.equal(parsed.rest, "data: cut");
});

// ---------------------------------------------------------------------------------------------

describe("eventsource: the response", () => {
  test("200, text/event-stream, chunked, no-cache; the empty header is `: \\n`, sent at once", async () => {
    await withServer(eventsource(), async (app) => {
      const { response } = await subscribe(app, "/ev?id=ch");
      await response.untilEndsWith(": \n");
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("content-type"), CONTENT_TYPE);
      assert.equal(response.headers.get("transfer-encoding"), "chunked");
      assert.equal(response.headers.get("content-length"), undefined);
      assert.equal(response.headers.get("expires"), EXPIRES);
      assert.equal(response.headers.get("cache-control"), CACHE_CONTROL);
      assert.equal(response.headers.get("access-control-allow-origin"), undefined);
      assert.equal(response.text, ": \n");
    });
  });

  test("the content type is text/event-stream whatever defaultType says; CORS with allowedOrigins", async () => {
    await withServer(eventsource({ defaultType: "text/html", allowedOrigins: "*" }), async (app) => {
      const { response } = await subscribe(app, "/ev?id=ch");
      await response.untilEndsWith(": \n");
      assert.equal(response.headers.get("content-type"), CONTENT_TYPE);
      assert.equal(response.headers.get("access-control-allow-origin"), "*");
      assert.equal(response.headers.get("access-control-allow-methods"), "GET");
      const options = await request(app.port(0), "/ev?id=ch", { method: "OPTIONS" });
      assert.equal(options.status, 200);
      assertCors(options);
      const post = await request(app.port(0), "/ev?id=ch", { method: "POST", body: "x" });
      assert.equal(post.status, 405);
      assert.equal(post.headers["allow"], "GET");
      assertNoCache(post);
    });
  });

  test("header template lines (LF, CR, CRLF) become comment lines; empty lines dropped", async () => {
    await withServer(eventsource({ headerTemplate: "header line 1\nheader line 2\rheader line 3\r\nheader line 4\n\n" }), async (app) => {
      const { response } = await subscribe(app, "/ev?id=ch");
      const expected = ": header line 1\n: header line 2\n: header line 3\n: header line 4\n";
      await response.untilEndsWith(": header line 4\n");
      assert.equal(response.text, expected);
      assert.equal(parseEventStream(response.text).events.length, 0);
    });
  });

  test("a header starting with `: ` is sent verbatim; an escaped \\n stays one line", async () => {
    await withServer(eventsource({ headerTemplate: ": my own\n: header\n" }), async (app) => {
      const { response } = await subscribe(app, "/ev?id=ch");
      await response.untilEndsWith(": header\n");
      assert.equal(response.text, ": my own\n: header\n");
    });
    await withServer(eventsource({ headerTemplate: "header line 1\\nheader line 2" }), async (app) => {
      const { response } = await subscribe(app, "/ev?id=ch");
      await response.untilEndsWith("line 2\n");
      assert.equal(response.text, ": header line 1\\nheader line 2\n");
    });
  });

  test("refusals are HTTP answers with the explain text", async () => {
    await withServer(eventsource({ authorizedChannelsOnly: true }), async (app) => {
      assertRefusal(await request(app.port(0), "/ev"), 400, "No channel id provided.");
      assertRefusal(await request(app.port(0), "/ev?id=ch"), 403, "Subscriber could not create channels.");
      assert.equal(app.push.ctx.held.size, 0);
    });
  });
});

describe("eventsource: messages", () => {
  /** Subscribes to /ev?id=ch, publishes `body` with `headers`, and returns what followed the header. */
  async function oneEvent(sub: RawConfig, body: string, headers: Record<string, string> = {}, http: RawConfig = {}): Promise<string> {
    let event = "";
    await withServer(eventsource(sub, http), async (app) => {
      const { response } = await subscribe(app, "/ev?id=ch");
      await response.untilEndsWith(": \n");
      await publishOk(app, "ch", body, headers);
      await response.untilEndsWith("\n\n");
      event = utf8(response).slice(3);
    });
    return event;
  }

  test("default template: `data: test message\\n\\n`", async () => {
    const event = await oneEvent({}, "test message");
    assert.equal(event, "data: test message\n\n");
    assert.deepEqual(parseEventStream(event).events, [{ type: "message", data: "test message", lastEventId: "" }]);
  });

  test("Event-Id → `id:` line; Event-Type → `event:` line", async () => {
    assert.equal(await oneEvent({}, "test message", { "Event-Id": "event_id_with_generic_text_01" }), "id: event_id_with_generic_text_01\ndata: test message\n\n");
    assert.equal(await oneEvent({}, "test message", { "Event-Type": "event_type_with_generic_text_01" }), "event: event_type_with_generic_text_01\ndata: test message\n\n");
    const both = await oneEvent({}, "m", { "Event-Id": "7", "Event-Type": "tick" });
    assert.equal(both, "id: 7\nevent: tick\ndata: m\n\n");
    assert.deepEqual(parseEventStream(both).events, [{ type: "tick", data: "m", lastEventId: "7" }]);
  });

  test("a multi-line body gives one data line per line (LF, CR, CRLF)", async () => {
    const event = await oneEvent({}, "line 1\nline 2\rline 3\r\nline 4");
    assert.equal(event, "data: line 1\ndata: line 2\ndata: line 3\ndata: line 4\n\n");
    assert.equal(parseEventStream(event).events[0]!.data, "line 1\nline 2\nline 3\nline 4");
  });

  test("a custom template applies to each line: `data: {\"id\":\"1\", \"message\":\"test message\"}`", async () => {
    const template = '{"id":"~id~", "message":"~text~"}';
    assert.equal(await oneEvent({ messageTemplate: template }, "test message"), 'data: {"id":"1", "message":"test message"}\n\n');
    assert.equal(await oneEvent({ messageTemplate: template }, "a\nb", { "Event-Id": "x" }), 'id: x\ndata: {"id":"1", "message":"a"}\ndata: {"id":"1", "message":"b"}\n\n');
  });

  test("a template already starting with `data: ` is used as it is; ~size~ counts each line", async () => {
    assert.equal(await oneEvent({ messageTemplate: "data: <~text~>\n" }, "test message"), "data: <test message>\n\n");
    assert.equal(await oneEvent({ messageTemplate: "~size~ ~text~" }, "ab\ncdef"), "data: 2 ab\ndata: 4 cdef\n\n");
  });

  test("a text of line breaks only still sends one (empty) data line", async () => {
    const event = await oneEvent({}, "\r\n");
    assert.equal(event, "data: \n\n");
    assert.deepEqual(parseEventStream(event).events, [{ type: "message", data: "", lastEventId: "" }]);
  });

  test("UTF-8 passes unchanged", async () => {
    assert.equal(await oneEvent({}, "żółw ✓ 🐢"), "data: żółw ✓ 🐢\n\n");
  });
});

describe("eventsource: pings, TTL, deletion", () => {
  test("the ping is `: -1\\n`, not templated (whatever the template and pingMessageText)", async () => {
    const sub = { messageTemplate: '{"id":"~id~", "message":"~text~"}', pingMessageInterval: "250ms" };
    await withServer(eventsource(sub, { pingMessageText: "PING" }), async (app) => {
      const { response } = await subscribe(app, "/ev?id=ch");
      await response.untilEndsWith(": \n: -1\n: -1\n", 2000);
      assert.equal(response.text, ": \n: -1\n: -1\n");
      assert.deepEqual(parseEventStream(response.text).events, []);
    });
  });

  test("subscriberConnectionTtl: footer lines as comments, then the terminator", async () => {
    const sub = { footerTemplate: "footer line 1\nfooter line 2\rfooter line 3\r\nfooter line 4", subscriberConnectionTtl: "400ms" };
    await withServer(eventsource(sub), async (app) => {
      const { response } = await subscribe(app, "/ev?id=ch");
      await publishOk(app, "ch", "m", { "Event-Id": "e1" });
      const body = await response.untilEnd(2000);
      assert.equal(body, ": \nid: e1\ndata: m\n\n: footer line 1\n: footer line 2\n: footer line 3\n: footer line 4\n");
      assert.equal(response.ended, "terminator");
      const parsed = parseEventStream(body);
      assert.deepEqual(parsed.events, [{ type: "message", data: "m", lastEventId: "e1" }]);
      assert.equal(parsed.rest, "");
    });
  });

  test("header, template and footer together (push-stream's example); a footer starting with `: ` is verbatim", async () => {
    const sub = { headerTemplate: "header", messageTemplate: "msg ~text~", footerTemplate: "footer", subscriberConnectionTtl: "300ms" };
    await withServer(eventsource(sub), async (app) => {
      const { response } = await subscribe(app, "/ev?id=ch");
      await publishOk(app, "ch", "test message");
      assert.equal(await response.untilEnd(2000), ": header\ndata: msg test message\n\n: footer\n");
    });
    await withServer(eventsource({ footerTemplate: ": bye", subscriberConnectionTtl: "300ms" }), async (app) => {
      const { response } = await subscribe(app, "/ev?id=ch");
      assert.equal(await response.untilEnd(2000), ": \n: bye");
    });
  });

  test("channel deleted: a `data: Channel deleted` event, the footer, the end", async () => {
    await withServer(eventsource({ footerTemplate: "bye" }), async (app) => {
      const { response } = await subscribe(app, "/ev?id=ch");
      await response.untilEndsWith(": \n");
      const deleted = await request(app.port(1), "/bitrix/pub/?CHANNEL_ID=ch", { method: "DELETE" });
      assert.equal(deleted.status, 200);
      assert.equal(await response.untilEnd(), ": \ndata: Channel deleted\n\n: bye\n");
      assert.equal(response.ended, "terminator");
    });
  });

  test("one of two channels deleted: the event, and the stream goes on", async () => {
    await withServer(eventsource({ messageTemplate: "~channel~ ~id~ ~text~" }), async (app) => {
      const { response } = await subscribe(app, "/ev?id=a/b");
      await request(app.port(1), "/bitrix/pub/?CHANNEL_ID=a", { method: "DELETE" });
      await response.untilEndsWith("data: a -2 Channel deleted\n\n");
      await publishOk(app, "b", "next", { "Event-Id": "b1" });
      await response.untilEndsWith("data: b 1 next\n\n");
      assert.equal(response.text, ": \ndata: a -2 Channel deleted\n\nid: b1\ndata: b 1 next\n\n");
      assert.equal(response.ended, undefined);
      assert.deepEqual(parseEventStream(response.text).events.map((e) => [e.data, e.lastEventId]), [["a -2 Channel deleted", ""], ["b 1 next", "b1"]]);
    });
  });
});

test("eventsource: shutdown (PushServer.close) sends the footer comment and ends the stream", async () => {
  const app = await start(bitrixLikeConfig(eventsource({ footerTemplate: "server going away" })));
  let closed = false;
  try {
    const { connection, response } = await subscribe(app, "/ev?id=ch");
    await response.untilEndsWith(": \n");
    const closing = app.close().then(() => (closed = true));
    assert.equal(await response.untilEnd(), ": \n: server going away\n");
    assert.equal(response.ended, "terminator");
    await connection.untilClosed();
    await closing;
  } finally {
    if (!closed) await app.close();
  }
});

describe("eventsource: resuming with Last-Event-Id", () => {
  async function withEvents(sub: RawConfig, run: (app: Running) => Promise<void>): Promise<void> {
    await withServer(eventsource(sub), async (app) => {
      for (const n of [1, 2, 3]) await publishOk(app, "ch", `m${n}`, { "Event-Id": `e${n}` });
      await run(app);
    });
  }

  test("the Last-Event-Id header resumes after that id, then live events follow", async () => {
    await withEvents({}, async (app) => {
      const { response } = await subscribe(app, "/ev?id=ch", { "Last-Event-ID": "e1" });
      await response.untilEndsWith("id: e3\ndata: m3\n\n");
      assert.equal(response.text, ": \nid: e2\ndata: m2\n\nid: e3\ndata: m3\n\n");
      await publishOk(app, "ch", "m4", { "Event-Id": "e4" });
      await response.untilEndsWith("id: e4\ndata: m4\n\n");
      const parsed = parseEventStream(response.text);
      assert.deepEqual(parsed.events.map((e) => e.data), ["m2", "m3", "m4"]);
      assert.equal(parsed.lastEventId, "e4");
    });
  });

  test("an unknown or absent id replays nothing", async () => {
    await withEvents({ headerTemplate: "h" }, async (app) => {
      const { response: unknown } = await subscribe(app, "/ev?id=ch", { "Last-Event-Id": "nope" });
      const { response: none } = await subscribe(app, "/ev?id=ch", {}, 2);
      await publishOk(app, "ch", "live");
      await unknown.untilEndsWith("data: live\n\n");
      await none.untilEndsWith("data: live\n\n");
      assert.equal(unknown.text, ": h\ndata: live\n\n");
      assert.equal(none.text, ": h\ndata: live\n\n");
    });
  });

  test("lastEventId: \"$arg_last\" takes the id from the query (percent-decoded), winning over the header", async () => {
    await withEvents({ lastEventId: "$arg_last" }, async (app) => {
      const { response } = await subscribe(app, "/ev?id=ch&last=e2", { "Last-Event-Id": "e1" });
      await response.untilEndsWith("data: m3\n\n");
      assert.equal(response.text, ": \nid: e3\ndata: m3\n\n");
    });
    await withServer(eventsource({ lastEventId: "$arg_last" }), async (app) => {
      await publishOk(app, "ch", "a", { "Event-Id": "id 1" });
      await publishOk(app, "ch", "b", { "Event-Id": "id 2" });
      const { response } = await subscribe(app, "/ev?id=ch&last=id%201");
      await response.untilEndsWith("data: b\n\n");
      assert.equal(response.text, ": \nid: id 2\ndata: b\n\n");
    });
  });

  test("the whole stream a browser sees: ids, types, multi-line data, comments ignored", async () => {
    await withServer(eventsource({ headerTemplate: "welcome\nto the stream", pingMessageInterval: "200ms" }), async (app) => {
      const { response } = await subscribe(app, "/ev?id=a/b");
      await publishOk(app, "a", "one", { "Event-Id": "a-1" });
      await publishOk(app, "b", "two\nlines", { "Event-Type": "multi" });
      await publishOk(app, "a", "three", { "Event-Id": "a-2", "Event-Type": "last" });
      await response.untilEndsWith("data: three\n\n");
      await response.untilEndsWith(": -1\n", 2000);
      const parsed = parseEventStream(utf8(response));
      assert.deepEqual(parsed.events, [
        { type: "message", data: "one", lastEventId: "a-1" },
        { type: "multi", data: "two\nlines", lastEventId: "a-1" },
        { type: "last", data: "three", lastEventId: "a-2" },
      ]);
      assert.deepEqual(parsed.comments.slice(0, 2), [" welcome", " to the stream"]);
      assert.ok(parsed.comments.slice(2).every((c) => c === " -1"), JSON.stringify(parsed.comments));
      assert.equal(parsed.lastEventId, "a-2");
      assert.equal(parsed.rest, "");
    });
  });
});

describe("eventsource: X-Nginx-PushStream-Mode", () => {
  test("polling answers at once: 304 without messages, 200 with the backtrack", async () => {
    await withServer(eventsource(), async (app) => {
      const nothing = await request(app.port(0), "/ev?id=ch", { headers: { "X-Nginx-PushStream-Mode": "polling" } });
      assert.equal(nothing.status, 304);
      assert.equal(nothing.body.length, 0);
      await publishOk(app, "ch", "stored one");
      const some = await request(app.port(0), "/ev?id=ch.b1", { headers: { "X-Nginx-PushStream-Mode": "polling" } });
      assert.equal(some.status, 200);
      assert.ok(some.text.includes("stored one"), some.text);
      assert.equal(app.push.ctx.held.size, 0);
    });
  });

  test("long-polling holds, then one message ends it", async () => {
    await withServer(eventsource(), async (app) => {
      const pending = openRequest(app.port(0), "/ev?id=ch", { headers: { "X-Nginx-PushStream-Mode": "Long-Polling" } });
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "the long-poll to be held");
      const held = [...app.push.ctx.held][0]!;
      assert.equal(held.mode, "long-polling");
      await publishOk(app, "ch", "live one");
      const reply = await pending.reply;
      assert.equal(reply.status, 200);
      assert.ok(reply.text.includes("live one"), reply.text);
      assert.match(String(reply.headers["etag"]), /^W\/\d+$/);
    });
  });
});
