import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { normalizeConfig } from "../../src/config/schema.js";
import { connect } from "node:net";
import { EPOCH, request, sleep, waitFor, withServer, type RawConfig } from "../support/helpers.js";

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

  test("pipelined publishes, bodies split across reads: the stored bodies retain no more memory than the budget counts", async () => {
    await withServer(config({ sharedMemorySize: "64k", maxMessagesStoredPerChannel: 1 }), async (app) => {
      const body = "p".repeat(200);
      // One publish in ten goes to a channel of its own and stays; the others replace each other on "hot".
      const requests = Array.from({ length: 400 }, (_, i) => `POST /pub?id=${i % 10 === 0 ? `keep${i}` : "hot"} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      const socket = connect(app.port(), "127.0.0.1");
      socket.setNoDelay(true);
      let answers = "";
      socket.on("data", (c: Buffer) => (answers += c.toString("latin1")));
      await new Promise((resolve) => socket.once("connect", resolve));
      // Each body cut in two writes: it reaches the server in two reads, pipelined behind the others.
      for (const text of requests) {
        socket.write(text.slice(0, -100));
        await sleep(1);
        socket.write(text.slice(-100));
      }
      await waitFor(() => answers.split("HTTP/1.1 200 OK").length - 1 === requests.length, 5000, "every publish answered");
      socket.destroy();
      const { store, history } = app.push.ctx;
      const retained = new Set<ArrayBufferLike>();
      for (const channel of store.all()) {
        for (let i = 0; i < channel.messages.length; i++) {
          const text = channel.messages.at(i)!.text;
          assert.equal(text.buffer.byteLength, text.length, `a stored body of ${channel.id} owns its allocation`);
          retained.add(text.buffer);
        }
      }
      assert.equal(history.storedMessages, 41);
      let bytes = 0;
      for (const buffer of retained) bytes += buffer.byteLength;
      assert.ok(bytes <= history.memoryUsed && history.memoryUsed <= 64 * 1024, `retained ${bytes} bytes, estimate ${history.memoryUsed}`);
    });
  });
});
