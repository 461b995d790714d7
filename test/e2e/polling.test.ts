import { test, describe } from "node:test";
import assert from "node:assert/strict";
import {
  assertNoCache, httpDate, lastStored, publishOk, request, withServer, DEFAULT_TYPE, EPOCH, type Reply,
} from "../support/helpers.js";

/**
 * Polling over real sockets (PROTOCOL.md §7, §8.2, §8.4, §18.1–2): answers at once, 200 with
 * the messages newer than the cursor or 304 echoing the cursor. Never holds.
 */

const POLL = { path: "/poll", subscriber: "polling", channelsPath: "$arg_id", messageTemplate: "~text~" };
/** BitrixVM's layout plus the /poll location every test reads from. */
const POLLING = { extraSubLocations: [POLL] };

function assertEmpty304(reply: Reply, contentType = DEFAULT_TYPE): void {
  assert.equal(reply.status, 304);
  assert.equal(reply.body.length, 0);
  assert.equal(reply.headers["content-length"], "0");
  assert.equal(reply.headers["content-type"], contentType);
  assertNoCache(reply);
}

const FROM_EPOCH = { "If-Modified-Since": EPOCH, "If-None-Match": "0" };
const SOME_DATE = "Wed, 15 Nov 2023 22:13:20 GMT";

describe("polling: nothing to send", () => {
  test("no messages and no cursor → 304 without Last-Modified or Etag", async () => {
    await withServer(POLLING, async (app) => {
      const reply = await request(app.port(0), "/poll?id=ch");
      assertEmpty304(reply);
      assert.equal(reply.headers["last-modified"], undefined);
      assert.equal(reply.headers["etag"], undefined);
      assert.equal(app.push.ctx.held.size, 0);
      assert.equal(app.push.ctx.hub.subscriptions, 0);
    });
  });

  test("If-None-Match: 3 → 304 echoing Etag: W/3", async () => {
    await withServer(POLLING, async (app) => {
      const reply = await request(app.port(0), "/poll?id=ch", { headers: { "If-None-Match": "3" } });
      assertEmpty304(reply);
      assert.equal(reply.headers["etag"], "W/3");
      assert.equal(reply.headers["last-modified"], undefined);
      const weak = await request(app.port(0), "/poll?id=ch", { headers: { "If-None-Match": "W/7" } });
      assert.equal(weak.headers["etag"], "W/7");
      // An unparsable tag is absent, not an error.
      const bad = await request(app.port(0), "/poll?id=ch", { headers: { "If-None-Match": '"3"' } });
      assertEmpty304(bad);
      assert.equal(bad.headers["etag"], undefined);
    });
  });

  test("If-Modified-Since → 304 echoing Last-Modified (and both with a tag)", async () => {
    await withServer(POLLING, async (app) => {
      const reply = await request(app.port(0), "/poll?id=ch", { headers: { "If-Modified-Since": SOME_DATE } });
      assertEmpty304(reply);
      assert.equal(reply.headers["last-modified"], SOME_DATE);
      assert.equal(reply.headers["etag"], undefined);
      const both = await request(app.port(0), "/poll?id=ch", { headers: { "If-Modified-Since": SOME_DATE, "If-None-Match": "2" } });
      assertEmpty304(both);
      assert.equal(both.headers["last-modified"], SOME_DATE);
      assert.equal(both.headers["etag"], "W/2");
    });
  });

  test("stored messages but no cursor → 304 (nothing old without a cursor)", async () => {
    await withServer(POLLING, async (app) => {
      await publishOk(app, "ch", "m1");
      const reply = await request(app.port(0), "/poll?id=ch");
      assertEmpty304(reply);
      assert.equal(reply.headers["etag"], undefined);
    });
  });

  test("a cursor at the newest message → 304 echoing that cursor", async () => {
    await withServer(POLLING, async (app) => {
      await publishOk(app, "ch", "m1");
      const m = lastStored(app, "ch");
      const reply = await request(app.port(0), "/poll?id=ch", { headers: { "If-Modified-Since": httpDate(m.time), "If-None-Match": `W/${m.tag}` } });
      assertEmpty304(reply);
      assert.equal(reply.headers["last-modified"], httpDate(m.time));
      assert.equal(reply.headers["etag"], `W/${m.tag}`);
    });
  });
});

