import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Channel, ChannelSubscriber } from "../../src/store/channel.js";
import type { Broker, PublishOptions } from "../../src/store/broker.js";
import type { StoreLimits } from "../../src/store/channel-store.js";
import type { History } from "../../src/store/history.js";
import { ManualClock } from "../../src/core/clock.js";
import type { Message } from "../../src/core/message.js";
import { Refusal, refusals } from "../../src/core/refusal.js";
import { channelOf, T0, testStore } from "../support/store.js";

function makeStore(overrides: Partial<StoreLimits> = {}, clock = new ManualClock(T0)) {
  return testStore(overrides, clock);
}

const channel = channelOf;

const STORE: PublishOptions = { eventId: "", eventType: "", store: true };
const NO_STORE: PublishOptions = { eventId: "", eventType: "", store: false };

function pub(broker: Broker, ch: Channel, text: string, options: PublishOptions = STORE): Message {
  return broker.publish([ch], Buffer.from(text), options)[0]!;
}

/** What authorizedChannelsOnly asks: does the channel hold an unexpired message? */
function hasStored(history: History, ch: Channel): boolean {
  return history.read(ch).length > 0;
}

class Recorder implements ChannelSubscriber {
  messages: { channel: string; id: number; text: string }[] = [];
  deleted: { channel: string; id: number; text: string; tag: number; time: number }[] = [];
  onMessage(channel: Channel, message: Message): void {
    this.messages.push({ channel: channel.id, id: message.id, text: message.text.toString() });
  }
  onChannelDeleted(channel: Channel, message: Message): void {
    this.deleted.push({ channel: channel.id, id: message.id, text: message.text.toString(), tag: message.tag, time: message.time });
  }
}

function storedTexts(ch: Channel): string[] {
  const out: string[] = [];
  for (let i = 0; i < ch.messages.length; i++) out.push(ch.messages.at(i)!.text.toString());
  return out;
}

describe("ChannelStore.obtain", () => {
  test("creates a channel on first use and returns the same one afterwards", () => {
    const { store } = makeStore();
    const a = channel(store, "a");
    assert.equal(a.id, "a");
    assert.equal(a.wildcard, false);
    assert.equal(a.lastMessageId, 0);
    assert.equal(store.obtain("a"), a);
    assert.equal(store.find("a"), a);
    assert.equal(store.find("b"), undefined);
    assert.equal(store.channelCount, 1);
  });

  test("all() lists channels in creation order", () => {
    const { store } = makeStore();
    for (const id of ["z", "a", "m"]) channel(store, id);
    assert.deepEqual([...store.all()].map((c) => c.id), ["z", "a", "m"]);
  });

  test("maxNumberOfChannels caps creation with 403 'Number of channels were exceeded.'", () => {
    const { store } = makeStore({ maxNumberOfChannels: 2 });
    channel(store, "a");
    channel(store, "b");
    const refused = store.obtain("c");
    assert.ok(refused instanceof Refusal);
    assert.equal(refused.status, 403);
    assert.equal(refused.explain, "Number of channels were exceeded.");
    assert.equal(refused, refusals.tooManyChannels);
    assert.equal(store.find("c"), undefined);
    assert.equal(store.channelCount, 2);
  });

  test("existing channels are still returned when the cap is reached", () => {
    const { store } = makeStore({ maxNumberOfChannels: 1 });
    const a = channel(store, "a");
    assert.equal(store.obtain("a"), a);
  });

  test("maxNumberOfChannels 0 is unlimited", () => {
    const { store } = makeStore({ maxNumberOfChannels: 0 });
    for (let i = 0; i < 500; i++) channel(store, `c${i}`);
    assert.equal(store.channelCount, 500);
  });

  test("ids with the wildcard prefix are wildcard channels, counted apart", () => {
    const { store } = makeStore({ wildcardChannelPrefix: "bcast_" });
    const w = channel(store, "bcast_1");
    const n = channel(store, "normal");
    assert.equal(w.wildcard, true);
    assert.equal(n.wildcard, false);
    assert.equal(store.isWildcard("bcast_x"), true);
    assert.equal(store.isWildcard("bcas"), false);
    assert.equal(store.channelCount, 1);
    assert.equal(store.wildcardChannelCount, 1);
  });

  test("an empty wildcard prefix makes no channel a wildcard", () => {
    const { store } = makeStore({ wildcardChannelPrefix: "" });
    assert.equal(store.isWildcard("anything"), false);
    assert.equal(channel(store, "anything").wildcard, false);
  });

  test("wildcard channels have their own cap and do not use up the normal one", () => {
    const { store } = makeStore({ wildcardChannelPrefix: "w_", maxNumberOfChannels: 1, maxNumberOfWildcardChannels: 2 });
    channel(store, "w_1");
    channel(store, "w_2");
    assert.equal(store.obtain("w_3"), refusals.tooManyChannels);
    channel(store, "normal"); // the normal cap is untouched by wildcards
    assert.equal(store.obtain("normal2"), refusals.tooManyChannels);
    assert.equal(store.channelCount, 1);
    assert.equal(store.wildcardChannelCount, 2);
  });

  test("deleting a wildcard channel frees a place under its cap", () => {
    const { store, broker } = makeStore({ wildcardChannelPrefix: "w_", maxNumberOfWildcardChannels: 1 });
    const w = channel(store, "w_1");
    assert.equal(store.obtain("w_2"), refusals.tooManyChannels);
    broker.delete(w);
    assert.equal(store.wildcardChannelCount, 0);
    assert.equal(channel(store, "w_2").id, "w_2");
  });
});

