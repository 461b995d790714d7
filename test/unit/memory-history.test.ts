import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../src/core/clock.js";
import { Logger } from "../../src/log.js";
import { EvictionLog } from "../../src/observe/eviction-log.js";
import type { Channel, ChannelSubscriber } from "../../src/store/channel.js";
import { CHANNEL_OVERHEAD_BYTES, MESSAGE_OVERHEAD_BYTES } from "../../src/store/memory-history.js";
import { channelOf, T0, testStore } from "../support/store.js";

/**
 * sharedMemorySize in the memory history: a cap on the estimated bytes of stored messages and
 * channels. Reaching it evicts the oldest messages of the least recently used channels; nothing
 * is refused. No sockets.
 */

function store(sharedMemorySize: number, clock = new ManualClock(T0)) {
  return testStore({ sharedMemorySize }, clock);
}

const channel = channelOf;
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
    const a = channel(s.store, "a");
    assert.equal(s.history.memoryUsed, CHANNEL);
    s.broker.publish([a], body("1"), STORE);
    assert.equal(s.history.memoryUsed, CHANNEL + MESSAGE);
    assert.equal(s.history.storedBytes, 100);
    s.broker.delete(a);
    assert.equal(s.history.memoryUsed, 0);
    assert.equal(s.history.storedBytes, 0);
  });

  test("over budget: the oldest messages of the least recently used channel go first; nothing is refused", () => {
    // Room for two channels and five messages.
    const s = store(2 * CHANNEL + 5 * MESSAGE);
    const a = channel(s.store, "a");
    const b = channel(s.store, "b");
    s.broker.publish([a], body("a1"), STORE);
    s.broker.publish([a], body("a2"), STORE);
    s.broker.publish([b], body("b1"), STORE);
    s.broker.publish([b], body("b2"), STORE);
    s.broker.publish([a], body("a3"), STORE); // a is now the most recently used
    assert.equal(s.history.evictedMessages, 0);
    s.broker.publish([b], body("b3"), STORE); // one over; after b3, a is the least recently used
    assert.deepEqual(texts(a), ["a2", "a3"]);
    assert.deepEqual(texts(b), ["b1", "b2", "b3"]);
    assert.equal(s.history.evictedMessages, 1);
    assert.ok(s.history.memoryUsed <= 2 * CHANNEL + 5 * MESSAGE);

    // A subscription makes a channel recently used: b is now the least recent.
    const subscriber: ChannelSubscriber = { onMessage() {}, onChannelDeleted() {} };
    s.hub.subscribe(a, subscriber);
    s.broker.publish([a], body("a4"), STORE);
    assert.deepEqual(texts(b), ["b2", "b3"]);
    assert.deepEqual(texts(a), ["a2", "a3", "a4"]);
    assert.equal(s.history.evictedMessages, 2);
    assert.equal(s.history.storedMessages, 5);
  });

  test("\"used\" means published to, subscribed to or read: each alone saves a channel from eviction", () => {
    const subscriber: ChannelSubscriber = { onMessage() {}, onChannelDeleted() {} };
    const uses: Record<string, (s: ReturnType<typeof store>, c: Channel) => void> = {
      published: (s, c) => void s.broker.publish([c], body(`${c.id}2`), STORE),
      subscribed: (s, c) => s.hub.subscribe(c, subscriber),
      read: (s, c) => void s.history.read(c),
    };
    for (const [use, apply] of Object.entries(uses)) {
      // Room for four channels and five messages; a, b, c used in that order.
      const s = store(4 * CHANNEL + 5 * MESSAGE);
      const [a, b, c] = [channel(s.store, "a"), channel(s.store, "b"), channel(s.store, "c")];
      s.broker.publish([a], body("a1"), STORE);
      s.broker.publish([b], body("b1"), STORE);
      s.broker.publish([c], body("c1"), STORE);
      apply(s, a); // a is now the most recently used; b the least
      // A fourth channel publishes until the budget is passed: each publish passes it by one message at most, so one goes.
      const d = channel(s.store, "d");
      while (s.history.evictedMessages === 0) s.broker.publish([d], body("d"), STORE);
      assert.equal(s.history.evictedMessages, 1, `${use}: one message evicted`);
      assert.deepEqual(texts(b), [], `${use}: b, the least recently used, lost its message`);
      assert.equal(texts(a)[0], "a1", `${use}: a keeps its message`);
      assert.deepEqual(texts(c), ["c1"], `${use}: c keeps its message`);
    }
  });

  test("a channel emptied by eviction moves on to the next least recently used", () => {
    const s = store(3 * CHANNEL + 3 * MESSAGE);
    const [a, b, c] = [channel(s.store, "a"), channel(s.store, "b"), channel(s.store, "c")];
    s.broker.publish([a], body("a1"), STORE);
    s.broker.publish([b], body("b1"), STORE);
    s.broker.publish([c], body("c1"), STORE);
    const big = Buffer.alloc(MESSAGE + 100, 0x78); // needs two messages' room
    s.broker.publish([c], big, STORE);
    assert.deepEqual([texts(a), texts(b)], [[], []]);
    assert.equal(c.messages.length, 2);
    assert.equal(s.history.evictedMessages, 2);
  });

  test("the observer hears how many were evicted; the eviction log warns at most once a minute", () => {
    const clock = new ManualClock(T0);
    const s = store(CHANNEL + 2 * MESSAGE, clock);
    const log = new CapturingLogger();
    s.history.observers.push(new EvictionLog(log, clock, CHANNEL + 2 * MESSAGE));
    const a = channel(s.store, "a");
    for (let i = 0; i < 5; i++) s.broker.publish([a], body(`m${i}`), STORE);
    assert.equal(s.history.evictedMessages, 3);
    assert.equal(log.warnings.length, 1);
    assert.match(log.warnings[0]!, /sharedMemorySize \d+ bytes reached: evicted 1 /);
    clock.advance(59_000);
    s.broker.publish([a], body("late"), STORE);
    assert.equal(log.warnings.length, 1, "still within the minute");
    clock.advance(1_000);
    s.broker.publish([a], body("later"), STORE);
    assert.equal(log.warnings.length, 2);
    assert.match(log.warnings[1]!, /evicted 4 /, "the count since the last warning");
  });
});
