import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lastStored, sleep, start, waitFor, type RawConfig, type Running } from "./helpers.js";
import { BitrixSite, bitrixSdkConfig, newChannels, pinPorts, pullConfigResult, type SiteChannels } from "./bitrix-site.js";
import type { ConfigSource, PullClientFactory, PullClientUnderTest } from "./pull-client.js";

/**
 * The Bitrix drop-in scenarios (numbered as in the issue), written once and run with Bitrix's real pull client
 * (`@bitrix24/b24jssdk` PullClient) in Node and in headless Chromium. Everything between the
 * client and pushwire is real; the site's PHP side is raw HTTP/1.0 (bitrix-site.ts).
 */

export type Transport = "long-polling" | "websocket";

export interface Scene<C extends PullClientUnderTest = PullClientUnderTest> {
  /** The running pushwire (scenarios 8 and 9 replace it with a new one on the same ports). */
  app: Running;
  site: BitrixSite;
  channels: SiteChannels;
  client: C;
  /** How many `pull.config.get` calls the client made. */
  configCalls: number;
}

interface SceneOptions {
  transport: Transport;
  hold?: string;
  /** Open (publish `open` to) the private channel before the client starts; default true. */
  openPrivate?: boolean;
  /** Runs on each `pull.config.get` after the first (what PHP's GetConfig does on CACHE=N). */
  onConfigRefetch?: (scene: Scene) => Promise<void>;
  /** Changes the configuration pushwire starts with (scenario 9: a message log). */
  config?: (raw: RawConfig) => RawConfig;
}

const TEST_TIMEOUT = 60_000;

/** Starts pushwire, opens the channels as PHP does, starts the client, and waits until it is subscribed. */
export async function withScene<C extends PullClientUnderTest>(
  factory: (config: ConfigSource) => Promise<C>, options: SceneOptions, body: (scene: Scene<C>) => Promise<void>,
): Promise<void> {
  const raw = bitrixSdkConfig(options.hold ?? "2s");
  const app = await start(options.config ? options.config(raw) : raw);
  const scene = { app, channels: newChannels(), configCalls: 0 } as Scene<C>;
  scene.site = new BitrixSite(() => scene.app.port(1));
  const subPort = app.port(0);
  try {
    if (options.openPrivate !== false) await scene.site.openChannel(scene.channels.private);
    await scene.site.openChannel(scene.channels.shared);
    scene.client = await factory(async () => {
      if (scene.configCalls++ > 0) await options.onConfigRefetch?.(scene);
      return pullConfigResult(scene.channels, { host: "127.0.0.1", subPort, websocket: options.transport === "websocket" });
    });
    if (options.openPrivate !== false) await subscribed(scene, options.transport);
    await body(scene);
  } finally {
    await scene.client?.close();
    await scene.app.close();
  }
}

function subscriberCount(scene: Scene, channel: string): number {
  return scene.app.push.ctx.store.find(channel)?.subscribers.size ?? 0;
}

/** The client is held (long-poll) or connected (WebSocket) on both its channels, as pushwire sees it. */
export async function subscribed(scene: Scene, transport: Transport, ms = 10_000): Promise<void> {
  const { private: p, shared: s } = scene.channels;
  await waitFor(() => subscriberCount(scene, p) === 1 && subscriberCount(scene, s) === 1, ms, `client ${transport} subscription`);
  if (transport === "websocket") {
    assert.ok(scene.app.push.ctx.held.size === 1 && [...scene.app.push.ctx.held][0]!.mode === "websocket", "the client uses a WebSocket");
  } else {
    assert.equal([...scene.app.push.ctx.held][0]!.mode, "long-polling");
  }
}

/** The `n` of every `im` event the client's handler got, in order. */
function receivedNumbers(client: PullClientUnderTest): number[] {
  return client.received.filter((e) => e.moduleId === "im").map((e) => e.params["n"] as number);
}

/** Waits until the handler got `expected.length` events, then a little longer, and checks them exactly. */
export async function assertReceived(client: PullClientUnderTest, expected: number[], ms = 10_000): Promise<void> {
  await waitFor(() => receivedNumbers(client).length >= expected.length, ms, `${expected.length} events (got ${JSON.stringify(receivedNumbers(client))})`);
  await sleep(300); // a duplicate would arrive by now
  assert.deepEqual(receivedNumbers(client), expected);
}