describe("polling: messages", () => {
  test("messages → 200 with the body, Last-Modified and Etag of the newest", async () => {
    await withServer(POLLING, async (app) => {
      await publishOk(app, "ch", "m1");
      await publishOk(app, "ch", "m2");
      const m2 = lastStored(app, "ch");
      const reply = await request(app.port(0), "/poll?id=ch", { headers: FROM_EPOCH });
      assert.equal(reply.status, 200);
      assert.equal(reply.text, "m1m2");
      assert.equal(reply.headers["etag"], `W/${m2.tag}`);
      assert.equal(reply.headers["last-modified"], httpDate(m2.time));
      assert.equal(reply.headers["content-type"], DEFAULT_TYPE);
      assertNoCache(reply);
      assert.equal(app.push.ctx.held.size, 0);
      assert.equal(app.push.ctx.hub.subscriptions, 0);
      // The returned cursor leads to a 304.
      const next = await request(app.port(0), "/poll?id=ch", { headers: { "If-Modified-Since": reply.headers["last-modified"]!, "If-None-Match": reply.headers["etag"]! } });
      assert.equal(next.status, 304);
    });
  });

  test("backtrack id=ch.b1 returns only the last message", async () => {
    await withServer(POLLING, async (app) => {
      await publishOk(app, "ch", "m1");
      await publishOk(app, "ch", "m2");
      await publishOk(app, "ch", "m3");
      const m3 = lastStored(app, "ch");
      const one = await request(app.port(0), "/poll?id=ch.b1");
      assert.equal(one.status, 200);
      assert.equal(one.text, "m3");
      assert.equal(one.headers["etag"], `W/${m3.tag}`);
      const more = await request(app.port(0), "/poll?id=ch.b10");
      assert.equal(more.text, "m1m2m3");
    });
  });

  test("JSONP: cb([m1,m2]); as application/javascript; a JSONP 304 keeps that type", async () => {
    await withServer(POLLING, async (app) => {
      await publishOk(app, "ch", "m1");
      await publishOk(app, "ch", "m2");
      const reply = await request(app.port(0), "/poll?id=ch&callback=cb", { headers: FROM_EPOCH });
      assert.equal(reply.status, 200);
      assert.equal(reply.headers["content-type"], "application/javascript");
      assert.equal(reply.text, "cb([m1,m2]);");
      const single = await request(app.port(0), "/poll?id=ch.b1&callback=cb");
      assert.equal(single.text, "cb([m2]);");
      const none = await request(app.port(0), "/poll?id=ch&callback=cb");
      assertEmpty304(none, "application/javascript");
    });
  });

  test("event id catch-up: Last-Event-Id starts after the matching message", async () => {
    await withServer(POLLING, async (app) => {
      await publishOk(app, "ch", "m1", { "Event-Id": "e1" });
      await publishOk(app, "ch", "m2", { "Event-Id": "e2" });
      await publishOk(app, "ch", "m3", { "Event-Id": "e3" });
      const m3 = lastStored(app, "ch");
      const after1 = await request(app.port(0), "/poll?id=ch", { headers: { "Last-Event-Id": "e1" } });
      assert.equal(after1.status, 200);
      assert.equal(after1.text, "m2m3");
      assert.equal(after1.headers["etag"], `W/${m3.tag}`);
      // Browsers spell it Last-Event-ID.
      const after2 = await request(app.port(0), "/poll?id=ch", { headers: { "Last-Event-ID": "e2" } });
      assert.equal(after2.text, "m3");
      const newest = await request(app.port(0), "/poll?id=ch", { headers: { "Last-Event-Id": "e3" } });
      assertEmpty304(newest);
      const unknown = await request(app.port(0), "/poll?id=ch", { headers: { "Last-Event-Id": "nope" } });
      assertEmpty304(unknown);
    });
  });

  test("several channels: one reply in publish order", async () => {
    await withServer(POLLING, async (app) => {
      await publishOk(app, "a", "a1");
      await publishOk(app, "b", "b1");
      await publishOk(app, "a", "a2");
      const a2 = lastStored(app, "a");
      const reply = await request(app.port(0), "/poll?id=a/b", { headers: FROM_EPOCH });
      assert.equal(reply.status, 200);
      assert.equal(reply.text, "a1b1a2");
      assert.equal(reply.headers["etag"], `W/${a2.tag}`);
    });
  });
});

describe("polling: channels", () => {
  test("polling creates a missing channel when authorizedChannelsOnly is off", async () => {
    await withServer(POLLING, async (app) => {
      const before = await request(app.port(1), "/bitrix/pub/?CHANNEL_ID=newch");
      assert.equal(before.status, 404);
      const poll = await request(app.port(0), "/poll?id=newch");
      assert.equal(poll.status, 304);
      const after = await request(app.port(1), "/bitrix/pub/?CHANNEL_ID=newch");
      assert.equal(after.status, 200);
      assert.equal(after.text, '{"channel": "newch", "published_messages": 0, "stored_messages": 0, "subscribers": 0}\r\n');
    });
  });

  test("polling with authorizedChannelsOnly refuses a missing channel and creates nothing", async () => {
    await withServer({ extraSubLocations: [{ ...POLL, authorizedChannelsOnly: true }] }, async (app) => {
      const reply = await request(app.port(0), "/poll?id=newch");
      assert.equal(reply.status, 403);
      assert.equal(reply.headers["x-nginx-pushstream-explain"], "Subscriber could not create channels.");
      assert.equal(reply.body.length, 0);
      const info = await request(app.port(1), "/bitrix/pub/?CHANNEL_ID=newch");
      assert.equal(info.status, 404);
    });
  });

  test("no channel id → 400; OPTIONS → 200; POST → 405 Allow: GET", async () => {
    await withServer(POLLING, async (app) => {
      const none = await request(app.port(0), "/poll");
      assert.equal(none.status, 400);
      assert.equal(none.headers["x-nginx-pushstream-explain"], "No channel id provided.");
      const options = await request(app.port(0), "/poll?id=ch", { method: "OPTIONS" });
      assert.equal(options.status, 200);
      assert.equal(options.headers["content-length"], "0");
      const post = await request(app.port(0), "/poll?id=ch", { method: "POST", body: "x" });
      assert.equal(post.status, 405);
      assert.equal(post.headers["allow"], "GET");
    });
  });
});
