import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { normalizeConfig } from "../../src/config/schema.js";
import { EPOCH, request, withServer, type RawConfig } from "../support/helpers.js";

/**
 * sharedMemorySize over HTTP: a cap on the estimated bytes of stored messages and channels. Reaching
 * it evicts the oldest messages of the least recently used channels; nothing is refused
 * (test/unit/memory-history.test.ts has the accounting and the eviction order).
 */

describe("memory budget: over HTTP", () => {
  function config(http: RawConfig = {}): RawConfig {
    return {
      sharedMemorySize: "4k",
      ...http,
      servers: [{
        listen: "127.0.0.1:0",
        locations: [
          { path: "/pub", publisher: "admin", channelsPath: "$arg_id", storeMessages: true },
          { path: "/sub", subscriber: "polling", channelsPath: "$arg_id" },
          { path: "/metrics", metrics: true },
        ],
      }],
    };
  }

  test("\"4k\" is parsed as bytes; a bad size is a config error", () => {
    assert.equal(normalizeConfig(config()).config?.http.sharedMemorySize, 4096);
    assert.match(normalizeConfig(config({ sharedMemorySize: "lots" })).errors?.join() ?? "", /sharedMemorySize: invalid size/);
  });

  test("publishing far past the budget: every publish and subscribe is served, old messages are evicted and counted", async () => {
    await withServer(config(), async (app) => {
      const port = app.port();
      for (let i = 0; i < 40; i++) {
        const reply = await request(port, `/pub?id=ch${i % 4}`, { method: "POST", body: `message ${i} `.padEnd(200, "x") });
        assert.equal(reply.status, 200, `publish ${i}`);
      }
      const { history } = app.push.ctx;
      assert.ok(history.memoryUsed <= 4096, `memory ${history.memoryUsed} within budget`);
      assert.ok(history.evictedMessages > 20, `evicted ${history.evictedMessages}`);
      assert.equal(history.storedMessages + history.evictedMessages, 40);
      // The newest message of the most recent channel is still there for catch-up.
      const catchUp = await request(port, "/sub?id=ch3", { headers: { "If-Modified-Since": EPOCH } });
      assert.equal(catchUp.status, 200);
      assert.match(catchUp.text, /message 39 x+$/);
      assert.doesNotMatch(catchUp.text, /message 3 /, "the oldest went first");
      const metrics = await request(port, "/metrics");
      assert.match(metrics.text, new RegExp(`\\npushwire_evicted_messages_total ${history.evictedMessages}\\n`));
      assert.match(metrics.text, /\npushwire_memory_budget_bytes 4096\n/);
    });
  });
});
