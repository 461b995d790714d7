import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { envelopes, openRequest, request, waitFor, withServer, type Running } from "../support/helpers.js";
import { BitrixSite, bitrixSdkConfig, newChannels, type SiteChannels } from "../support/bitrix-site.js";
import { NodeWebSocket } from "../support/websocket-standin.js";

/**
 * The old client, BX.PULL (`/bitrix/js/pull/pull.js`, revision 17; BITRIX.md §3.1), as its
 * requests look on the wire against the built-in layout, after PHP-style publishes: the fixed
 * 19 March 2022 first cursor, the cursor in If-Modified-Since/If-None-Match headers instead of
 * arguments, ignored `rnd`/`revision`/`mid`, refused `callback`, and its WebSocket URL.
 */

/** BX.PULL's first `time`: `new Date(2022, 2, 19).toUTCString()`, local midnight of the test's zone. */
const FIRST_TIME = new Date(2022, 2, 19).toUTCString();

/** PATH + `&tag=…&time=…&rnd=…` as the browser sends it: tag/time unencoded, spaces percent-encoded. */
function oldPath(channels: SiteChannels, tag: string, time: string, extra = ""): string {
  return `/bitrix/sub/?CHANNEL_ID=${channels.private}/${channels.shared}&tag=${tag}&time=${time.replace(/ /g, "%20")}${extra}&rnd=${Date.now()}`;
}

/** Two open messages, then events 1–3 on private, shared, private (event 2 to both, PHP-style). */
async function siteWithBacklog(app: Running): Promise<{ site: BitrixSite; channels: SiteChannels }> {
  const site = new BitrixSite(() => app.port(1));
  const channels = newChannels();
  await site.openChannel(channels.private);
  await site.openChannel(channels.shared);
  await site.publish([channels.private], "message", { n: 1 });
  await site.publish([channels.private, channels.shared], "message", { n: 2 });
  await site.publish([channels.shared], "message", { n: 3 });
  return { site, channels };
}

type Envelope = ReturnType<typeof envelopes>[number];
const commandOf = (e: Envelope) => `${(e.text as { command: string }).command}:${String((e.text as { params: { n?: number } }).params.n ?? "")}`;