describe("ChannelStore.checkId", () => {
  test("ALL and ids containing * are not authorized (403)", () => {
    const { store } = makeStore();
    for (const id of ["ALL", "*", "a*", "*b", "x*y"]) {
      const r = store.checkId(id);
      assert.equal(r, refusals.channelIdNotAuthorized, id);
      assert.equal(r?.status, 403);
      assert.equal(r?.explain, "Channel id not authorized for this method.");
    }
  });

  test("all, All and ALLx are ordinary ids", () => {
    const { store } = makeStore();
    for (const id of ["all", "All", "ALLx", "xALL"]) assert.equal(store.checkId(id), undefined, id);
  });

  test("an id longer than maxChannelIdLength bytes is too large (400)", () => {
    const { store } = makeStore({ maxChannelIdLength: 4 });
    assert.equal(store.checkId("abcd"), undefined);
    const r = store.checkId("abcde");
    assert.equal(r, refusals.channelIdTooLarge);
    assert.equal(r?.status, 400);
    assert.equal(r?.explain, "Channel id is too large.");
  });

  test("the id length is counted in UTF-8 bytes, not characters", () => {
    const { store } = makeStore({ maxChannelIdLength: 4 });
    assert.equal(store.checkId("éé"), undefined); // 4 bytes
    assert.equal(store.checkId("ééa"), refusals.channelIdTooLarge); // 3 characters, 5 bytes
    assert.equal(store.checkId("€a"), undefined); // 2 characters, 4 bytes
    assert.equal(store.checkId("€ab"), refusals.channelIdTooLarge); // 3 characters, 5 bytes
  });

  test("maxChannelIdLength 0 is unlimited", () => {
    const { store } = makeStore({ maxChannelIdLength: 0 });
    assert.equal(store.checkId("x".repeat(10_000)), undefined);
  });
});

