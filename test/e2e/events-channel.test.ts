import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  assertRefusal, openRequest, request, waitFor, withServer, EPOCH, type RawConfig, type Running,
} from "../support/helpers.js";

/**
 * The events channel (PROTOCOL.md §12) over real sockets: created at startup, read-only over HTTP,
 * subscribable only where allowed, and one stored JSON message per channel creation/destruction
 * and per subscription/unsubscription.
 */

const FUTURE = new Date(Date.now() + 3_600_000).toUTCString();

function config(http: RawConfig = {}): RawConfig {
  return {
    eventsChannelId: "events",
    channelInactivityTime: "1s",
    ...http,
    servers: [{
      listen: "127.0.0.1:0",
      locations: [
        { path: "/pub", publisher: "admin", channelsPath: "$arg_id", storeMessages: true },
        { path: "/nostore", publisher: "normal", channelsPath: "$arg_id" },
        { path: "/sub", subscriber: "long-polling", channelsPath: "$arg_id", longpollingConnectionTtl: "1s" },
        { path: "/ev", subscriber: "polling", channelsPath: "$arg_id", allowConnectionsToEventsChannel: true, messageTemplate: "~event-type~ ~text~\n" },
        { path: "/evlp", subscriber: "long-polling", channelsPath: "$arg_id", allowConnectionsToEventsChannel: true, messageTemplate: "text: ~text~\nchannel: ~channel~" },
        { path: "/stats", channelsStatistics: true, channelsPath: "$arg_id" },
      ],
    }],
  };
}

/** Every event stored so far, as "type text" lines. */
async function events(app: Running): Promise<string[]> {
  const reply = await request(app.port(), "/ev?id=events", { headers: { "If-Modified-Since": EPOCH } });
  if (reply.status === 304) return [];
  assert.equal(reply.status, 200);
  return reply.text.split("\n").filter((line) => line !== "");
}

const event = (type: string, channel: string): string => `${type} {"type": "${type}", "channel": "${channel}"}`;

async function post(app: Running, path: string, body = "x"): Promise<void> {
  const reply = await request(app.port(), path, { method: "POST", body });
  assert.equal(reply.status, 200, `POST ${path}`);
}

