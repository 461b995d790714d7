import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../src/core/clock.js";
import type { ChannelSubscriber } from "../../src/store/channel.js";
import type { StoreObserver } from "../../src/store/observer.js";
import { channelOf as obtain, T0, testStore } from "../support/store.js";

/**
 * The store's observer hooks (the channel index reports creation and destruction, the hub
 * subscriptions) and the events channel built on them, without sockets.
 */

function makeStore(clock = new ManualClock(T0), eventsChannelId = "") {
  return testStore({ maxMessagesStoredPerChannel: 2, messageTtl: 60 }, clock, eventsChannelId);
}

/** Records every hook call as "hook:channel", from the index and the hub. */
function recorder(s: ReturnType<typeof makeStore>): string[] {
  const calls: string[] = [];
  const observer: StoreObserver = {
    channelCreated: (c) => calls.push(`created:${c.id}`),
    channelDestroyed: (c) => calls.push(`destroyed:${c.id}`),
    clientSubscribed: (c) => calls.push(`subscribed:${c.id}`),
    clientUnsubscribed: (c) => calls.push(`unsubscribed:${c.id}`),
  };
  s.store.observers.push(observer);
  s.hub.observers.push(observer);
  return calls;
}

const STORE = { eventId: "", eventType: "", store: true };

describe("store observers", () => {
  test("created once per channel; subscribed/unsubscribed only for real changes", () => {
    const s = makeStore();
    const calls = recorder(s);
    const a = obtain(s.store, "a");
    obtain(s.store, "a");
    const subscriber: ChannelSubscriber = { onMessage() {}, onChannelDeleted() {} };
    s.hub.subscribe(a, subscriber);
    s.hub.unsubscribe(a, subscriber);
    s.hub.unsubscribe(a, subscriber);
    assert.deepEqual(calls, ["created:a", "subscribed:a", "unsubscribed:a"]);
  });

  test("delete: subscribers leave (unsubscribed) before destroyed", () => {
    const s = makeStore();
    const calls = recorder(s);
    const a = obtain(s.store, "a");
    const subscriber: ChannelSubscriber = { onMessage() {}, onChannelDeleted: (channel) => s.hub.unsubscribe(channel, subscriber) };
    s.hub.subscribe(a, subscriber);
    s.broker.delete(a);
    s.broker.delete(a);
    assert.deepEqual(calls, ["created:a", "subscribed:a", "unsubscribed:a", "destroyed:a"]);
  });

  test("sweep: destroyed when inactive; the events channel is never swept nor counted", () => {
    const clock = new ManualClock(T0);
    const s = makeStore(clock, "events");
    const events = s.events!;
    const calls = recorder(s);
    const a = obtain(s.store, "a");
    s.broker.publish([a], Buffer.from("x"), { ...STORE, store: false });
    clock.advance(31_000);
    s.broker.sweep();
    assert.deepEqual(calls, ["created:a", "destroyed:a"]);
    assert.equal(s.store.find("events"), events.channel);
    assert.equal(s.broker.publishedMessages, 1, "only the publish to a");
    assert.equal(s.history.storedMessages, 0, "event messages are not counted as stored");
    // The ring of 2 applies to events too: the two newest remain.
    const texts = [0, 1].map((i) => events.channel.messages.at(i)!.text.toString());
    assert.deepEqual(texts, ['{"type": "channel_created", "channel": "a"}', '{"type": "channel_destroyed", "channel": "a"}']);
    assert.deepEqual([0, 1].map((i) => events.channel.messages.at(i)!.eventType), ["channel_created", "channel_destroyed"]);
  });

  test("events expire like other messages, and the events channel stays after they do", () => {
    const clock = new ManualClock(T0);
    const s = makeStore(clock, "events");
    const events = s.events!;
    obtain(s.store, "a");
    assert.equal(events.channel.messages.length, 1);
    clock.advance(61_000);
    s.broker.sweep();
    // channel_created expired; the same sweep removed the idle "a", which is a new event.
    assert.equal(events.channel.messages.length, 1);
    assert.equal(events.channel.messages.at(0)!.eventType, "channel_destroyed");
    clock.advance(61_000);
    s.broker.sweep();
    assert.equal(events.channel.messages.length, 0);
    assert.equal(s.store.find("events"), events.channel, "an empty, idle events channel stays");
    assert.equal(s.history.storedMessages, 0);
  });
});
