import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { midText } from "../../src/core/mid.js";
import { start, waitFor, type Running } from "../support/helpers.js";
import { assertPush2Received, siteSigner } from "../support/bitrix-push2-scenarios.js";
import { Push2Channels, push2Config, push2ConfigResult, Push2Site } from "../support/bitrix-push2-site.js";
import { startNodePullClient } from "../support/node-pull-client.js";
import { redisSkipReason, startRedis, type RunningRedis } from "../support/redis-server.js";

/**
 * The Bitrix Push server 2.0 layout on two nodes sharing a real Redis (issue 16): the site
 * publishes through one node, Bitrix's own pull client (`@bitrix24/b24jssdk`, server version 4,
 * protobuf) listens on the other, by long-polling and by WebSocket.
 */

const skip = redisSkipReason();

describe("Redis broker: Bitrix Push server 2.0 across nodes", { skip }, () => {
  let redis: RunningRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  async function push2Node(): Promise<Running> {
    return start({ ...push2Config({ hold: "2s" }), broker: { redis: { url: `redis://127.0.0.1:${redis.port}`, keyPrefix: "push2:" } } });
  }

  for (const transport of ["long-polling", "websocket"] as const) {
    test(`[${transport}] the site publishes through node A, the client listens on node B: every message once, in order, one mid on both nodes`, { timeout: 60_000 }, async () => {
      const [a, b] = [await push2Node(), await push2Node()];
      const channels = new Push2Channels(siteSigner);
      const site = new Push2Site(() => a.port(1));
      const client = await startNodePullClient(async () => push2ConfigResult(channels, { host: "127.0.0.1", subPort: b.port(0), websocket: transport === "websocket" }));
      try {
        await waitFor(() => (b.push.ctx.store.find(channels.privateId)?.subscribers.size ?? 0) === 1, 10_000, "the client subscribed on b");
        await site.publish([channels.privateId], "message", { n: 1 });
        await site.publish([channels.sharedId], "message", { n: 2 });
        await site.publish([channels.privateId, channels.sharedId], "message", { n: 3 });
        await assertPush2Received(client, [1, 2, 3]);
        const mids = (node: Running): string[] => {
          const channel = node.push.ctx.store.find(channels.privateId)!;
          const list = node.push.ctx.history.read(channel);
          return Array.from({ length: list.length }, (_, i) => midText(list.at(i)!.push2!.mid));
        };
        assert.equal(mids(b).length, 2);
        assert.deepEqual(mids(a), mids(b), "one mid per message on every node");
        assert.ok(mids(b)[0]! < mids(b)[1]!, "mids grow");
      } finally {
        await client.close();
        await a.close();
        await b.close();
      }
    });
  }
});