describe("Broker.publish", () => {
  test("ids are 1, 2, 3 per channel, independently for each channel", () => {
    const { store, broker } = makeStore();
    const a = channel(store, "a");
    const b = channel(store, "b");
    assert.equal(pub(broker, a, "1").id, 1);
    assert.equal(pub(broker, a, "2").id, 2);
    assert.equal(pub(broker, b, "1").id, 1);
    assert.equal(pub(broker, a, "3").id, 3);
    assert.equal(a.lastMessageId, 3);
    assert.equal(b.lastMessageId, 1);
    assert.equal(broker.publishedMessages, 4);
  });

  test("a message carries channel, body, event id and type, time in seconds and the tag", () => {
    const { store, broker, clock } = makeStore();
    clock.advance(250);
    const m = pub(broker, channel(store, "room"), "hi", { eventId: "e1", eventType: "t1", store: true });
    assert.equal(m.channel, "room");
    assert.deepEqual(m.text, Buffer.from("hi"));
    assert.equal(m.eventId, "e1");
    assert.equal(m.eventType, "t1");
    assert.equal(m.time, T0 / 1000);
    assert.equal(m.tag, 1);
    assert.equal(m.seq, 1);
  });

  test("with store on the message is kept; with store off it is not, but the id still advances", () => {
    const { store, history, broker } = makeStore();
    const a = channel(store, "a");
    pub(broker, a, "kept", STORE);
    const m = pub(broker, a, "not kept", NO_STORE);
    assert.equal(m.id, 2);
    assert.deepEqual(storedTexts(a), ["kept"]);
    assert.equal(a.storedMessages, 1);
    assert.equal(history.storedMessages, 1);
    assert.equal(broker.publishedMessages, 2);
    assert.equal(pub(broker, a, "third", STORE).id, 3);
    assert.deepEqual(storedTexts(a), ["kept", "third"]);
  });

  test("a stored body sliced from a larger buffer is copied once into its own allocation, shared by all its channels", () => {
    const { store, broker } = makeStore();
    const read = Buffer.alloc(65536, "r"); // a socket read holding many pipelined requests
    read.write("body", 1000);
    const [a, b] = broker.publish([channel(store, "a"), channel(store, "b")], read.subarray(1000, 1004), STORE);
    assert.equal(a!.text.toString(), "body");
    assert.equal(a!.text.buffer.byteLength, 4, "the stored body does not keep the 64 KB read alive");
    assert.equal(b!.text, a!.text, "one copy for both channels");
    const pooled = Buffer.from("small"); // a slice of the shared 8 KB pool
    assert.equal(pub(broker, channel(store, "c"), "").text.buffer.byteLength, 0);
    assert.equal(broker.publish([channel(store, "c")], pooled, STORE)[0]!.text.buffer.byteLength, 5);
  });

  test("a body that owns its allocation is stored as it is; a body that is not stored is not copied", () => {
    const { store, broker } = makeStore();
    const own = Buffer.allocUnsafeSlow(3).fill("o");
    assert.equal(broker.publish([channel(store, "a")], own, STORE)[0]!.text, own);
    const slice = Buffer.alloc(100).subarray(10, 20);
    assert.equal(broker.publish([channel(store, "a")], slice, NO_STORE)[0]!.text, slice);
  });

  test("the ring capacity drops the oldest message and the stored counter stays right", () => {
    const { store, history, broker } = makeStore({ maxMessagesStoredPerChannel: 3 });
    const a = channel(store, "a");
    const b = channel(store, "b");
    for (let i = 1; i <= 5; i++) pub(broker, a, `a${i}`);
    pub(broker, b, "b1");
    assert.deepEqual(storedTexts(a), ["a3", "a4", "a5"]);
    assert.equal(a.storedMessages, 3);
    assert.equal(history.storedMessages, 4);
    assert.equal(a.messages.first()!.id, 3);
  });

  test("every subscriber of the channel receives the message, others do not", () => {
    const { store, hub, broker } = makeStore();
    const a = channel(store, "a");
    const b = channel(store, "b");
    const r1 = new Recorder();
    const r2 = new Recorder();
    const rb = new Recorder();
    hub.subscribe(a, r1);
    hub.subscribe(a, r2);
    hub.subscribe(b, rb);
    pub(broker, a, "hello", NO_STORE);
    assert.deepEqual(r1.messages, [{ channel: "a", id: 1, text: "hello" }]);
    assert.deepEqual(r2.messages, [{ channel: "a", id: 1, text: "hello" }]);
    assert.deepEqual(rb.messages, []);
  });

  test("same-second tags are consecutive across two channels; a new second restarts at 1", () => {
    const { store, broker, clock } = makeStore();
    const a = channel(store, "a");
    const b = channel(store, "b");
    const tags = [pub(broker, a, "1"), pub(broker, b, "1"), pub(broker, a, "2"), pub(broker, b, "2")].map((m) => m.tag);
    assert.deepEqual(tags, [1, 2, 3, 4]);
    clock.advance(1000);
    assert.equal(pub(broker, b, "3").tag, 1);
    assert.equal(pub(broker, a, "3").tag, 2);
  });

  test("seq orders every publish server-wide", () => {
    const { store, broker } = makeStore();
    const a = channel(store, "a");
    const b = channel(store, "b");
    assert.deepEqual([pub(broker, a, "x"), pub(broker, b, "x"), pub(broker, a, "x")].map((m) => m.seq), [1, 2, 3]);
  });
});

