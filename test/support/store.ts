import { ManualClock } from "../../src/core/clock.js";
import { Refusal } from "../../src/core/refusal.js";
import type { Channel } from "../../src/store/channel.js";
import type { StoreLimits } from "../../src/store/channel-store.js";
import { memoryChannels } from "../../src/store/channels.js";

/** A whole second, so stamps and expiries are easy to read. */
export const T0 = 1_700_000_000_000;

/** push-stream's defaults with nothing capped, changed by `overrides`. */
export function testLimits(overrides: Partial<StoreLimits> = {}): StoreLimits {
  return {
    maxMessagesStoredPerChannel: 0,
    messageTtl: 1800,
    maxChannelIdLength: 0,
    maxNumberOfChannels: 0,
    maxNumberOfWildcardChannels: 0,
    wildcardChannelPrefix: "",
    channelInactivityTime: 30,
    maxSubscribersPerChannel: 0,
    channelDeletedMessageText: "Channel deleted",
    ...overrides,
  };
}

/** The in-memory store (index, History, Hub, Broker) on a clock the test drives; no sockets. */
export function testStore(overrides: Partial<StoreLimits> = {}, clock = new ManualClock(T0), eventsChannelId = "") {
  return { ...memoryChannels(testLimits(overrides), clock, eventsChannelId), clock };
}

/** obtain() that must succeed. */
export function channelOf(store: { obtain(id: string): Channel | Refusal }, id: string): Channel {
  const channel = store.obtain(id);
  if (channel instanceof Refusal) throw new Error(`obtain(${id}) refused: ${channel.explain}`);
  return channel;
}
