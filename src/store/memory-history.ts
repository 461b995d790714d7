import type { Clock } from "../core/clock.js";
import type { MessageList } from "../core/cursor.js";
import type { Message } from "../core/message.js";
import { RecencyList } from "../core/recency-list.js";
import type { Channel } from "./channel.js";
import type { StoreLimits } from "./channel-store.js";
import type { History } from "./history.js";
import type { StoreObserver } from "./observer.js";

/**
 * Memory estimate per stored message and per channel, beyond their bytes (message body, channel
 * id): push-stream's own sizing rule (about 200 B per message, 270 B per channel).
 */
export const MESSAGE_OVERHEAD_BYTES = 200;
export const CHANNEL_OVERHEAD_BYTES = 270;

/**
 * History in this process's memory: a ring per channel (on the channel record), messages that
 * expire (messageTtl, Message-Expiry), and the memory budget (sharedMemorySize): when the
 * estimate passes it, the oldest messages of the least recently used channels are evicted —
 * publishes and subscriptions are never refused for memory.
 *
 * It observes the channel index (a new channel costs memory) and the hub (a subscription makes a
 * channel recently used); it tells its own observers of evictions.
 */
export class MemoryHistory implements History, StoreObserver {
  readonly epoch: string;
  storedMessages = 0;
  storedBytes = 0;
  memoryUsed = 0;
  droppedByRing = 0;
  droppedByTtl = 0;
  evictedMessages = 0;
  /** Told of evictions. */
  readonly observers: StoreObserver[] = [];
  /** Channels holding stored messages, least recently used first: the eviction order. */
  private readonly recency = new RecencyList<Channel>();

  constructor(
    private readonly limits: StoreLimits,
    private readonly clock: Clock,
  ) {
    // Memory is lost with the process: every start is a new epoch.
    this.epoch = clock.now().toString(36);
  }

  append(channel: Channel, message: Message): void {
    const newest = channel.messages.last();
    if (newest && message.expiresAt < newest.expiresAt) {
      channel.earliestOutOfOrderExpiry = Math.min(channel.earliestOutOfOrderExpiry, message.expiresAt);
    }
    const dropped = channel.messages.push(message);
    if (dropped !== undefined) {
      this.released(channel, dropped);
      this.droppedByRing++;
    }
    this.retained(channel, message);
    this.recency.touch(channel);
    const budget = this.limits.sharedMemorySize ?? 0;
    if (budget > 0 && this.memoryUsed > budget) this.evict(budget);
  }

  /** A read is a use: the channel moves away from eviction, as a publish or a subscription moves it. */
  read(channel: Channel): MessageList {
    this.trim(channel, this.clock.now());
    this.recency.refresh(channel);
    return channel.messages;
  }

  count(channel: Channel): number {
    return channel.messages.length;
  }

  /**
   * Drops expired messages. Usually they sit at the head (every message lives messageTtl); a
   * message with a shorter Message-Expiry behind a longer one is found through
   * earliestOutOfOrderExpiry, so only such channels pay for a full pass.
   */
  trim(channel: Channel, now: number): void {
    const ring = channel.messages;
    while (ring.length > 0 && ring.first()!.expiresAt <= now) {
      this.released(channel, ring.shift()!);
      this.droppedByTtl++;
    }
    if (ring.length === 0) this.recency.remove(channel);
    if (channel.earliestOutOfOrderExpiry > now) return;
    this.droppedByTtl += ring.removeWhere((message) => {
      if (message.expiresAt > now) return false;
      this.released(channel, message);
      return true;
    });
    if (ring.length === 0) this.recency.remove(channel);
    let latest = -Infinity;
    let earliest = Infinity;
    for (let i = 0; i < ring.length; i++) {
      const expiresAt = ring.at(i)!.expiresAt;
      if (expiresAt < latest) earliest = Math.min(earliest, expiresAt);
      latest = Math.max(latest, expiresAt);
    }
    channel.earliestOutOfOrderExpiry = earliest;
  }

  remove(channel: Channel): void {
    const ring = channel.messages;
    for (let i = 0; i < ring.length; i++) this.released(channel, ring.at(i)!);
    ring.clear();
    this.recency.remove(channel);
    this.memoryUsed -= channelCost(channel);
  }

  /** A new channel record costs memory too. */
  channelCreated(channel: Channel): void {
    this.memoryUsed += channelCost(channel);
  }

  /** Subscribing uses a channel: it moves away from eviction. */
  clientSubscribed(channel: Channel): void {
    this.recency.refresh(channel);
  }

  /** Accounts for a message entering a channel's ring. */
  private retained(channel: Channel, message: Message): void {
    if (!channel.forEvents) this.storedMessages++;
    this.storedBytes += message.text.length;
    this.memoryUsed += MESSAGE_OVERHEAD_BYTES + message.text.length;
  }

  /** Accounts for a message leaving a channel's ring, for whatever reason. */
  private released(channel: Channel, message: Message): void {
    if (!channel.forEvents) this.storedMessages--;
    this.storedBytes -= message.text.length;
    this.memoryUsed -= MESSAGE_OVERHEAD_BYTES + message.text.length;
  }

  /**
   * Drops the oldest stored messages of the least recently used channels until the estimate is
   * within the budget. Channels (and their subscribers) stay, only old messages go.
   */
  private evict(budget: number): void {
    let evicted = 0;
    for (let channel = this.recency.oldest; channel && this.memoryUsed > budget; channel = this.recency.oldest) {
      const ring = channel.messages;
      while (this.memoryUsed > budget && ring.length > 0) {
        this.released(channel, ring.shift()!);
        evicted++;
      }
      if (ring.length === 0) this.recency.remove(channel);
      else break;
    }
    if (evicted === 0) return;
    this.evictedMessages += evicted;
    for (const observer of this.observers) observer.messagesEvicted?.(evicted);
  }
}

function channelCost(channel: Channel): number {
  return CHANNEL_OVERHEAD_BYTES + Buffer.byteLength(channel.id);
}