describe("History: message TTL", () => {
  test("a stored message expires messageTtl seconds after its publish", () => {
    const { store, broker } = makeStore({ messageTtl: 60 });
    const a = channel(store, "a");
    const m = pub(broker, a, "x");
    assert.equal(m.expiresAt, T0 + 60_000);
  });

  test("sweep drops expired messages and keeps the rest", () => {
    const { store, history, broker, clock } = makeStore({ messageTtl: 10 });
    const a = channel(store, "a");
    pub(broker, a, "old");
    clock.advance(5_000);
    pub(broker, a, "new");
    clock.advance(5_000); // "old" is now exactly 10 s old
    broker.sweep();
    assert.deepEqual(storedTexts(a), ["new"]);
    assert.equal(history.storedMessages, 1);
    clock.advance(5_000);
    broker.sweep();
    assert.deepEqual(storedTexts(a), []);
    assert.equal(history.storedMessages, 0);
  });

  test("sweep does not drop a message before its time", () => {
    const { store, broker, clock } = makeStore({ messageTtl: 10 });
    const a = channel(store, "a");
    pub(broker, a, "x");
    clock.advance(9_999);
    broker.sweep();
    assert.deepEqual(storedTexts(a), ["x"]);
  });

  test("hasStoredMessages is true while a message lives and false once it has expired", () => {
    const { store, history, broker, clock } = makeStore({ messageTtl: 30 });
    const a = channel(store, "a");
    assert.equal(hasStored(history, a), false);
    pub(broker, a, "x");
    assert.equal(hasStored(history, a), true);
    clock.advance(29_999);
    assert.equal(hasStored(history, a), true);
    clock.advance(1);
    assert.equal(hasStored(history, a), false);
    assert.equal(a.storedMessages, 0);
    assert.equal(history.storedMessages, 0);
  });

  test("hasStoredMessages is false for a channel only ever published to without store", () => {
    const { store, history, broker } = makeStore();
    const a = channel(store, "a");
    pub(broker, a, "x", NO_STORE);
    assert.equal(hasStored(history, a), false);
  });

  test("a Message-Expiry ttl shorter than messageTtl is used", () => {
    const { store, broker } = makeStore({ messageTtl: 86_400 });
    const m = pub(broker, channel(store, "a"), "x", { ...STORE, ttl: 240 });
    assert.equal(m.expiresAt, T0 + 240_000);
  });

  test("a Message-Expiry ttl longer than messageTtl is capped by messageTtl", () => {
    const { store, broker } = makeStore({ messageTtl: 60 });
    const m = pub(broker, channel(store, "a"), "x", { ...STORE, ttl: 3600 });
    assert.equal(m.expiresAt, T0 + 60_000);
  });

  test("a zero, negative or absent Message-Expiry ttl means messageTtl", () => {
    const { store, broker } = makeStore({ messageTtl: 60 });
    const a = channel(store, "a");
    assert.equal(pub(broker, a, "x", { ...STORE, ttl: 0 }).expiresAt, T0 + 60_000);
    assert.equal(pub(broker, a, "x", { ...STORE, ttl: -5 }).expiresAt, T0 + 60_000);
    assert.equal(pub(broker, a, "x", { ...STORE, ttl: undefined }).expiresAt, T0 + 60_000);
  });

  test("a short-lived message at the head expires by sweep while a longer-lived one after it stays", () => {
    const { store, history, broker, clock } = makeStore({ messageTtl: 100 });
    const a = channel(store, "a");
    pub(broker, a, "short", { ...STORE, ttl: 1 });
    pub(broker, a, "long");
    clock.advance(1_000);
    broker.sweep();
    assert.deepEqual(storedTexts(a), ["long"]);
    assert.equal(history.storedMessages, 1);
  });
  test("sweep drops an expired short-lived message even when an older message outlives it", () => {
    // Bitrix mixes Message-Expiry 240 (online list) with 86400 on the same shared channel.
    const { store, history, broker, clock } = makeStore({ messageTtl: 86_400 });
    const a = channel(store, "a");
    pub(broker, a, "long");
    pub(broker, a, "short", { ...STORE, ttl: 240 });
    pub(broker, a, "long too");
    clock.advance(240_000);
    broker.sweep();
    assert.deepEqual(storedTexts(a), ["long", "long too"]);
    assert.equal(a.storedMessages, 2);
    assert.equal(history.storedMessages, 2);
  });
});

