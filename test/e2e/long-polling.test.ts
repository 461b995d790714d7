import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { Agent } from "node:http";
import { ManualClock } from "../../src/core/clock.js";
import {
  assertCors, assertNoCache, bitrixLikeConfig, envelopes, httpDate, lastStored, openRequest, publishOk, request, start, waitFor, withServer,
  DEFAULT_TYPE, EPOCH, type Reply, type Running,
} from "../support/helpers.js";

/**
 * Long-polling over real sockets (PROTOCOL.md §7, §8.3, §8.4, §9, §13, §18; BITRIX.md §3.1,
 * §3.3, §4.3, §4.4, §9). The subscriber is BitrixVM's /bitrix/sub unless a test adds a location.
 */

const T0 = 1_700_000_000; // ManualClock's start, in seconds

/** The Bitrix subscriber URL for channels and an optional (time, tag) cursor. */
function sub(channels: string, cursor?: { time: number | string; tag: number | string }): string {
  if (!cursor) return `/bitrix/sub?CHANNEL_ID=${channels}`;
  const time = typeof cursor.time === "number" ? httpDate(cursor.time) : cursor.time;
  return `/bitrix/sub?CHANNEL_ID=${channels}&tag=${cursor.tag}&time=${encodeURIComponent(time)}`;
}

const FROM_EPOCH = { time: EPOCH, tag: 0 };

/** The exact bytes BitrixVM's template gives a message (BITRIX.md §3.3). */
function envelope(m: { id: number; channel: string; tag: number; time: number; text: string; eventid?: string }): string {
  return `#!NGINXNMS!#{"id":${m.id},"channel":"${m.channel}","tag":"${m.tag}","time":"${httpDate(m.time)}","eventid":"${m.eventid ?? ""}","text":${m.text}}#!NGINXNME!#`;
}

