import type { Channel, ChannelSubscriber } from "../store/channel.js";

/** A push2 connection (long-poll or WebSocket) that can be pushed out of a full channel. */
export interface EvictableConnection extends ChannelSubscriber {
  /** Leaves its channels and closes with 4029 "Too many connections" (a long-poll: HTTP 429). */
  evict(): void;
}

function isEvictable(subscriber: ChannelSubscriber): subscriber is EvictableConnection {
  return typeof (subscriber as Partial<EvictableConnection>).evict === "function";
}

/**
 * Push server 2.0's connections-per-channel limit (`limits.maxConnPerChannel`): before one more
 * connection joins a user's private channel (named with its public pair) that already holds `max`,
 * the oldest are closed until there is room. The shared channel is not limited. 0 = no limit.
 */
export function makeRoom(limited: readonly Channel[], max: number): void {
  if (max <= 0) return;
  for (const channel of limited) {
    const subscribers = channel.subscribers;
    if (subscribers.size < max) continue;
    // A Set keeps insertion order: the first subscribers are the oldest. Each evict() removes itself.
    for (const subscriber of subscribers) {
      if (subscribers.size < max) break;
      if (isEvictable(subscriber)) subscriber.evict();
    }
  }
}