describe("Broker.sweep: channel inactivity", () => {
  test("an empty channel without subscribers is removed channelInactivityTime after its last activity", () => {
    const { store, broker, clock } = makeStore({ channelInactivityTime: 30 });
    channel(store, "a");
    clock.advance(29_999);
    broker.sweep();
    assert.notEqual(store.find("a"), undefined);
    clock.advance(1);
    broker.sweep();
    assert.equal(store.find("a"), undefined);
    assert.equal(store.channelCount, 0);
  });

  test("a channel with a stored message is not removed while the message lives", () => {
    const { store, history, broker, clock } = makeStore({ channelInactivityTime: 30, messageTtl: 100 });
    pub(broker, channel(store, "a"), "x");
    clock.advance(60_000);
    broker.sweep();
    assert.notEqual(store.find("a"), undefined);
    clock.advance(40_000); // message expired at 100 s, and the last activity was 100 s ago
    broker.sweep();
    assert.equal(store.find("a"), undefined);
    assert.equal(history.storedMessages, 0);
  });

  test("a channel with a subscriber is not removed; after unsubscribing it is", () => {
    const { store, hub, broker, clock } = makeStore({ channelInactivityTime: 30 });
    const a = channel(store, "a");
    const r = new Recorder();
    hub.subscribe(a, r);
    clock.advance(120_000);
    broker.sweep();
    assert.equal(store.find("a"), a);
    hub.unsubscribe(a, r);
    broker.sweep(); // last activity (the subscribe) was 120 s ago
    assert.equal(store.find("a"), undefined);
  });

  test("a publish without store counts as activity", () => {
    const { store, broker, clock } = makeStore({ channelInactivityTime: 30 });
    const a = channel(store, "a");
    clock.advance(20_000);
    pub(broker, a, "x", NO_STORE);
    clock.advance(20_000);
    broker.sweep();
    assert.equal(store.find("a"), a);
    clock.advance(10_000);
    broker.sweep();
    assert.equal(store.find("a"), undefined);
  });

  test("a channel removed by inactivity is re-created with ids starting at 1", () => {
    const { store, broker, clock } = makeStore({ channelInactivityTime: 30 });
    const a = channel(store, "a");
    pub(broker, a, "x", NO_STORE);
    clock.advance(30_000);
    broker.sweep();
    const again = channel(store, "a");
    assert.notEqual(again, a);
    assert.equal(pub(broker, again, "y").id, 1);
  });

  test("removal frees a place under maxNumberOfChannels", () => {
    const { store, broker, clock } = makeStore({ channelInactivityTime: 30, maxNumberOfChannels: 1 });
    channel(store, "a");
    assert.equal(store.obtain("b"), refusals.tooManyChannels);
    clock.advance(30_000);
    broker.sweep();
    assert.equal(channel(store, "b").id, "b");
  });
});