function assertNearNow(httpDateText: string | undefined): void {
  assert.ok(httpDateText, "Last-Modified present");
  assert.match(httpDateText, /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
  const seconds = Date.parse(httpDateText) / 1000;
  assert.ok(Math.abs(seconds - Date.now() / 1000) <= 2, `Last-Modified ${httpDateText} is about now`);
}

describe("long-polling: catch-up", () => {
  /** a1..a3 in second T0 (tags 1..3), a4..a5 in T0+1 (tags 1..2). */
  async function withBacklog(run: (app: Running) => Promise<void>): Promise<void> {
    const clock = new ManualClock(T0 * 1000);
    await withServer({}, async (app) => {
      for (let n = 1; n <= 3; n++) await publishOk(app, "abc", `{"n":${n}}`);
      clock.advance(1000);
      for (let n = 4; n <= 5; n++) await publishOk(app, "abc", `{"n":${n}}`);
      await run(app);
    }, { clock });
  }
  const stamps = [
    { id: 1, time: T0, tag: 1 }, { id: 2, time: T0, tag: 2 }, { id: 3, time: T0, tag: 3 },
    { id: 4, time: T0 + 1, tag: 1 }, { id: 5, time: T0 + 1, tag: 2 },
  ];
  const bytes = (ids: number[]): string =>
    ids.map((id) => envelope({ ...stamps[id - 1]!, channel: "abc", text: `{"n":${id}}` })).join("");

  test("tag=0&time=epoch returns every stored message at once, cursor of the newest", async () => {
    await withBacklog(async (app) => {
      const reply = await request(app.port(0), sub("abc", FROM_EPOCH));
      assert.equal(reply.status, 200);
      assert.equal(reply.text, bytes([1, 2, 3, 4, 5]));
      assert.equal(reply.headers["last-modified"], httpDate(T0 + 1));
      assert.equal(reply.headers["etag"], "W/2");
      assert.equal(reply.headers["content-type"], DEFAULT_TYPE);
      assertCors(reply);
      assertNoCache(reply);
      assert.equal(app.push.ctx.held.size, 0);
    });
  });

  test("time+tag of a message returns only later ones; the exact match is excluded", async () => {
    await withBacklog(async (app) => {
      const cases: Array<[number, number, number[], string]> = [
        [T0, 1, [2, 3, 4, 5], "W/2"],
        [T0, 2, [3, 4, 5], "W/2"],
        [T0, 3, [4, 5], "W/2"],
        [T0 + 1, 1, [5], "W/2"],
      ];
      for (const [time, tag, ids, etag] of cases) {
        const reply = await request(app.port(0), sub("abc", { time, tag }));
        assert.equal(reply.status, 200, `cursor ${time}/${tag}`);
        assert.equal(reply.text, bytes(ids), `cursor ${time}/${tag}`);
        assert.equal(reply.headers["etag"], etag);
        assert.equal(reply.headers["last-modified"], httpDate(T0 + 1));
      }
    });
  });

  test("same-second messages are untied by tag: tag 0 of a second returns that whole second", async () => {
    await withBacklog(async (app) => {
      const whole = await request(app.port(0), sub("abc", { time: T0, tag: 0 }));
      assert.equal(whole.text, bytes([1, 2, 3, 4, 5]));
      const second = await request(app.port(0), sub("abc", { time: T0 + 1, tag: 0 }));
      assert.equal(second.text, bytes([4, 5]));
      // A time without a tag only returns strictly later seconds (PROTOCOL.md §7).
      const noTag = await request(app.port(0), `/bitrix/sub?CHANNEL_ID=abc&time=${encodeURIComponent(httpDate(T0))}`);
      assert.equal(noTag.status, 200);
      assert.equal(noTag.text, bytes([4, 5]));
    });
  });

  test("backtrack CHANNEL_ID=abc.b2 returns the last two", async () => {
    await withBacklog(async (app) => {
      const reply = await request(app.port(0), "/bitrix/sub?CHANNEL_ID=abc.b2");
      assert.equal(reply.status, 200);
      assert.equal(reply.text, bytes([4, 5]));
      assert.equal(reply.headers["etag"], "W/2");
      assert.equal(reply.headers["last-modified"], httpDate(T0 + 1));
    });
  });

  test("If-Modified-Since / If-None-Match are used when the time/tag args are absent", async () => {
    await withBacklog(async (app) => {
      const all = await request(app.port(0), "/bitrix/sub?CHANNEL_ID=abc", { headers: { "If-Modified-Since": EPOCH, "If-None-Match": "0" } });
      assert.equal(all.status, 200);
      assert.equal(all.text, bytes([1, 2, 3, 4, 5]));
      const later = await request(app.port(0), "/bitrix/sub?CHANNEL_ID=abc", { headers: { "If-Modified-Since": httpDate(T0), "If-None-Match": "2" } });
      assert.equal(later.status, 200);
      assert.equal(later.text, bytes([3, 4, 5]));
      // Empty args count as absent (BitrixVM's `if ($arg_time)`): the headers still apply.
      const emptyArgs = await request(app.port(0), "/bitrix/sub?CHANNEL_ID=abc&tag=&time=", { headers: { "If-Modified-Since": httpDate(T0 + 1), "If-None-Match": "1" } });
      assert.equal(emptyArgs.status, 200);
      assert.equal(emptyArgs.text, bytes([5]));
      // The args win over the headers when both are given.
      const argsWin = await request(app.port(0), sub("abc", { time: T0 + 1, tag: 1 }), { headers: { "If-Modified-Since": EPOCH, "If-None-Match": "0" } });
      assert.equal(argsWin.text, bytes([5]));
    });
  });

  test("an Etag-style W/3 tag is accepted (arg and If-None-Match)", async () => {
    await withBacklog(async (app) => {
      const arg = await request(app.port(0), sub("abc", { time: T0, tag: "W/3" }));
      assert.equal(arg.status, 200);
      assert.equal(arg.text, bytes([4, 5]));
      const encoded = await request(app.port(0), sub("abc", { time: T0, tag: "W%2F3" }));
      assert.equal(encoded.text, bytes([4, 5]));
      const header = await request(app.port(0), "/bitrix/sub?CHANNEL_ID=abc", { headers: { "If-Modified-Since": httpDate(T0), "If-None-Match": "W/3" } });
      assert.equal(header.status, 200);
      assert.equal(header.text, bytes([4, 5]));
    });
  });

  test("across channels the reply is in publish order (a1, b1, a2), Etag of the newest", async () => {
    const clock = new ManualClock(T0 * 1000);
    await withServer(bitrixLikeConfig(), async (app) => {
      await publishOk(app, "a", '{"m":"a1"}');
      await publishOk(app, "b", '{"m":"b1"}');
      await publishOk(app, "a", '{"m":"a2"}');
      const expected = envelope({ id: 1, channel: "a", tag: 1, time: T0, text: '{"m":"a1"}' })
        + envelope({ id: 1, channel: "b", tag: 2, time: T0, text: '{"m":"b1"}' })
        + envelope({ id: 2, channel: "a", tag: 3, time: T0, text: '{"m":"a2"}' });
      const reply = await request(app.port(0), sub("a/b", FROM_EPOCH));
      assert.equal(reply.status, 200);
      assert.equal(reply.text, expected);
      assert.equal(reply.headers["etag"], "W/3");
      assert.equal(reply.headers["last-modified"], httpDate(T0));
      // The new client sends the separator as %2F (BITRIX.md §9): same reply.
      const encoded = await request(app.port(0), sub("a%2Fb", FROM_EPOCH));
      assert.equal(encoded.text, expected);
      // Channel order in the request does not matter either.
      const reversed = await request(app.port(0), sub("b/a", FROM_EPOCH));
      assert.equal(reversed.text, expected);
      assert.equal(reversed.headers["etag"], "W/3");
      // From b1's cursor only a2 is left.
      const rest = await request(app.port(0), sub("a/b", { time: T0, tag: 2 }));
      assert.equal(rest.text, envelope({ id: 2, channel: "a", tag: 3, time: T0, text: '{"m":"a2"}' }));
    }, { clock });
  });
});

describe("long-polling: held requests", () => {
  test("a held long-poll gets exactly the next message, byte-exact, then is released", async () => {
    await withServer(bitrixLikeConfig(), async (app) => {
      await publishOk(app, "abc", '{"n":1}');
      const first = lastStored(app, "abc");
      const pending = openRequest(app.port(0), sub("abc", { time: first.time, tag: first.tag }));
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "long-poll held");
      assert.equal(app.push.ctx.hub.subscriptions, 1);
      const before = Math.floor(Date.now() / 1000);
      await publishOk(app, "abc", '{"module_id":"im","command":"message","params":{"text":"héllo"}}');
      const after = Math.floor(Date.now() / 1000);
      const second = lastStored(app, "abc");
      assert.ok(second.time >= before && second.time <= after);
      await publishOk(app, "abc", '{"n":3}'); // only one message per held request

      const reply = await pending.reply;
      assert.equal(reply.status, 200);
      assert.equal(reply.text, envelope({
        id: 2, channel: "abc", tag: second.tag, time: second.time,
        text: '{"module_id":"im","command":"message","params":{"text":"héllo"}}',
      }));
      assert.deepEqual(envelopes(reply.text).map((e) => e.id), [2]);
      assert.equal(reply.headers["last-modified"], httpDate(second.time));
      assert.equal(reply.headers["etag"], `W/${second.tag}`);
      assert.equal(reply.headers["content-type"], DEFAULT_TYPE);
      assertCors(reply);
      assertNoCache(reply);
      assert.equal(app.push.ctx.held.size, 0);
      assert.equal(app.push.ctx.hub.subscriptions, 0);
    });
  });

  test("the hold ends with 304 after longpollingConnectionTtl: now, W/0, no body, CORS", async () => {
    await withServer(bitrixLikeConfig({ sub: { longpollingConnectionTtl: "1s" } }), async (app) => {
      await publishOk(app, "abc", '{"n":1}');
      const m = lastStored(app, "abc");
      const started = Date.now();
      const pending = openRequest(app.port(0), sub("abc", { time: m.time, tag: m.tag }));
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "long-poll held");
      const reply = await pending.reply;
      const elapsed = (Date.now() - started) / 1000;
      assert.ok(elapsed >= 0.9 && elapsed <= 2, `answered after ${elapsed} s`);
      assert.equal(reply.status, 304);
      assert.equal(reply.body.length, 0);
      assertNearNow(reply.headers["last-modified"]);
      assert.equal(reply.headers["etag"], "W/0");
      assert.equal(reply.headers["content-length"], "0");
      assert.equal(reply.headers["content-type"], DEFAULT_TYPE);
      assertCors(reply);
      assertNoCache(reply);
      assert.equal(app.push.ctx.held.size, 0);
      assert.equal(app.push.ctx.hub.subscriptions, 0);
    });
  });

  test("a long-poll on a/b is released by a publish on b", async () => {
    await withServer(bitrixLikeConfig(), async (app) => {
      await publishOk(app, "a", '"a1"');
      await publishOk(app, "b", '"b1"');
      const newest = lastStored(app, "b");
      const pending = openRequest(app.port(0), sub("a/b", { time: newest.time, tag: newest.tag }));
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "long-poll held");
      assert.equal(app.push.ctx.hub.subscriptions, 2);
      await publishOk(app, "b", '"b2"');
      const b2 = lastStored(app, "b");
      const reply = await pending.reply;
      assert.equal(reply.status, 200);
      assert.equal(reply.text, envelope({ id: 2, channel: "b", tag: b2.tag, time: b2.time, text: '"b2"' }));
      assert.equal(reply.headers["etag"], `W/${b2.tag}`);
      assert.equal(app.push.ctx.hub.subscriptions, 0);
      assert.equal(app.push.ctx.store.find("a")!.subscribers.size, 0);
    });
  });

  test("200 held long-polls on one channel all get the one message, identical bytes", async () => {
    const app = await start(bitrixLikeConfig());
    const N = 200;
    try {
      await publishOk(app, "many", '{"n":0}');
      const m0 = lastStored(app, "many");
      const pendings = Array.from({ length: N }, () => openRequest(app.port(0), sub("many", { time: m0.time, tag: m0.tag })));
      await waitFor(() => app.push.ctx.held.size === N, 3000, `${N} long-polls held`);
      assert.equal(app.push.ctx.hub.subscriptions, N);
      const info = await request(app.port(1), "/bitrix/pub/?CHANNEL_ID=many");
      assert.equal(info.text, `{"channel": "many", "published_messages": 1, "stored_messages": 1, "subscribers": ${N}}\r\n`);
      await publishOk(app, "many", '{"n":1}');
      const m1 = lastStored(app, "many");
      const expected = envelope({ id: 2, channel: "many", tag: m1.tag, time: m1.time, text: '{"n":1}' });
      const replies = await Promise.all(pendings.map((p) => p.reply));
      for (const reply of replies) {
        assert.equal(reply.status, 200);
        assert.equal(reply.text, expected);
        assert.equal(reply.headers["etag"], `W/${m1.tag}`);
      }
      assert.equal(app.push.ctx.held.size, 0);
      assert.equal(app.push.ctx.hub.subscriptions, 0);
    } finally {
      await app.close();
    }
  });

  test("DELETE while held: 200 with the id -2 message, W/0", async () => {
    await withServer(bitrixLikeConfig(), async (app) => {
      await publishOk(app, "abc", '{"n":1}');
      const m = lastStored(app, "abc");
      const pending = openRequest(app.port(0), sub("abc", { time: m.time, tag: m.tag }));
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "long-poll held");
      const deleted = await request(app.port(1), "/bitrix/pub/?CHANNEL_ID=abc", { method: "DELETE" });
      assert.equal(deleted.status, 200);
      assert.equal(deleted.headers["x-nginx-pushstream-explain"], "Channel deleted.");
      const reply = await pending.reply;
      assert.equal(reply.status, 200);
      // text is the raw "Channel deleted": not JSON, so compare bytes.
      assert.equal(reply.text, `#!NGINXNMS!#{"id":-2,"channel":"abc","tag":"0","time":"${EPOCH}","eventid":"","text":Channel deleted}#!NGINXNME!#`);
      assert.equal(reply.headers["etag"], "W/0");
      assertNearNow(reply.headers["last-modified"]);
      assertCors(reply);
      assert.equal(app.push.ctx.held.size, 0);
      assert.equal(app.push.ctx.hub.subscriptions, 0);
      // The channel is gone: with authorizedChannelsOnly it cannot be subscribed again.
      const again = await request(app.port(0), sub("abc", FROM_EPOCH));
      assert.equal(again.status, 403);
    });
  });

  test("DELETE with a body replaces the deleted-message text", async () => {
    await withServer(bitrixLikeConfig(), async (app) => {
      await publishOk(app, "abc", '{"n":1}');
      const m = lastStored(app, "abc");
      const pending = openRequest(app.port(0), sub("abc", { time: m.time, tag: m.tag }));
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "long-poll held");
      const deleted = await request(app.port(1), "/bitrix/pub/?CHANNEL_ID=abc", {
        method: "DELETE", body: '{"gone":true}', headers: { "Content-Length": "13" }, // node sends no framing for DELETE by itself
      });
      assert.equal(deleted.status, 200);
      const reply = await pending.reply;
      assert.equal(reply.text, `#!NGINXNMS!#{"id":-2,"channel":"abc","tag":"0","time":"${EPOCH}","eventid":"","text":{"gone":true}}#!NGINXNME!#`);
    });
  });

  test("client disconnects while held: subscription removed, later publishes still reach others", async () => {
    await withServer(bitrixLikeConfig(), async (app) => {
      await publishOk(app, "abc", '{"n":1}');
      const m = lastStored(app, "abc");
      const gone = openRequest(app.port(0), sub("abc", { time: m.time, tag: m.tag }));
      gone.reply.catch(() => undefined);
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "long-poll held");
      gone.abort();
      await waitFor(() => app.push.ctx.hub.subscriptions === 0 && app.push.ctx.held.size === 0, 2000, "aborted long-poll forgotten");
      assert.equal(app.push.ctx.store.find("abc")!.subscribers.size, 0);
      await assert.rejects(gone.reply);

      const stay = [openRequest(app.port(0), sub("abc", { time: m.time, tag: m.tag })), openRequest(app.port(0), sub("abc", { time: m.time, tag: m.tag }))];
      const leave = openRequest(app.port(0), sub("abc", { time: m.time, tag: m.tag }));
      leave.reply.catch(() => undefined);
      await waitFor(() => app.push.ctx.held.size === 3, 2000, "three long-polls held");
      leave.abort();
      await waitFor(() => app.push.ctx.hub.subscriptions === 2, 2000, "one long-poll forgotten");
      await publishOk(app, "abc", '{"n":2}');
      const m2 = lastStored(app, "abc");
      for (const p of stay) {
        const reply = await p.reply;
        assert.equal(reply.status, 200);
        assert.equal(reply.text, envelope({ id: 2, channel: "abc", tag: m2.tag, time: m2.time, text: '{"n":2}' }));
      }
      assert.equal(app.push.ctx.hub.subscriptions, 0);
      assert.equal(app.push.ctx.held.size, 0);

      // A long-poll on two channels leaves both when its client goes away.
      await publishOk(app, "other", '{"n":1}');
      const o = lastStored(app, "other");
      const two = openRequest(app.port(0), sub("abc/other", { time: o.time, tag: o.tag }));
      two.reply.catch(() => undefined);
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "two-channel long-poll held");
      assert.equal(app.push.ctx.hub.subscriptions, 2);
      two.abort();
      await waitFor(() => app.push.ctx.hub.subscriptions === 0 && app.push.ctx.held.size === 0, 2000, "two-channel long-poll forgotten");
      assert.equal(app.push.ctx.store.find("other")!.subscribers.size, 0);
    });
  });

  test("server shutdown answers a held long-poll with 304 W/0", async () => {
    const app = await start(bitrixLikeConfig());
    let closed = false;
    try {
      await publishOk(app, "abc", '{"n":1}');
      const m = lastStored(app, "abc");
      const pending = openRequest(app.port(0), sub("abc", { time: m.time, tag: m.tag }));
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "long-poll held");
      const closing = app.close();
      closed = true;
      const reply = await pending.reply;
      await closing;
      assert.equal(reply.status, 304);
      assert.equal(reply.body.length, 0);
      assert.equal(reply.headers["etag"], "W/0");
      assertNearNow(reply.headers["last-modified"]);
      assertCors(reply);
    } finally {
      if (!closed) await app.close();
    }
  });

  test("Etag chaining (PROTOCOL.md §8.3): unparsable date waits; a then b in one second come one per request", async () => {
    const clock = new ManualClock(T0 * 1000);
    await withServer(bitrixLikeConfig({
      extraSubLocations: [{ path: "/lp", subscriber: "long-polling", channelsPath: "$arg_id", messageTemplate: "~channel~:~text~" }],
    }), async (app) => {
      await publishOk(app, "a", "zero"); // would be caught up if the date below were read as the epoch
      // "Thu, 1 Jan" has a one-digit day: not an HTTP date, so there is no cursor and the request waits.
      const pending = openRequest(app.port(0), "/lp?id=a/b", { headers: { "If-Modified-Since": "Thu, 1 Jan 1970 00:00:00 GMT", "If-None-Match": "0" } });
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "long-poll held");
      await publishOk(app, "a", "one");
      await publishOk(app, "b", "two");
      const first = await pending.reply;
      assert.equal(first.status, 200);
      assert.equal(first.text, "a:one");
      assert.equal(first.headers["etag"], "W/2");
      assert.equal(first.headers["last-modified"], httpDate(T0));
      const second = await request(app.port(0), "/lp?id=a/b", {
        headers: { "If-Modified-Since": first.headers["last-modified"]!, "If-None-Match": first.headers["etag"]! },
      });
      assert.equal(second.status, 200);
      assert.equal(second.text, "b:two");
      assert.equal(second.headers["etag"], "W/3");
      assert.equal(app.push.ctx.held.size, 0);
    }, { clock });
  });

  test("timeoutWithBody: the hold ends with 200 and the rendered id -3 message", async () => {
    await withServer(bitrixLikeConfig({
      http: { timeoutWithBody: true },
      extraSubLocations: [{ path: "/lp", subscriber: "long-polling", channelsPath: "$arg_id", messageTemplate: "~id~:~text~", longpollingConnectionTtl: "1s" }],
    }), async (app) => {
      const started = Date.now();
      const pending = openRequest(app.port(0), "/lp?id=quiet");
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "long-poll held");
      const reply = await pending.reply;
      const elapsed = (Date.now() - started) / 1000;
      assert.ok(elapsed >= 0.9 && elapsed <= 2, `answered after ${elapsed} s`);
      assert.equal(reply.status, 200);
      assert.equal(reply.text, "-3:Timed out");
      assert.equal(reply.headers["etag"], "W/0");
      assertNearNow(reply.headers["last-modified"]);
      assert.equal(reply.headers["content-type"], DEFAULT_TYPE);
      assert.equal(app.push.ctx.held.size, 0);
    });
  });

  test("JSONP with header/footer: the -3 timeout body and the -2 deleted body are wrapped", async () => {
    await withServer(bitrixLikeConfig({
      http: { timeoutWithBody: true },
      extraSubLocations: [{
        path: "/lp", subscriber: "long-polling", channelsPath: "$arg_id", messageTemplate: "~id~:~text~",
        longpollingConnectionTtl: "1s", headerTemplate: "H", footerTemplate: "F",
      }],
    }), async (app) => {
      const timeout = openRequest(app.port(0), "/lp?id=x&callback=cb");
      const deleted = openRequest(app.port(0), "/lp?id=y&callback=cb");
      await waitFor(() => app.push.ctx.held.size === 2, 2000, "two long-polls held");
      const del = await request(app.port(1), "/bitrix/pub/?CHANNEL_ID=y", { method: "DELETE" });
      assert.equal(del.status, 200);
      const d = await deleted.reply;
      assert.equal(d.status, 200);
      assert.equal(d.headers["content-type"], "application/javascript");
      assert.equal(d.headers["etag"], "W/0");
      assert.equal(d.text, "Hcb([-2:Channel deleted]);F");
      const t = await timeout.reply;
      assert.equal(t.status, 200);
      assert.equal(t.headers["content-type"], "application/javascript");
      assert.equal(t.headers["etag"], "W/0");
      assert.equal(t.text, "Hcb([-3:Timed out]);F");
    });
  });

  test("header and footer templates surround the messages of a 200, not a 304", async () => {
    await withServer(bitrixLikeConfig({
      extraSubLocations: [{
        path: "/hf", subscriber: "long-polling", channelsPath: "$arg_id", messageTemplate: "<~text~>",
        headerTemplate: "H", footerTemplate: "F", longpollingConnectionTtl: "1s",
      }],
    }), async (app) => {
      const held = openRequest(app.port(0), "/hf?id=ch");
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "long-poll held");
      await publishOk(app, "ch", "one");
      const live = await held.reply;
      assert.equal(live.status, 200);
      assert.equal(live.text, "H<one>F");

      await publishOk(app, "ch", "two");
      const catchUp = await request(app.port(0), "/hf?id=ch", { headers: { "If-Modified-Since": EPOCH, "If-None-Match": "0" } });
      assert.equal(catchUp.status, 200);
      assert.equal(catchUp.text, "H<one><two>F");

      const timedOut = await request(app.port(0), "/hf?id=ch");
      assert.equal(timedOut.status, 304);
      assert.equal(timedOut.body.length, 0);
      assert.equal(timedOut.headers["content-length"], "0");
    });
  });
});

