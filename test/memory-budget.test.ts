import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CHANNEL_OVERHEAD_BYTES, ChannelStore, MESSAGE_OVERHEAD_BYTES, type StoreLimits } from "../src/core/channel-store.js";
import type { Channel, ChannelSubscriber } from "../src/core/channel.js";
import { ManualClock } from "../src/core/clock.js";
import { Refusal } from "../src/core/refusal.js";
import { normalizeConfig } from "../src/config/schema.js";
import { EvictionLog } from "../src/http/eviction-log.js";
import { Logger } from "../src/log.js";
import { EPOCH, request, withServer, type RawConfig } from "./helpers.js";

/**
 * sharedMemorySize: a cap on the estimated bytes of stored messages and channels. Reaching it
 * evicts the oldest messages of the least recently used channels; nothing is refused.
 */

const T0 = 1_700_000_000_000;

function store(sharedMemorySize: number, clock = new ManualClock(T0)): ChannelStore {
  const limits: StoreLimits = {
    maxMessagesStoredPerChannel: 0, messageTtl: 1800, maxChannelIdLength: 0, maxNumberOfChannels: 0, maxNumberOfWildcardChannels: 0,
    wildcardChannelPrefix: "", channelInactivityTime: 30, maxSubscribersPerChannel: 0, channelDeletedMessageText: "Channel deleted",
    sharedMemorySize,
  };
  return new ChannelStore(limits, clock);
}

function channel(s: ChannelStore, id: string): Channel {
  const c = s.obtain(id);
  if (c instanceof Refusal) throw new Error(c.explain);
  return c;
}

const STORE = { eventId: "", eventType: "", store: true };
const body = (tag: string, size = 100): Buffer => Buffer.from(tag.padEnd(size, "."));
const texts = (c: Channel): string[] => Array.from({ length: c.messages.length }, (_, i) => c.messages.at(i)!.text.toString().replace(/\.+$/, ""));
const MESSAGE = MESSAGE_OVERHEAD_BYTES + 100;
const CHANNEL = CHANNEL_OVERHEAD_BYTES + 1; // one-letter ids

/** Captures warnings instead of printing them. */
class CapturingLogger extends Logger {
  readonly warnings: string[] = [];
  constructor() {
    super("silent");
  }
  override warn(message: string): void {
    this.warnings.push(message);
  }
}

describe("memory budget: the store", () => {
  test("accounts channels and messages, and frees them", () => {
    const s = store(0);
    const a = channel(s, "a");
    assert.equal(s.memoryUsed, CHANNEL);
    s.publish(a, body("1"), STORE);
    assert.equal(s.memoryUsed, CHANNEL + MESSAGE);
    assert.equal(s.storedBytes, 100);
    s.delete(a);
    assert.equal(s.memoryUsed, 0);
    assert.equal(s.storedBytes, 0);
  });

  test("over budget: the oldest messages of the least recently used channel go first; nothing is refused", () => {
    // Room for two channels and five messages.
    const s = store(2 * CHANNEL + 5 * MESSAGE);
    const a = channel(s, "a");
    const b = channel(s, "b");
    s.publish(a, body("a1"), STORE);
    s.publish(a, body("a2"), STORE);
    s.publish(b, body("b1"), STORE);
    s.publish(b, body("b2"), STORE);
    s.publish(a, body("a3"), STORE); // a is now the most recently used
    assert.equal(s.evictedMessages, 0);
    s.publish(b, body("b3"), STORE); // one over; after b3, a is the least recently used
    assert.deepEqual(texts(a), ["a2", "a3"]);
    assert.deepEqual(texts(b), ["b1", "b2", "b3"]);
    assert.equal(s.evictedMessages, 1);
    assert.ok(s.memoryUsed <= 2 * CHANNEL + 5 * MESSAGE);

    // A subscription makes a channel recently used: b is now the least recent.
    const subscriber: ChannelSubscriber = { onMessage() {}, onChannelDeleted() {} };
    s.subscribe(a, subscriber);
    s.publish(a, body("a4"), STORE);
    assert.deepEqual(texts(b), ["b2", "b3"]);
    assert.deepEqual(texts(a), ["a2", "a3", "a4"]);
    assert.equal(s.evictedMessages, 2);
    assert.equal(s.storedMessages, 5);
  });

  test("a channel emptied by eviction moves on to the next least recently used", () => {
    const s = store(3 * CHANNEL + 3 * MESSAGE);
    const [a, b, c] = [channel(s, "a"), channel(s, "b"), channel(s, "c")];
    s.publish(a, body("a1"), STORE);
    s.publish(b, body("b1"), STORE);
    s.publish(c, body("c1"), STORE);
    const big = Buffer.alloc(MESSAGE + 100, 0x78); // needs two messages' room
    s.publish(c, big, STORE);
    assert.deepEqual([texts(a), texts(b)], [[], []]);
    assert.equal(c.messages.length, 2);
    assert.equal(s.evictedMessages, 2);
  });

  test("the observer hears how many were evicted; the eviction log warns at most once a minute", () => {
    const clock = new ManualClock(T0);
    const s = store(CHANNEL + 2 * MESSAGE, clock);
    const log = new CapturingLogger();
    s.observers.push(new EvictionLog(log, clock, CHANNEL + 2 * MESSAGE));
    const a = channel(s, "a");
    for (let i = 0; i < 5; i++) s.publish(a, body(`m${i}`), STORE);
    assert.equal(s.evictedMessages, 3);
    assert.equal(log.warnings.length, 1);
    assert.match(log.warnings[0]!, /sharedMemorySize \d+ bytes reached: evicted 1 /);
    clock.advance(59_000);
    s.publish(a, body("late"), STORE);
    assert.equal(log.warnings.length, 1, "still within the minute");
    clock.advance(1_000);
    s.publish(a, body("later"), STORE);
    assert.equal(log.warnings.length, 2);
    assert.match(log.warnings[1]!, /evicted 4 /, "the count since the last warning");
  });
});

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
      const { store } = app.push.ctx;
      assert.ok(store.memoryUsed <= 4096, `memory ${store.memoryUsed} within budget`);
      assert.ok(store.evictedMessages > 20, `evicted ${store.evictedMessages}`);
      assert.equal(store.storedMessages + store.evictedMessages, 40);
      // The newest message of the most recent channel is still there for catch-up.
      const catchUp = await request(port, "/sub?id=ch3", { headers: { "If-Modified-Since": EPOCH } });
      assert.equal(catchUp.status, 200);
      assert.match(catchUp.text, /message 39 x+$/);
      assert.doesNotMatch(catchUp.text, /message 3 /, "the oldest went first");
      const metrics = await request(port, "/metrics");
      assert.match(metrics.text, new RegExp(`\\npushwire_evicted_messages_total ${store.evictedMessages}\\n`));
      assert.match(metrics.text, /\npushwire_memory_budget_bytes 4096\n/);
    });
  });
});