describe("Broker.delete", () => {
  test("the channel leaves the index and each subscriber gets the id -2 message", () => {
    const { store, hub, broker } = makeStore();
    const a = channel(store, "a");
    const r1 = new Recorder();
    const r2 = new Recorder();
    hub.subscribe(a, r1);
    hub.subscribe(a, r2);
    broker.delete(a);
    assert.equal(store.find("a"), undefined);
    assert.equal(a.deleted, true);
    const expected = [{ channel: "a", id: -2, text: "Channel deleted", tag: 0, time: 0 }];
    assert.deepEqual(r1.deleted, expected);
    assert.deepEqual(r2.deleted, expected);
    assert.deepEqual(r1.messages, []);
  });

  test("the configured channelDeletedMessageText is used", () => {
    const { store, hub, broker } = makeStore({ channelDeletedMessageText: "gone" });
    const a = channel(store, "a");
    const r = new Recorder();
    hub.subscribe(a, r);
    broker.delete(a);
    assert.equal(r.deleted[0]!.text, "gone");
  });

  test("a text given to delete overrides the configured one; an empty text does not", () => {
    const { store, hub, broker } = makeStore();
    const a = channel(store, "a");
    const b = channel(store, "b");
    const ra = new Recorder();
    const rb = new Recorder();
    hub.subscribe(a, ra);
    hub.subscribe(b, rb);
    broker.delete(a, "custom bye");
    broker.delete(b, "");
    assert.equal(ra.deleted[0]!.text, "custom bye");
    assert.equal(rb.deleted[0]!.text, "Channel deleted");
  });

  test("subscribers may unsubscribe from inside the notification", () => {
    const { store, hub, broker } = makeStore();
    const a = channel(store, "a");
    const seen: number[] = [];
    const make = (n: number): ChannelSubscriber => {
      const s: ChannelSubscriber = {
        onMessage: () => {},
        onChannelDeleted: (ch) => {
          seen.push(n);
          hub.unsubscribe(ch, s);
        },
      };
      return s;
    };
    for (let i = 0; i < 3; i++) hub.subscribe(a, make(i));
    assert.equal(hub.subscriptions, 3);
    broker.delete(a);
    assert.deepEqual(seen, [0, 1, 2]);
    assert.equal(hub.subscriptions, 0);
    assert.equal(a.subscribers.size, 0);
  });

  test("deleting twice notifies once", () => {
    const { store, hub, broker } = makeStore();
    const a = channel(store, "a");
    const r = new Recorder();
    hub.subscribe(a, r);
    broker.delete(a);
    broker.delete(a);
    assert.equal(r.deleted.length, 1);
  });

  test("stored messages of a deleted channel leave the stored counter", () => {
    const { store, history, broker } = makeStore();
    const a = channel(store, "a");
    const b = channel(store, "b");
    pub(broker, a, "1");
    pub(broker, a, "2");
    pub(broker, b, "1");
    broker.delete(a);
    assert.equal(history.storedMessages, 1);
    assert.equal(store.channelCount, 1);
  });

  test("a deleted channel re-created restarts ids at 1 and has no old messages", () => {
    const { store, broker } = makeStore();
    const a = channel(store, "a");
    pub(broker, a, "1");
    pub(broker, a, "2");
    broker.delete(a);
    const again = channel(store, "a");
    assert.notEqual(again, a);
    assert.equal(again.storedMessages, 0);
    assert.equal(pub(broker, again, "new").id, 1);
  });

  test("deleting the old instance after re-creation does not remove the new one", () => {
    const { store, broker } = makeStore();
    const a = channel(store, "a");
    broker.delete(a);
    const again = channel(store, "a");
    broker.delete(a); // already deleted: no-op
    assert.equal(store.find("a"), again);
  });
});