describe("long-polling: refusals and limits", () => {
  test("authorizedChannelsOnly: 403 until a message is stored, and again once it expired", async () => {
    await withServer(bitrixLikeConfig({ http: { messageTtl: "1s" } }), async (app) => {
      const refused = await request(app.port(0), sub("fresh", FROM_EPOCH));
      assert.equal(refused.status, 403);
      assert.equal(refused.headers["x-nginx-pushstream-explain"], "Subscriber could not create channels.");
      assert.equal(refused.headers["content-length"], "0");
      assert.equal(refused.body.length, 0);
      assertCors(refused);
      assert.equal(app.push.ctx.store.find("fresh"), undefined, "a refused subscriber creates no channel");

      await publishOk(app, "fresh", '{"n":1}');
      const m = lastStored(app, "fresh");
      const ok = await request(app.port(0), sub("fresh", FROM_EPOCH));
      assert.equal(ok.status, 200);
      assert.equal(ok.text, envelope({ id: 1, channel: "fresh", tag: m.tag, time: m.time, text: '{"n":1}' }));

      await waitFor(() => app.push.ctx.store.find("fresh")?.messages.length === 0, 2500, "message expired");
      const expired = await request(app.port(0), sub("fresh", FROM_EPOCH));
      assert.equal(expired.status, 403);
      assert.equal(expired.headers["x-nginx-pushstream-explain"], "Subscriber could not create channels.");
    }, { sweepMs: 50 });
  });

  test("authorizedChannelsOnly: one unauthorized channel in a/b refuses the whole request", async () => {
    await withServer(bitrixLikeConfig(), async (app) => {
      await publishOk(app, "a", '{"n":1}');
      const reply = await request(app.port(0), sub("a/nope", FROM_EPOCH));
      assert.equal(reply.status, 403);
      assert.equal(reply.headers["x-nginx-pushstream-explain"], "Subscriber could not create channels.");
      assert.equal(reply.body.length, 0);
    });
  });

  test("maxSubscribersPerChannel: 1 refuses a second long-poll with 403", async () => {
    await withServer(bitrixLikeConfig({ http: { maxSubscribersPerChannel: 1 } }), async (app) => {
      await publishOk(app, "abc", '{"n":1}');
      const m = lastStored(app, "abc");
      const first = openRequest(app.port(0), sub("abc", { time: m.time, tag: m.tag }));
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "long-poll held");
      const second = await request(app.port(0), sub("abc", { time: m.time, tag: m.tag }));
      assert.equal(second.status, 403);
      assert.equal(second.headers["x-nginx-pushstream-explain"], "Subscribers limit per channel has been exceeded.");
      assert.equal(second.headers["content-length"], "0");
      assertCors(second);
      assert.equal(app.push.ctx.held.size, 1);
      await publishOk(app, "abc", '{"n":2}');
      assert.equal((await first.reply).status, 200);
      // The place is free again.
      const third = await request(app.port(0), sub("abc", { time: m.time, tag: m.tag }));
      assert.equal(third.status, 200);
    });
  });

  test("OPTIONS → 200 with CORS and no body; POST → 405 Allow: GET", async () => {
    await withServer(bitrixLikeConfig(), async (app) => {
      const options = await request(app.port(0), "/bitrix/sub?CHANNEL_ID=abc", { method: "OPTIONS" });
      assert.equal(options.status, 200);
      assert.equal(options.headers["content-length"], "0");
      assert.equal(options.body.length, 0);
      assertCors(options);
      const post = await request(app.port(0), "/bitrix/sub?CHANNEL_ID=abc", { method: "POST", body: "x" });
      assert.equal(post.status, 405);
      assert.equal(post.headers["allow"], "GET");
      assert.equal(post.headers["content-length"], "0");
      assert.equal(post.body.length, 0);
      assertCors(post);
      assertNoCache(post);
      assert.equal(app.push.ctx.held.size, 0);
    });
  });
});

