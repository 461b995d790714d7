import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { ChannelSigner } from "../../src/bitrix-push2/signature.js";
import { decodeResponseBatch } from "../../src/bitrix-push2/protobuf.js";
import type { Serve } from "../../src/http/exchange.js";
import { openRequest, sleep, start, waitFor, type Running } from "./helpers.js";
import { phpExchange, Push2Channels, push2Config, push2ConfigResult, Push2Site, SITE_KEY } from "./bitrix-push2-site.js";
import type { PullClientFactory, PullClientUnderTest } from "./pull-client.js";
import type { Transport } from "./bitrix-scenarios.js";

/**
 * The site set to "Push server: installed locally, version 4" against `--layout bitrix-push2`
 * (same key), with Bitrix's real pull client (`@bitrix24/b24jssdk` PullClient, server version 4:
 * `binaryMode=true`, protobuf frames, `mid`) in Node or in headless Chromium. The PHP side sends
 * protobuf RequestBatches shaped as ProtobufTransport sends them (bitrix-push2-site.ts).
 */

export interface Push2Scene<C extends PullClientUnderTest = PullClientUnderTest> {
  app: Running;
  site: Push2Site;
  channels: Push2Channels;
  client: C;
  configCalls: number;
}

interface Push2SceneOptions {
  transport: Transport;
  hold?: string;
  http?: Record<string, unknown>;
  /** The config the client gets (default: the right one). */
  config?: (scene: Push2Scene, call: number) => Record<string, unknown>;
  /** Wait until the client is subscribed before the body; default true. */
  waitSubscribed?: boolean;
}

const TEST_TIMEOUT = 60_000;
export const siteSigner = new ChannelSigner(SITE_KEY, "sha1");

export async function withPush2Scene<C extends PullClientUnderTest>(
  factory: (config: () => Promise<Record<string, unknown>>) => Promise<C>, options: Push2SceneOptions, body: (scene: Push2Scene<C>) => Promise<void>,
): Promise<void> {
  const app = await start(push2Config({ hold: options.hold ?? "2s", http: options.http }));
  const scene = { app, channels: new Push2Channels(siteSigner), configCalls: 0 } as Push2Scene<C>;
  scene.site = new Push2Site(() => scene.app.port(1));
  const subPort = app.port(0);
  const endpoints = { host: "127.0.0.1", subPort, websocket: options.transport === "websocket" };
  try {
    scene.client = await factory(async () => {
      const call = scene.configCalls++;
      return options.config?.(scene, call) ?? push2ConfigResult(scene.channels, endpoints);
    });
    if (options.waitSubscribed !== false) await push2Subscribed(scene, options.transport);
    await body(scene);
  } finally {
    await scene.client?.close();
    await scene.app.close();
  }
}

function subscribers(scene: Push2Scene, key: string): number {
  return scene.app.push.ctx.store.find(key)?.subscribers.size ?? 0;
}

/** The client listens on its private, public and shared channels, with the transport asked for. */
export async function push2Subscribed(scene: Push2Scene, transport: Transport, ms = 10_000): Promise<void> {
  const c = scene.channels;
  await waitFor(() => subscribers(scene, c.privateId) === 1 && subscribers(scene, `public:${c.publicId}`) === 1 && subscribers(scene, c.sharedId) === 1, ms, `client ${transport} subscription`);
  assert.equal([...scene.app.push.ctx.held][0]!.mode, transport);
}

function receivedNumbers(client: PullClientUnderTest): number[] {
  return client.received.filter((e) => e.moduleId === "im").map((e) => e.params["n"] as number);
}

export async function assertPush2Received(client: PullClientUnderTest, expected: number[], ms = 10_000): Promise<void> {
  await waitFor(() => receivedNumbers(client).length >= expected.length, ms, `${expected.length} events (got ${JSON.stringify(receivedNumbers(client))})`);
  await sleep(300);
  assert.deepEqual(receivedNumbers(client), expected);
}

/**
 * Cuts the client off (a network outage): its connection is closed and, until `restore()`, the
 * subscriber port answers 503 and drops WebSocket handshakes, so no reconnect gets through.
 */
