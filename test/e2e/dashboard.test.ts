import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dashboardConfig, metricValue } from "../support/dashboard.js";
import { bitrixLikeConfig, openRequest, request, sleep, waitFor, withServer, type Running } from "../support/helpers.js";
import { openStream } from "../support/stream-client.js";

/**
 * The dashboard over plain HTTP: its JSON says what /metrics says, the sampler runs only while a
 * feed is open, publishing needs the location's consent and the page's header, and the BitrixVM
 * layout keeps it off the public port. The browser suite (dashboard-browser) drives the page.
 */

const SITE = 1;

async function json<T>(app: Running, path: string): Promise<T> {
  const reply = await request(app.port(SITE), path);
  assert.equal(reply.status, 200, `${path}: ${reply.status} ${reply.headers["x-nginx-pushstream-explain"] ?? ""}`);
  assert.match(String(reply.headers["content-type"]), /^application\/json/);
  return JSON.parse(reply.text) as T;
}

function publish(app: Running, id: string, body: string): Promise<void> {
  return request(app.port(SITE), `/pub/?id=${encodeURIComponent(id)}`, { method: "POST", body }).then((r) => assert.equal(r.status, 200));
}

interface Now {
  heldByMode: Record<string, number>;
  subscribers: number;
  subscriptions: number;
  channels: number;
  storedMessages: number;
  storedBytes: number;
  memoryUsed: number;
  memoryBudget: number;
  totals: { published: number; delivered: number; connectionsOpened: number; connectionsClosed: number; longPollTimeouts: number; evicted: number; rejected: Record<string, number> };
  listeners: Array<{ port: number; tls: boolean; locations: string[] }>;
  messageLog: { state: string };
  workers: null;
  version: string;
}