describe("long-polling: JSONP and mode header", () => {
  const lp = { path: "/lp", subscriber: "long-polling", channelsPath: "$arg_id", messageTemplate: "~text~", longpollingConnectionTtl: "2s" };

  test("JSONP: cb([m1,m2]); for catch-up and cb([m]); for a held request", async () => {
    await withServer(bitrixLikeConfig({ extraSubLocations: [lp] }), async (app) => {
      await publishOk(app, "ch", '{"a":1}');
      await publishOk(app, "ch", '{"a":2}');
      const catchUp = await request(app.port(0), "/lp?id=ch&callback=cb", { headers: { "If-Modified-Since": EPOCH, "If-None-Match": "0" } });
      assert.equal(catchUp.status, 200);
      assert.equal(catchUp.headers["content-type"], "application/javascript");
      assert.equal(catchUp.text, 'cb([{"a":1},{"a":2}]);');

      const held = openRequest(app.port(0), "/lp?id=ch&callback=cb");
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "long-poll held");
      await publishOk(app, "ch", '{"a":3}');
      const live = await held.reply;
      assert.equal(live.status, 200);
      assert.equal(live.headers["content-type"], "application/javascript");
      assert.equal(live.text, 'cb([{"a":3}]);');
    });
  });

  test("JSONP on the Bitrix location: callback is refused with 400 and an explain header", async () => {
    await withServer(bitrixLikeConfig(), async (app) => {
      await publishOk(app, "abc", '{"n":1}');
      const reply = await request(app.port(0), `${sub("abc", FROM_EPOCH)}&callback=cb`);
      assert.equal(reply.status, 400);
      assert.equal(reply.headers["x-nginx-pushstream-explain"], "Argument callback is not allowed here.");
      assert.equal(reply.headers["content-length"], "0");
      assert.equal(reply.body.length, 0);
      assert.equal(app.push.ctx.held.size, 0);
    });
  });

  test("X-Nginx-PushStream-Mode: long-polling makes a polling location hold", async () => {
    await withServer(bitrixLikeConfig({
      extraSubLocations: [{ path: "/poll", subscriber: "polling", channelsPath: "$arg_id", messageTemplate: "~text~" }],
    }), async (app) => {
      const plain = await request(app.port(0), "/poll?id=ch");
      assert.equal(plain.status, 304);
      const held = openRequest(app.port(0), "/poll?id=ch", { headers: { "X-Nginx-PushStream-Mode": "Long-Polling" } });
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "polling request held");
      await publishOk(app, "ch", "hello");
      const reply = await held.reply;
      assert.equal(reply.status, 200);
      assert.equal(reply.text, "hello");
      const m = lastStored(app, "ch");
      assert.equal(reply.headers["etag"], `W/${m.tag}`);
    });
  });

  test("X-Nginx-PushStream-Mode: polling on a long-polling location is ignored (it holds)", async () => {
    await withServer(bitrixLikeConfig(), async (app) => {
      await publishOk(app, "abc", '{"n":1}');
      const m = lastStored(app, "abc");
      const held = openRequest(app.port(0), sub("abc", { time: m.time, tag: m.tag }), { headers: { "X-Nginx-PushStream-Mode": "polling" } });
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "long-poll held");
      await publishOk(app, "abc", '{"n":2}');
      const m2 = lastStored(app, "abc");
      const reply = await held.reply;
      assert.equal(reply.status, 200);
      assert.equal(reply.text, envelope({ id: 2, channel: "abc", tag: m2.tag, time: m2.time, text: '{"n":2}' }));
    });
  });
});