describe("Bitrix old client (BX.PULL, rev 17)", () => {
  test("first poll tag=1&time=<19 March 2022> gets the whole stored backlog of both channels, in publish order; its dedupe keys are distinct", async () => {
    await withServer(bitrixSdkConfig(), async (app) => {
      const { channels } = await siteWithBacklog(app);
      const reply = await request(app.port(0), oldPath(channels, "1", FIRST_TIME), { headers: { Origin: "http://site.example" } });
      assert.equal(reply.status, 200);
      assert.equal(reply.headers["access-control-allow-origin"], "*");
      const got = envelopes(reply.text);
      assert.deepEqual(got.map(commandOf), ["open:", "open:", "message:1", "message:2", "message:2", "message:3"]);
      assert.deepEqual(got.map((e) => e.channel), [channels.private, channels.shared, channels.private, channels.private, channels.shared, channels.shared]);
      // BX.PULL drops a message whose `(channel || time) + id` it has seen: these must all differ.
      const keys = got.map((e) => e.channel + String(e.id));
      assert.equal(new Set(keys).size, keys.length);
      // Its next request carries the last envelope's tag and time: nothing newer, so it holds.
      const last = got[got.length - 1]!;
      const held = openRequest(app.port(0), oldPath(channels, last.tag, last.time));
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "next poll held");
      held.abort();
      await held.reply.catch(() => {});
    });
  });

  test("the cursor in If-Modified-Since/If-None-Match instead of arguments (HEADERS≠N): backlog, then a hold that a publish ends", async () => {
    await withServer(bitrixSdkConfig(), async (app) => {
      const { site, channels } = await siteWithBacklog(app);
      const base = `/bitrix/sub/?CHANNEL_ID=${channels.private}/${channels.shared}&rnd=${Date.now()}`;
      const first = await request(app.port(0), base, { headers: { "If-Modified-Since": FIRST_TIME, "If-None-Match": "1" } });
      assert.equal(first.status, 200);
      const got = envelopes(first.text);
      assert.equal(got.length, 6);
      const last = got[got.length - 1]!;

      const held = openRequest(app.port(0), base, { headers: { "If-Modified-Since": last.time, "If-None-Match": last.tag } });
      await waitFor(() => app.push.ctx.held.size === 1, 2000, "poll held on the header cursor");
      await site.publish([channels.private], "message", { n: 4 });
      const live = await held.reply;
      assert.equal(live.status, 200);
      assert.deepEqual(envelopes(live.text).map(commandOf), ["message:4"]);
    });
  });

  test("rnd, revision and mid are ignored; callback is refused with 400", async () => {
    await withServer(bitrixSdkConfig(), async (app) => {
      const { channels } = await siteWithBacklog(app);
      const plain = await request(app.port(0), oldPath(channels, "1", FIRST_TIME));
      const decorated = await request(app.port(0), oldPath(channels, "1", FIRST_TIME, "&mid=00000000000000000000000042&revision=17"));
      assert.equal(decorated.status, 200);
      assert.equal(decorated.text, plain.text);
      const jsonp = await request(app.port(0), oldPath(channels, "1", FIRST_TIME, "&callback=BX.PULL.callback"));
      assert.equal(jsonp.status, 400);
      assert.equal(jsonp.body.length, 0);
    });
  });

  test("the idle poll ends in 304 with CORS after the hold, and the old client's preflight is allowed", async () => {
    await withServer(bitrixSdkConfig("1s"), async (app) => {
      const { channels } = await siteWithBacklog(app);
      const got = envelopes((await request(app.port(0), oldPath(channels, "1", FIRST_TIME))).text);
      const last = got[got.length - 1]!;
      const started = Date.now();
      const idle = await request(app.port(0), oldPath(channels, last.tag, last.time), { headers: { Origin: "http://site.example" } });
      assert.equal(idle.status, 304);
      assert.ok(Date.now() - started >= 900, "after the hold, not at once (a 304 loop otherwise)");
      assert.equal(idle.headers["access-control-allow-origin"], "*");

      const preflight = await request(app.port(0), oldPath(channels, last.tag, last.time), {
        method: "OPTIONS",
        headers: { Origin: "http://site.example", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "if-modified-since,if-none-match" },
      });
      assert.equal(preflight.status, 200);
      assert.equal(preflight.headers["access-control-allow-origin"], "*");
      const allowed = String(preflight.headers["access-control-allow-headers"]).toLowerCase().split(",");
      assert.ok(allowed.includes("if-modified-since") && allowed.includes("if-none-match"), String(allowed));
    });
  });

  test("PATH_WS with &tag=1&time=<19 March 2022>: the backlog arrives over the WebSocket, then live messages", async () => {
    await withServer(bitrixSdkConfig(), async (app) => {
      const { site, channels } = await siteWithBacklog(app);
      NodeWebSocket.environment = { origin: "http://site.example" };
      const frames: string[] = [];
      const ws = new NodeWebSocket(`ws://127.0.0.1:${app.port(0)}/bitrix/subws/?CHANNEL_ID=${channels.private}/${channels.shared}&tag=1&time=${encodeURIComponent(FIRST_TIME)}`);
      ws.addEventListener("message", (event) => frames.push((event as Event & { data: string }).data));
      try {
        await waitFor(() => envelopes(frames.join("")).length === 6, 3000, "backlog over the WebSocket");
        await site.publish([channels.shared], "message", { n: 4 });
        await waitFor(() => envelopes(frames.join("")).length === 7, 3000, "live message");
        assert.deepEqual(envelopes(frames.join("")).map(commandOf), ["open:", "open:", "message:1", "message:2", "message:2", "message:3", "message:4"]);
      } finally {
        ws.close(1000);
        NodeWebSocket.environment = null;
      }
    });
  });
});