describe("events channel", () => {
  test("exists from startup, counts as a channel, answers GET info, records nothing about itself", async () => {
    await withServer(config(), async (app) => {
      const info = await request(app.port(), "/pub?id=events");
      assert.equal(info.status, 200);
      assert.equal(info.text, '{"channel": "events", "published_messages": 0, "stored_messages": 0, "subscribers": 0}\r\n');
      const all = await request(app.port(), "/stats?id=ALL", { headers: { Accept: "text/plain" } });
      assert.match(all.text, /channels: 1, .*\r\nchannel: events\r\n/);
      assert.deepEqual(await events(app), [], "reading the events channel is no event");
    });
  });

  test("publishing to it or deleting it: 403 Only internal routines can change events channel.", async () => {
    await withServer(config(), async (app) => {
      for (const method of ["POST", "PUT", "DELETE"]) {
        const reply = await request(app.port(), "/pub?id=other/events", { method, body: method === "DELETE" ? undefined : "x" });
        assertRefusal(reply, 403, "Only internal routines can change events channel.");
      }
      assert.equal(app.push.ctx.store.find("other"), undefined, "the other channel was not created either");
      assert.equal(app.push.ctx.events?.channel.lastMessageId, 0);
    });
  });

  test("subscribing where allowConnectionsToEventsChannel is off: 403", async () => {
    await withServer(config(), async (app) => {
      const reply = await request(app.port(), "/sub?id=events");
      assertRefusal(reply, 403, "Subscription to events channel is not allowed.");
      const mixed = await request(app.port(), "/sub?id=a/events");
      assertRefusal(mixed, 403, "Subscription to events channel is not allowed.");
    });
  });

  test("create, subscribe, unsubscribe (answered long-poll), destroy (DELETE): one event each, in order", async () => {
    await withServer(config(), async (app) => {
      await post(app, "/pub?id=ch");
      const held = openRequest(app.port(), "/sub?id=ch", { headers: { "If-Modified-Since": FUTURE } });
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "long-poll held");
      await post(app, "/pub?id=ch", "second");
      assert.equal((await held.reply).status, 200);
      const deleted = await request(app.port(), "/pub?id=ch", { method: "DELETE" });
      assert.equal(deleted.status, 200);
      assert.deepEqual(await events(app), [
        event("channel_created", "ch"), event("client_subscribed", "ch"), event("client_unsubscribed", "ch"), event("channel_destroyed", "ch"),
      ]);
      const stored = app.push.ctx.events!.channel;
      assert.equal(stored.storedMessages, 4, "events are always stored, whatever the publisher's storeMessages");
      assert.equal(app.push.ctx.broker.publishedMessages, 2, "events are not counted as published");
    });
  });

  test("a multi-channel long-poll: created and subscribed per channel; a timeout and a disconnect unsubscribe", async () => {
    await withServer(config(), async (app) => {
      const timedOut = await request(app.port(), "/sub?id=a/b", { headers: { "If-Modified-Since": FUTURE } });
      assert.equal(timedOut.status, 304);
      const dropped = openRequest(app.port(), "/sub?id=c", { headers: { "If-Modified-Since": FUTURE } });
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "long-poll held");
      dropped.abort();
      await dropped.reply.catch(() => undefined);
      await waitFor(() => app.push.ctx.held.size === 0, 2000, "disconnect seen");
      assert.deepEqual(await events(app), [
        event("channel_created", "a"), event("channel_created", "b"),
        event("client_subscribed", "a"), event("client_subscribed", "b"),
        event("client_unsubscribed", "a"), event("client_unsubscribed", "b"),
        event("channel_created", "c"), event("client_subscribed", "c"), event("client_unsubscribed", "c"),
      ]);
    });
  });

  test("a DELETE with subscribers: they are unsubscribed before the channel is destroyed", async () => {
    await withServer(config(), async (app) => {
      const held = openRequest(app.port(), "/sub?id=d", { headers: { "If-Modified-Since": FUTURE } });
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "long-poll held");
      assert.equal((await request(app.port(), "/pub?id=d", { method: "DELETE" })).status, 200);
      assert.equal((await held.reply).status, 200);
      assert.deepEqual(await events(app), [
        event("channel_created", "d"), event("client_subscribed", "d"), event("client_unsubscribed", "d"), event("channel_destroyed", "d"),
      ]);
    });
  });

  test("an inactive channel swept away: channel_destroyed", async () => {
    await withServer(config(), async (app) => {
      await post(app, "/nostore?id=tmp");
      await waitFor(() => app.push.ctx.store.find("tmp") === undefined, 4000, "inactive channel swept");
      assert.deepEqual(await events(app), [event("channel_created", "tmp"), event("channel_destroyed", "tmp")]);
      assert.ok(app.push.ctx.store.find("events"), "the events channel itself is never swept");
    }, { sweepMs: 50 });
  });

  test("a long-poll on the events channel receives the next event live, through its template", async () => {
    await withServer(config(), async (app) => {
      const watcher = openRequest(app.port(), "/evlp?id=events", { headers: { "If-Modified-Since": FUTURE } });
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "watcher held");
      assert.deepEqual(await events(app), [], "subscribing to the events channel is no event");
      await post(app, "/pub?id=x");
      const reply = await watcher.reply;
      assert.equal(reply.status, 200);
      assert.equal(reply.text, 'text: {"type": "channel_created", "channel": "x"}\nchannel: events');
    });
  });

  test("without eventsChannelId nothing is recorded and the id is an ordinary channel", async () => {
    await withServer(config({ eventsChannelId: "" }), async (app) => {
      assert.equal(app.push.ctx.events, undefined);
      await post(app, "/pub?id=events");
      assert.equal(app.push.ctx.store.find("events")?.storedMessages, 1);
    });
  });
});