/** The `im` events numbered from `from` stored in the client's channels, in pushwire's publish order. */
function publishOrder(scene: Scene, from: number): Array<{ n: number; time: number; channel: string }> {
  const found: Array<{ n: number; time: number; channel: string; seq: number }> = [];
  for (const id of [scene.channels.private, scene.channels.shared]) {
    const ring = scene.app.push.ctx.store.find(id)!.messages;
    for (let i = 0; i < ring.length; i++) {
      const message = ring.at(i)!;
      const body = JSON.parse(message.text.toString("utf8")) as { module_id: string; params: { n?: number } };
      const n = body.params.n;
      if (body.module_id === "im" && n !== undefined && n >= from) found.push({ n, time: message.time, channel: id, seq: message.seq });
    }
  }
  return found.sort((a, b) => a.seq - b.seq);
}

function httpStatuses(client: PullClientUnderTest): number[] {
  return client.wire.filter((w) => w.kind === "http").map((w) => w.status);
}

/** Registers the scenarios for a client `factory` (the SDK in Node or in Chromium). */
export function bitrixScenarios(factory: PullClientFactory): void {
  for (const transport of ["long-polling", "websocket"] as const) {
    test(`1. [${transport}] PHP's HTTP/1.0 publish to private/shared: each event reaches the handler once per channel, in order`, { timeout: TEST_TIMEOUT }, async () => {
      await withScene(factory, { transport }, async ({ site, channels, client }) => {
        const { private: p, shared: s } = channels;
        await site.publish([p, s], "message", { n: 1, text: "Привет, \"мир\" \\ both" });
        await site.publish([p], "message", { n: 2 });
        await site.publish([s], "message", { n: 3 });
        await site.publish([s, p], "message", { n: 4 });
        await site.publish([p], "message", { n: 5 });
        // One POST to two channels is two deliveries (one per channel), as with push-stream.
        await assertReceived(client, [1, 1, 2, 3, 4, 4, 5]);
        assert.deepEqual(client.received[0]!.params, { n: 1, text: "Привет, \"мир\" \\ both" });
        assert.ok(client.received.every((e) => e.moduleId === "im" && e.command === "message"), "channel `open` messages never reach handlers");
      });
    });

    test(`2. [${transport}] 3 bursts of 50 concurrent publishes across two channels: complete, in publish order, no duplicate`, { timeout: TEST_TIMEOUT }, async () => {
      await withScene(factory, { transport }, async (scene) => {
        const { site, channels, client } = scene;
        const expected: number[] = [];
        for (let burst = 0; burst < 3; burst++) {
          while (Date.now() % 1000 > 100) await sleep(5); // start at the top of a second
          // 50 PHP hits at once (an irregular mix of private and shared), so most land while a
          // long-polling client is between polls and a reply interleaves the channels.
          const numbers = Array.from({ length: 50 }, (_, i) => burst * 50 + i + 1);
          await Promise.all(numbers.map((n) => site.publish([n % 3 === 0 ? channels.shared : channels.private], "message", { n })));
          const order = publishOrder(scene, numbers[0]!);
          assert.equal(order.length, 50);
          // What makes it hard: same-second messages on both channels, told apart only by their tags.
          const sameSecond = order.filter((m) => order.some((o) => o.time === m.time && o.channel !== m.channel));
          assert.ok(sameSecond.length >= 10, `same-second messages on both channels (${sameSecond.length})`);
          expected.push(...order.map((m) => m.n));
          await assertReceived(client, expected);
        }
        if (transport === "long-polling") {
          const replies = httpStatuses(client).filter((s) => s === 200).length;
          assert.ok(replies >= 3 && replies < 150, `several long-poll rounds, some carrying many messages (${replies} replies for 150 events)`);
        }
      });
    });

    test(`5. [${transport}] the online check (GET, 100 channels, junk body) counts the connected client`, { timeout: TEST_TIMEOUT }, async () => {
      await withScene(factory, { transport }, async (scene) => {
        const { site, channels } = scene;
        const others = Array.from({ length: 98 }, () => randomBytes(16).toString("hex"));
        await site.publish(others, "message", { n: 0 }); // other users' channels, one POST of 98
        const online = await site.onlineCheck([channels.private, ...others, channels.shared]);
        assert.equal(online.size, 100);
        assert.equal(online.get(channels.private), 1);
        assert.equal(online.get(channels.shared), 1);
        assert.ok(others.every((id) => online.get(id) === 0), "nobody else online");
        await scene.client.close();
        await waitFor(() => subscriberCount(scene, channels.private) === 0, 5000, "client gone");
        assert.equal((await site.onlineCheck([channels.private, channels.shared])).get(channels.private), 0);
      });
    });

    test(`8. [${transport}] pushwire restarted under a connected client: it reconnects by itself and misses nothing`, { timeout: TEST_TIMEOUT }, async () => {
      await withScene(factory, { transport }, async (scene) => {
        const { site, channels, client } = scene;
        await site.publish([channels.private], "message", { n: 1 });
        await assertReceived(client, [1]);
        // A message stamped in the second of the client's cursor with a lower tag would be "older"
        // to it (the tag counter restarts with the process): restart after that second.
        const cursorSecond = lastStored(scene.app, channels.private).time;
        while (Math.floor(Date.now() / 1000) === cursorSecond) await sleep(20);
        const [subPort, pubPort] = [scene.app.port(0), scene.app.port(1)];
        await scene.app.close();
        scene.app = await start(pinPorts(bitrixSdkConfig(), subPort, pubPort));
        // The store is empty after a restart: PHP's next event to both channels re-creates them.
        await site.publish([channels.private, channels.shared], "message", { n: 2 });
        // Long-polling retries 0.5 s after the failed poll (15 s if it hit a 403 first).
        await subscribed(scene, transport, 25_000);
        await site.publish([channels.shared], "message", { n: 3 });
        await site.publish([channels.private], "message", { n: 4 });
        await assertReceived(client, [1, 2, 2, 3, 4], 25_000);
      });
    });

    test(`9. [${transport}] with the message log, pushwire restarted between two messages: the client misses nothing`, { timeout: TEST_TIMEOUT }, async () => {
      const dir = mkdtempSync(join(tmpdir(), "pushwire-sdk-log-"));
      const withLog = (raw: RawConfig): RawConfig => ({ ...raw, messageLog: { path: dir, fsync: "batch" } });
      try {
        await withScene(factory, { transport, config: withLog }, async (scene) => {
          const { site, channels, client } = scene;
          await site.publish([channels.private], "message", { n: 1 });
          await assertReceived(client, [1]);
          // At once, in the second of the client's cursor; nothing re-creates the channels.
          const [subPort, pubPort] = [scene.app.port(0), scene.app.port(1)];
          await scene.app.close();
          scene.app = await start(withLog(pinPorts(bitrixSdkConfig(), subPort, pubPort)));
          assert.equal(scene.app.push.restored?.channels, 2, "both channels came back from the log");
          await site.publish([channels.private], "message", { n: 2 });
          await subscribed(scene, transport, 25_000);
          await assertReceived(client, [1, 2], 25_000);
          await site.publish([channels.private], "message", { n: 3 });
          await assertReceived(client, [1, 2, 3], 25_000);
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  test("3. [long-polling] idle through the hold: 304, reconnect at once, nothing lost over 3 rounds", { timeout: TEST_TIMEOUT }, async () => {
    await withScene(factory, { transport: "long-polling", hold: "1s" }, async ({ site, channels, client }) => {
      await site.publish([channels.private], "message", { n: 1 });
      await assertReceived(client, [1]);
      const started = Date.now();
      const expected = [1];
      for (let round = 1; round <= 3; round++) {
        const seen = httpStatuses(client).filter((s) => s === 304).length;
        await waitFor(() => httpStatuses(client).filter((s) => s === 304).length > seen, 5000, `304 #${round}`);
        // Published right after the 304, while the client is between polls.
        const n = round + 1;
        await site.publish([round === 2 ? channels.shared : channels.private], "message", { n });
        expected.push(n);
        await assertReceived(client, expected);
      }
      const elapsed = (Date.now() - started) / 1000;
      const polls = httpStatuses(client).filter((s) => s === 304).length;
      assert.ok(polls <= elapsed / 1 + 2, `no 304 loop: ${polls} timeouts in ${elapsed.toFixed(1)} s with a 1 s hold`);
      assert.ok(!httpStatuses(client).some((s) => s !== 200 && s !== 304 && s !== -1), `only 200/304: ${httpStatuses(client)}`);
    });
  });

  test("4. [long-polling] channel creation dance: 403 for an unopened channel; after PHP's `reopen` the client connects and receives", { timeout: TEST_TIMEOUT }, async () => {
    await withScene(factory, {
      transport: "long-polling",
      openPrivate: false,
      // CPullChannel::GetConfig(cache=false, reopen=true) publishes `reopen` to the channel.
      onConfigRefetch: async (scene) => scene.site.openChannel(scene.channels.private, "reopen"),
    }, async (scene) => {
      const { site, channels, client } = scene;
      await waitFor(() => httpStatuses(client).includes(403), 10_000, "the 403");
      assert.equal(subscriberCount(scene, channels.shared), 0, "a refused subscribe holds no channel");
      // The SDK itself would retry after 15-18 s; a config re-fetch (what Bitrix does after a 403) is immediate.
      await client.restart();
      await subscribed(scene, "long-polling");
      assert.equal(scene.configCalls, 2);
      await site.publish([channels.private], "message", { n: 1 });
      await site.publish([channels.shared], "message", { n: 2 });
      await assertReceived(client, [1, 2]);
      assert.ok(!client.received.some((e) => e.moduleId === "pull"), "`open`/`reopen` never reach handlers");
    });
  });
}