describe("long-polling: Bitrix clients", () => {
  test("old client's tag=1&time=<19 March 2022 local midnight> returns the stored backlog; rnd/revision/mid ignored", async () => {
    await withServer(bitrixLikeConfig(), async (app) => {
      await publishOk(app, "priv", '{"n":1}');
      await publishOk(app, "shared", '{"n":2}');
      await publishOk(app, "priv", '{"n":3}');
      const p1 = app.push.ctx.store.find("priv")!.messages.at(0)!;
      const s1 = lastStored(app, "shared");
      const p2 = lastStored(app, "priv");
      const time = new Date(2022, 2, 19).toUTCString();
      // The browser percent-encodes the spaces of the unencoded time; commas stay.
      const path = `/bitrix/sub?CHANNEL_ID=priv/shared&tag=1&time=${time.replace(/ /g, "%20")}&mid=12345678901234567890123456&rnd=${Date.now()}&revision=17`;
      const reply = await request(app.port(0), path, { headers: { "If-Modified-Since": time, "If-None-Match": "1" } });
      assert.equal(reply.status, 200);
      assert.equal(reply.text,
        envelope({ id: 1, channel: "priv", tag: p1.tag, time: p1.time, text: '{"n":1}' })
        + envelope({ id: 1, channel: "shared", tag: s1.tag, time: s1.time, text: '{"n":2}' })
        + envelope({ id: 2, channel: "priv", tag: p2.tag, time: p2.time, text: '{"n":3}' }));
      assert.equal(reply.headers["etag"], `W/${p2.tag}`);
      assert.equal(reply.headers["last-modified"], httpDate(p2.time));

      // The same args with the newest cursor hold; rnd/revision do not count as a cursor.
      const held = openRequest(app.port(0), `/bitrix/sub?CHANNEL_ID=priv%2Fshared&tag=${p2.tag}&time=${encodeURIComponent(httpDate(p2.time))}&revision=19&rnd=1`);
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "long-poll held");
      await publishOk(app, "shared", '{"n":4}');
      const s2 = lastStored(app, "shared");
      const live = await held.reply;
      assert.equal(live.text, envelope({ id: 2, channel: "shared", tag: s2.tag, time: s2.time, text: '{"n":4}' }));
    });
  });

  test("new client's first poll (no tag/time, revision=19) gets only messages published after it", async () => {
    await withServer(bitrixLikeConfig(), async (app) => {
      await publishOk(app, "abc", '{"n":1}');
      const pending = openRequest(app.port(0), "/bitrix/sub?CHANNEL_ID=abc&revision=19");
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "first poll held");
      await publishOk(app, "abc", '{"n":2}');
      const m = lastStored(app, "abc");
      const reply = await pending.reply;
      assert.equal(reply.status, 200);
      assert.equal(reply.text, envelope({ id: 2, channel: "abc", tag: m.tag, time: m.time, text: '{"n":2}' }));
    });
  });

  test("keep-alive: three long-polls answered in sequence on one socket", async () => {
    const app = await start(bitrixLikeConfig({ sub: { longpollingConnectionTtl: "1s" } }));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = (path: string): Promise<Reply> => request(app.port(0), path, { agent });
    try {
      await publishOk(app, "ka", '{"n":1}');
      const m1 = lastStored(app, "ka");
      const first = await get(sub("ka", FROM_EPOCH));
      assert.equal(first.status, 200);
      assert.equal(first.text, envelope({ id: 1, channel: "ka", tag: m1.tag, time: m1.time, text: '{"n":1}' }));

      const secondP = get(sub("ka", { time: m1.time, tag: m1.tag }));
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "second long-poll held");
      await publishOk(app, "ka", '{"n":2}');
      const m2 = lastStored(app, "ka");
      const second = await secondP;
      assert.equal(second.status, 200);
      assert.equal(second.text, envelope({ id: 2, channel: "ka", tag: m2.tag, time: m2.time, text: '{"n":2}' }));

      const third = await get(sub("ka", { time: m2.time, tag: m2.tag }));
      assert.equal(third.status, 304);
      assert.equal(third.body.length, 0);

      assert.equal(second.localPort, first.localPort);
      assert.equal(third.localPort, first.localPort);
    } finally {
      agent.destroy();
      await app.close();
    }
  });
});
