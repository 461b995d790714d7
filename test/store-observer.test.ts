import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ChannelStore, type StoreLimits, type StoreObserver } from "../src/core/channel-store.js";
import type { Channel, ChannelSubscriber } from "../src/core/channel.js";
import { ManualClock } from "../src/core/clock.js";
import { EventsChannel } from "../src/core/events-channel.js";
import { Refusal } from "../src/core/refusal.js";

/** The store's observer hooks and the events channel built on them, without sockets. */

const T0 = 1_700_000_000_000;

function makeStore(clock = new ManualClock(T0)): ChannelStore {
  const limits: StoreLimits = {
    maxMessagesStoredPerChannel: 2, messageTtl: 60, maxChannelIdLength: 0, maxNumberOfChannels: 0, maxNumberOfWildcardChannels: 0,
    wildcardChannelPrefix: "", channelInactivityTime: 30, maxSubscribersPerChannel: 0, channelDeletedMessageText: "Channel deleted",
  };
  return new ChannelStore(limits, clock);
}

function obtain(store: ChannelStore, id: string): Channel {
  const channel = store.obtain(id);
  if (channel instanceof Refusal) throw new Error(channel.explain);
  return channel;
}

/** Records every hook call as "hook:channel". */
function recorder(store: ChannelStore): string[] {
  const calls: string[] = [];
  const observer: StoreObserver = {
    channelCreated: (c) => calls.push(`created:${c.id}`),
    channelDestroyed: (c) => calls.push(`destroyed:${c.id}`),
    clientSubscribed: (c) => calls.push(`subscribed:${c.id}`),
    clientUnsubscribed: (c) => calls.push(`unsubscribed:${c.id}`),
  };
  store.observers.push(observer);
  return calls;
}

const STORE = { eventId: "", eventType: "", store: true };

describe("store observers", () => {
  test("created once per channel; subscribed/unsubscribed only for real changes", () => {
    const store = makeStore();
    const calls = recorder(store);
    const a = obtain(store, "a");
    obtain(store, "a");
    const subscriber: ChannelSubscriber = { onMessage() {}, onChannelDeleted() {} };
    store.subscribe(a, subscriber);
    store.unsubscribe(a, subscriber);
    store.unsubscribe(a, subscriber);
    assert.deepEqual(calls, ["created:a", "subscribed:a", "unsubscribed:a"]);
  });

  test("delete: subscribers leave (unsubscribed) before destroyed", () => {
    const store = makeStore();
    const calls = recorder(store);
    const a = obtain(store, "a");
    const subscriber: ChannelSubscriber = { onMessage() {}, onChannelDeleted: (channel) => store.unsubscribe(channel, subscriber) };
    store.subscribe(a, subscriber);
    store.delete(a);
    store.delete(a);
    assert.deepEqual(calls, ["created:a", "subscribed:a", "unsubscribed:a", "destroyed:a"]);
  });

  test("sweep: destroyed when inactive; the events channel is never swept nor counted", () => {
    const clock = new ManualClock(T0);
    const store = makeStore(clock);
    const events = new EventsChannel(store, "events");
    store.observers.push(events);
    const calls = recorder(store);
    const a = obtain(store, "a");
    store.publish(a, Buffer.from("x"), { ...STORE, store: false });
    clock.advance(31_000);
    store.sweep();
    assert.deepEqual(calls, ["created:a", "destroyed:a"]);
    assert.equal(store.find("events"), events.channel);
    assert.equal(store.publishedMessages, 1, "only the publish to a");
    assert.equal(store.storedMessages, 0, "event messages are not counted as stored");
    // The ring of 2 applies to events too: the two newest remain.
    const texts = [0, 1].map((i) => events.channel.messages.at(i)!.text.toString());
    assert.deepEqual(texts, ['{"type": "channel_created", "channel": "a"}', '{"type": "channel_destroyed", "channel": "a"}']);
    assert.deepEqual([0, 1].map((i) => events.channel.messages.at(i)!.eventType), ["channel_created", "channel_destroyed"]);
  });

  test("events expire like other messages, and the events channel stays after they do", () => {
    const clock = new ManualClock(T0);
    const store = makeStore(clock);
    const events = new EventsChannel(store, "events");
    store.observers.push(events);
    obtain(store, "a");
    assert.equal(events.channel.messages.length, 1);
    clock.advance(61_000);
    store.sweep();
    // channel_created expired; the same sweep removed the idle "a", which is a new event.
    assert.equal(events.channel.messages.length, 1);
    assert.equal(events.channel.messages.at(0)!.eventType, "channel_destroyed");
    clock.advance(61_000);
    store.sweep();
    assert.equal(events.channel.messages.length, 0);
    assert.equal(store.find("events"), events.channel, "an empty, idle events channel stays");
    assert.equal(store.storedMessages, 0);
  });
});