describe("dashboard over HTTP", () => {
  test("every value of api/now is the one /metrics gives (one source of truth)", async () => {
    await withServer(dashboardConfig(), async (app) => {
      const sub = app.port(0);
      for (let i = 0; i < 5; i++) await publish(app, `m${i % 2}`, `hello ${i}`);
      const held = [openRequest(sub, "/lp/?id=m0", { headers: { "If-Modified-Since": "Thu, 01 Jan 2099 00:00:00 GMT" } }), openRequest(sub, "/lp/?id=m1", { headers: { "If-Modified-Since": "Thu, 01 Jan 2099 00:00:00 GMT" } })];
      const stream = openStream(sub, "/stream/?id=m0");
      await stream.response.head();
      await request(app.port(SITE), "/nowhere"); // a 403 to count
      await waitFor(() => app.push.ctx.held.size === 3, 2000, "3 held");
      try {
        const now = await json<Now>(app, "/dashboard/api/now");
        const text = (await request(app.port(SITE), "/metrics")).text;
        assert.equal(now.heldByMode["long-polling"], metricValue(text, "pushwire_held_connections", 'mode="long-polling"'));
        assert.equal(now.heldByMode["streaming"], metricValue(text, "pushwire_held_connections", 'mode="streaming"'));
        assert.deepEqual(now.heldByMode, { "long-polling": 2, streaming: 1 });
        const pairs: Array<[number, string]> = [
          [now.subscribers, "pushwire_subscribers"],
          [now.subscriptions, "pushwire_subscriptions"],
          [now.channels, "pushwire_channels"],
          [now.storedMessages, "pushwire_stored_messages"],
          [now.storedBytes, "pushwire_stored_message_bytes"],
          [now.memoryUsed, "pushwire_memory_used_bytes"],
          [now.memoryBudget, "pushwire_memory_budget_bytes"],
          [now.totals.published, "pushwire_published_messages_total"],
          [now.totals.delivered, "pushwire_delivered_messages_total"],
          [now.totals.longPollTimeouts, "pushwire_long_poll_timeouts_total"],
          [now.totals.evicted, "pushwire_evicted_messages_total"],
        ];
        for (const [value, name] of pairs) assert.equal(value, metricValue(text, name), name);
        assert.equal(now.totals.rejected["403"], metricValue(text, "pushwire_rejected_requests_total", 'status="403"'));
        // The /metrics request itself opened one more connection (and the api/now one may have closed since).
        assert.equal(metricValue(text, "pushwire_connections_opened_total") - now.totals.connectionsOpened, 1);
        assert.ok(metricValue(text, "pushwire_connections_closed_total") >= now.totals.connectionsClosed);
        assert.equal(now.totals.published, 5);
        assert.equal(now.messageLog.state, "off");
        assert.equal(now.workers, null);
        assert.deepEqual(now.listeners.map((l) => [l.port, l.tls]), [[app.port(0), false], [app.port(1), false]]);
        assert.ok(now.listeners[1]!.locations.includes("/dashboard/ dashboard"));
      } finally {
        for (const h of held) {
          h.reply.catch(() => {});
          h.abort();
        }
        stream.connection.close();
      }
    });
  });

  test("with a message log: its state, bytes and segments are the ones /metrics gives", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pushwire-dashboard-log-"));
    try {
      await withServer(dashboardConfig({ messageLog: { path: dir, fsync: "off" } }), async (app) => {
        await publish(app, "logged", "kept on disk");
        const now = await json<{ messageLog: { state: string; bytes: number; segments: number; fsync: string } }>(app, "/dashboard/api/now");
        const text = (await request(app.port(SITE), "/metrics")).text;
        assert.equal(now.messageLog.state, "on");
        assert.equal(now.messageLog.fsync, "off");
        assert.equal(now.messageLog.bytes, metricValue(text, "pushwire_message_log_bytes"));
        assert.equal(now.messageLog.segments, metricValue(text, "pushwire_message_log_segments"));
        assert.ok(now.messageLog.bytes > 0);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the sampler runs only while a feed is open; the feed sends the picture, then a sample a second", async () => {
    await withServer(dashboardConfig(), async (app) => {
      const feed = app.push.dashboard;
      assert.equal(feed.sampling, false, "nobody watches: nothing runs");
      const { connection, response } = openStream(app.port(SITE), "/dashboard/feed");
      await response.untilIncludes("event: init");
      assert.equal(response.headers.get("content-type"), "text/event-stream; charset=utf-8");
      assert.equal(feed.sampling, true);
      await publish(app, "feed-test", "x");
      await publish(app, "feed-test", "y");
      const text = await response.until(() => /"publishes":2/.test(response.text), "a sample with 2 publishes", 3000);
      assert.match(text, /event: sample\ndata: \{"now":/);
      const sample = text.split("\n").filter((l) => l.startsWith("data: ") && l.includes('"sample":{')).map((l) => JSON.parse(l.slice(6)) as { sample: { publishes: number }; busiest: Array<{ id: string; perSecond: number }> });
      assert.ok(sample.some((s) => s.sample.publishes === 2 && s.busiest[0]!.id === "feed-test"));
      connection.close();
      await waitFor(() => !feed.sampling, 2000, "the sampler stops with the last viewer");
      assert.equal(feed.viewerCount, 0);
    });
  });

  test("a channel's page: stored messages, subscribers by mode, the events channel's entries; hostile ids come back as JSON text", async () => {
    await withServer(dashboardConfig(), async (app) => {
      const id = `q"'<script>alert(1)&x=<img src=x onerror=alert(2)>`; // no "/": a publish path splits ids at it
      await publish(app, id, "<b>bold</b>");
      const stream = openStream(app.port(0), `/ev/?id=${encodeURIComponent(id)}`);
      await stream.response.head();
      try {
        const view = await json<{ id: string; exists: boolean; stored: number; subscribersByMode: Record<string, number>; messages: Array<{ id: number; size: number; preview: string }>; events: Array<{ type: string }> }>(app, `/dashboard/api/channel?id=${encodeURIComponent(id)}`);
        assert.equal(view.id, id);
        assert.equal(view.exists, true);
        assert.deepEqual(view.subscribersByMode, { eventsource: 1 });
        assert.deepEqual(view.messages.map((m) => [m.id, m.size, m.preview]), [[1, 11, "<b>bold</b>"]]);
        assert.deepEqual(view.events.map((e) => e.type), ["channel_created", "client_subscribed"]);
        const found = await json<Array<{ id: string }>>(app, `/dashboard/api/channels?q=${encodeURIComponent("<SCRIPT>")}`);
        assert.deepEqual(found.map((c) => c.id), [id]);
      } finally {
        stream.connection.close();
      }
    });
  });

  test("publishing: only where dashboardPublish is set, only with the page's header and a same-host Origin", async () => {
    await withServer(dashboardConfig(), async (app) => {
      const site = app.port(SITE);
      const post = (path: string, headers: Record<string, string>) => request(site, path, { method: "POST", body: "hi", headers });
      assert.equal((await post("/ro/publish?id=t", { "X-Pushwire-Dashboard": "1" })).status, 403, "read-only location");
      assert.equal((await post("/dashboard/publish?id=t", {})).status, 403, "no page header");
      assert.equal((await post("/dashboard/publish?id=t", { "X-Pushwire-Dashboard": "1", Origin: "http://evil.example" })).status, 403, "another origin");
      assert.equal((await request(site, "/dashboard/publish?id=t")).status, 405, "GET");
      assert.equal(app.push.ctx.store.find("t"), undefined);
      const ok = await post("/dashboard/publish?id=t", { "X-Pushwire-Dashboard": "1", Origin: `http://127.0.0.1:${site}` });
      assert.equal(ok.status, 200);
      assert.equal((JSON.parse(ok.text) as { message: { id: number } }).message.id, 1);
      assert.equal(app.push.ctx.store.find("t")?.storedMessages, 1);
      assert.equal((await post("/dashboard/publish?id=pushwire-events", { "X-Pushwire-Dashboard": "1" })).status, 403, "events channel");
    });
  });

  test("the live tail gets each message as it is published, and the channel's events", async () => {
    await withServer(dashboardConfig(), async (app) => {
      assert.equal((await request(app.port(SITE), "/dashboard/tail?id=ALL")).status, 403, "no id a publisher could not use");
      const { connection, response } = openStream(app.port(SITE), "/dashboard/tail?id=tailed");
      await response.head();
      await waitFor(() => (app.push.ctx.store.find("tailed")?.subscribers.size ?? 0) === 1, 2000, "the tail subscribed");
      await publish(app, "tailed", "first");
      await response.untilIncludes('"preview":"first"');
      const lp = openRequest(app.port(0), "/lp/?id=tailed", { headers: { "If-Modified-Since": "Thu, 01 Jan 2099 00:00:00 GMT" } });
      await response.untilIncludes('event: event\ndata: {"time":');
      assert.match(response.text, /"type":"client_subscribed"/);
      lp.reply.catch(() => {});
      lp.abort();
      connection.close();
      await waitFor(() => app.push.ctx.store.find("tailed")!.subscribers.size === 0, 2000, "the tail left");
    });
  });

  test("the page and its script are served with a CSP that allows nothing from elsewhere; streams end with the server", async () => {
    const app = await (await import("../support/helpers.js")).start(dashboardConfig());
    const page = await request(app.port(SITE), "/dashboard/");
    assert.equal(page.status, 200);
    assert.match(String(page.headers["content-security-policy"]), /default-src 'none'; script-src 'self'/);
    assert.match(page.text, /<script src="app.js"><\/script>/);
    assert.doesNotMatch(page.text, /https?:\/\//, "no absolute URL in the page");
    assert.equal((await request(app.port(SITE), "/dashboard/app.js")).status, 200);
    assert.equal((await request(app.port(SITE), "/dashboard/nope")).status, 404);
    const { response } = openStream(app.port(SITE), "/dashboard/feed");
    await response.untilIncludes("event: init");
    await app.close();
    await response.untilEnd();
    assert.equal(app.push.dashboard.sampling, false);
  });

  test("BitrixVM layout: the dashboard is on the loopback site listener, not on the subscriber port", async () => {
    await withServer(bitrixLikeConfig(), async (app) => {
      assert.equal((await request(app.port(0), "/dashboard/")).status, 403);
      const page = await request(app.port(1), "/dashboard/");
      assert.equal(page.status, 200);
      assert.match(page.text, /data-publish="off"/);
      assert.equal((await request(app.port(1), "/dashboard/publish?CHANNEL_ID=a", { method: "POST", body: "x", headers: { "X-Pushwire-Dashboard": "1" } })).status, 403);
    });
  });

  test("allow/deny apply as on any location", async () => {
    const config = dashboardConfig();
    const site = (config.servers as Array<{ locations: Array<Record<string, unknown>> }>)[1]!;
    site.locations[2] = { ...site.locations[2], allow: ["192.0.2.0/24"] };
    await withServer(config, async (app) => {
      assert.equal((await request(app.port(SITE), "/dashboard/")).status, 403);
      await sleep(0);
    });
  });
});