describe("Hub subscriptions", () => {
  test("subscribe and unsubscribe keep the counts right", () => {
    const { store, hub } = makeStore();
    const a = channel(store, "a");
    const b = channel(store, "b");
    const r1 = new Recorder();
    const r2 = new Recorder();
    hub.subscribe(a, r1);
    hub.subscribe(b, r1);
    hub.subscribe(a, r2);
    assert.equal(hub.subscriptions, 3);
    assert.equal(a.subscribers.size, 2);
    assert.equal(b.subscribers.size, 1);
    hub.unsubscribe(a, r1);
    assert.equal(hub.subscriptions, 2);
    assert.equal(a.subscribers.size, 1);
  });

  test("unsubscribing something not subscribed changes nothing", () => {
    const { store, hub } = makeStore();
    const a = channel(store, "a");
    const r = new Recorder();
    hub.subscribe(a, r);
    hub.unsubscribe(a, new Recorder());
    hub.unsubscribe(a, r);
    hub.unsubscribe(a, r);
    assert.equal(hub.subscriptions, 0);
    assert.equal(a.subscribers.size, 0);
  });

  test("an unsubscribed subscriber receives no further messages", () => {
    const { store, hub, broker } = makeStore();
    const a = channel(store, "a");
    const r = new Recorder();
    hub.subscribe(a, r);
    pub(broker, a, "1");
    hub.unsubscribe(a, r);
    pub(broker, a, "2");
    assert.deepEqual(r.messages.map((m) => m.text), ["1"]);
  });

  test("isFull once the channel has maxSubscribersPerChannel subscribers", () => {
    const { store, hub } = makeStore({ maxSubscribersPerChannel: 2 });
    const a = channel(store, "a");
    assert.equal(hub.isFull(a), false);
    hub.subscribe(a, new Recorder());
    assert.equal(hub.isFull(a), false);
    const second = new Recorder();
    hub.subscribe(a, second);
    assert.equal(hub.isFull(a), true);
    hub.unsubscribe(a, second);
    assert.equal(hub.isFull(a), false);
  });

  test("maxSubscribersPerChannel 0 never fills", () => {
    const { store, hub } = makeStore({ maxSubscribersPerChannel: 0 });
    const a = channel(store, "a");
    for (let i = 0; i < 100; i++) hub.subscribe(a, new Recorder());
    assert.equal(hub.isFull(a), false);
  });
});

describe("ChannelStore uptime", () => {
  test("counts whole seconds since the store started", () => {
    const { store, clock } = makeStore();
    assert.equal(store.uptime, 0);
    clock.advance(1_999);
    assert.equal(store.uptime, 1);
    clock.advance(60_001);
    assert.equal(store.uptime, 62);
  });
});

describe("Hub delivery isolation", () => {
  test("a subscriber that throws does not cost the others their message; the error surfaces after", () => {
    const { store, hub, broker } = makeStore();
    const ch = channel(store, "a");
    const before = new Recorder();
    const broken: ChannelSubscriber = {
      onMessage: () => {
        throw new Error("broken subscriber");
      },
      onChannelDeleted: () => {
        throw new Error("broken on delete");
      },
    };
    const after = new Recorder();
    hub.subscribe(ch, before);
    hub.subscribe(ch, broken);
    hub.subscribe(ch, after);
    assert.throws(() => pub(broker, ch, "m1"), /broken subscriber/);
    assert.deepEqual(before.messages.map((m) => m.text), ["m1"]);
    assert.deepEqual(after.messages.map((m) => m.text), ["m1"]);
    assert.equal(ch.storedMessages, 1, "the message is stored all the same");
    assert.throws(() => broker.delete(ch), /broken on delete/);
    assert.equal(before.deleted.length, 1);
    assert.equal(after.deleted.length, 1);
  });
});