function cutConnection(scene: Push2Scene, transport: Transport): () => void {
  const listener = scene.app.push.listeners[0]!;
  const router = listener.router;
  const outage: Serve = (request, reply) => {
    if (request.upgrade) reply.destroy();
    else reply.send(503, ["Access-Control-Allow-Origin", "*"]);
  };
  listener.router = { serve: outage } as unknown as typeof router;
  if (transport === "websocket") {
    for (const held of [...scene.app.push.ctx.held]) held.abort();
  } else {
    listener.server.closeAllConnections();
  }
  return () => {
    listener.router = router;
  };
}

export function bitrixPush2Scenarios(factory: PullClientFactory): void {
  for (const transport of ["long-polling", "websocket"] as const) {
    test(`v4-1. [${transport}] protobuf publishes shaped like ProtobufTransport (100 receivers a message) reach the handler once each, in order`, { timeout: TEST_TIMEOUT }, async () => {
      await withPush2Scene(factory, { transport }, async ({ site, channels, client, app }) => {
        const others = Array.from({ length: 150 }, () => randomBytes(16).toString("hex"));
        // 151 receivers: two protobuf messages (100 + 51) with the same body and one mid each.
        await site.publish([...others.slice(0, 120), channels.privateId, ...others.slice(120)], "message", { n: 1, text: "Привет, \"мир\"" });
        await site.publish([channels.sharedId], "message", { n: 2 });
        await site.publish([channels.privateId, channels.sharedId], "message", { n: 3 });
        await assertPush2Received(client, [1, 2, 3]);
        assert.deepEqual(client.received[0]!.params, { n: 1, text: "Привет, \"мир\"" });
        const held = [...app.push.ctx.held] as unknown as Array<{ binary?: boolean }>;
        assert.ok(held.length === 1 && held[0]!.binary === true, "the client asked for protobuf (binaryMode=true)");
        const urls = client.wire.map((w) => w.url).filter((u) => /\/bitrix\/sub\//.test(u));
        assert.ok(urls.every((u) => u.includes("binaryMode=true")), "every long-poll asks for protobuf");
        assert.ok(app.push.ctx.store.find(others[0]!)!.messages.length === 1, "other receivers got it too");
      });
    });

    test(`v4-2. [${transport}] resume by mid: messages published while the client was cut off arrive after it reconnects`, { timeout: 90_000 }, async () => {
      await withPush2Scene(factory, { transport }, async (scene) => {
        const { site, channels, client } = scene;
        await site.publish([channels.privateId], "message", { n: 1 });
        await assertPush2Received(client, [1]);
        const restore = cutConnection(scene, transport);
        await waitFor(() => subscribers(scene, channels.privateId) === 0, 5000, "the connection gone");
        await site.publish([channels.privateId], "message", { n: 2 });
        await site.publish([channels.sharedId], "message", { n: 3 });
        await site.publish([channels.privateId], "message", { n: 4 }, 0); // no expiry: not stored, so not replayed
        restore();
        await assertPush2Received(client, [1, 2, 3], 25_000);
        // Nothing but a replay by mid can deliver 2 and 3: nobody was subscribed when they were published.
        if (transport === "long-polling") assert.ok(client.wire.some((w) => /[?&]mid=\d{26}/.test(w.url)), "the client reconnected with its mid");
        await push2Subscribed(scene, transport, 20_000);
        await site.publish([channels.privateId], "message", { n: 5 });
        await assertPush2Received(client, [1, 2, 3, 5]);
      });
    });
  }

  test("v4-3. [long-polling] presence between polls: the site's channelStats and GET online check see the user online throughout", { timeout: TEST_TIMEOUT }, async () => {
    await withPush2Scene(factory, { transport: "long-polling", hold: "1s", http: { onlineTtl: "3s" } }, async ({ site, channels, client, app }) => {
      const stranger = randomBytes(16).toString("hex");
      const started = Date.now();
      let checks = 0;
      while (Date.now() - started < 3500) {
        if (checks % 2 === 0) {
          const stats = await site.channelStats([channels.privateId, stranger]);
          assert.deepEqual([stats.get(channels.privateId), stats.get(stranger)], [true, false]);
        } else {
          const ids = `${channels.privateId}/${stranger}`;
          const reply = await phpExchange(app.port(1), "GET", `/bitrix/pub/?CHANNEL_ID=${ids}`, Buffer.from(ids));
          assert.deepEqual(JSON.parse(reply.body), { infos: [{ channel: channels.privateId, subscribers: 1 }] });
        }
        checks++;
        await sleep(10);
      }
      assert.ok(checks > 20, `${checks} checks`);
      assert.ok(client.wire.filter((w) => w.status === 304).length >= 2, "several polls ended meanwhile");
      await client.close();
      await waitFor(() => subscribers({ app } as Push2Scene, channels.privateId) === 0, 5000, "client gone");
      // The client has gone, as between two polls: online for onlineTtl more, then offline.
      assert.equal((await site.channelStats([channels.privateId])).get(channels.privateId), true, "still within onlineTtl");
      await sleep(3200);
      assert.equal((await site.channelStats([channels.privateId])).get(channels.privateId), false, "offline after onlineTtl");
    });
  });

  for (const transport of ["long-polling", "websocket"] as const) {
    test(`v4-4. [${transport}] a wrongly signed channel: refused (400 '4010' / close 4010), never subscribed; with the right signature it works`, { timeout: TEST_TIMEOUT }, async () => {
      await withPush2Scene(factory, {
        transport,
        waitSubscribed: false,
        config: (scene, call) => {
          const result = push2ConfigResult(scene.channels, { host: "127.0.0.1", subPort: scene.app.port(0), websocket: transport === "websocket" });
          if (call === 0) {
            const wrong = new ChannelSigner("not-the-site-key", "sha1");
            (result["channels"] as { private: { id: string } }).private.id = wrong.signed(`${scene.channels.privateId}:${scene.channels.publicId}`);
          }
          return result;
        },
      }, async (scene) => {
        const { client, channels, site } = scene;
        if (transport === "long-polling") {
          await waitFor(() => client.wire.some((w) => w.status === 400), 10_000, "the 400");
        } else {
          await waitFor(() => client.wire.some((w) => w.kind === "ws-close"), 10_000, "the close");
          // The Node stand-in reports the close code (Chromium's page events do not).
          if (!("page" in client)) assert.ok(client.wire.some((w) => w.kind === "ws-close" && w.status === 4010), JSON.stringify(client.wire));
        }
        assert.equal(subscribers(scene, channels.privateId), 0);
        assert.equal(subscribers(scene, channels.sharedId), 0, "one bad id refuses the whole list");
        // On 4010 the SDK restarts with a fresh config after 5-35 s; the test restarts it now.
        await client.restart();
        await push2Subscribed(scene, transport);
        await site.publish([channels.privateId], "message", { n: 1 });
        await assertPush2Received(client, [1]);
      });
    });
  }

  test("v4-5. [long-polling] browser publishing: sendMessageToChannels to another user's signed public channel reaches them via /bitrix/rest/", { timeout: TEST_TIMEOUT }, async () => {
    await withPush2Scene(factory, { transport: "long-polling" }, async ({ app, client, channels }) => {
      const bob = new Push2Channels(siteSigner);
      const poll = openRequest(app.port(0), `/bitrix/sub/?CHANNEL_ID=${encodeURIComponent(bob.pair)}&binaryMode=true`);
      await waitFor(() => subscribers({ app } as Push2Scene, `public:${bob.publicId}`) === 1, 5000, "bob polling");
      await client.sendToChannels([bob.signedPublic], "im", "typing", { n: 9 });
      const reply = await poll.reply;
      assert.equal(reply.status, 200);
      const [message] = decodeResponseBatch(reply.body)[0]!.outgoingMessages!;
      const body = JSON.parse(message!.body) as { module_id: string; command: string; params: { n: number } };
      assert.deepEqual([body.module_id, body.command, body.params.n], ["im", "typing", 9]);
      assert.equal(Buffer.from(message!.sender!.id).toString("hex"), channels.publicId, "sent on behalf of the client's public id");
      await waitFor(() => client.wire.some((w) => w.url.includes("/bitrix/rest/")), 5000, "the client's publish answered");
      assert.deepEqual(client.wire.filter((w) => w.url.includes("/bitrix/rest/")).map((w) => w.status), [200]);
    });
  });
}
