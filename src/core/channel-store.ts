import { Channel, type ChannelSubscriber } from "./channel.js";
import type { Clock } from "./clock.js";
import { DELETED_MESSAGE_ID, Message, PublishClock, specialMessage } from "./message.js";
import { RecencyList } from "./recency-list.js";
import { Refusal, refusals } from "./refusal.js";

/** The http-level limits of push-stream, in the units the store works in. 0 = unlimited. */
export interface StoreLimits {
  maxMessagesStoredPerChannel: number;
  /** Seconds a stored message lives. */
  messageTtl: number;
  maxChannelIdLength: number;
  maxNumberOfChannels: number;
  maxNumberOfWildcardChannels: number;
  wildcardChannelPrefix: string;
  /** Seconds an empty channel (no stored message, no subscriber) lives. */
  channelInactivityTime: number;
  maxSubscribersPerChannel: number;
  channelDeletedMessageText: string;
  /** Estimated bytes of stored messages and channels beyond which old messages are evicted (0 = no cap). */
  sharedMemorySize?: number;
}

/**
 * What the store tells interested parties (the events channel, the log). Every method is optional;
 * they run synchronously inside the store operation that caused them.
 */
export interface StoreObserver {
  channelCreated?(channel: Channel): void;
  /** The channel left the store (deleted once its subscribers were told, or swept). */
  channelDestroyed?(channel: Channel): void;
  clientSubscribed?(channel: Channel): void;
  clientUnsubscribed?(channel: Channel): void;
  /** `count` stored messages were evicted to keep within sharedMemorySize. */
  messagesEvicted?(count: number): void;
}

/**
 * Memory estimate per stored message and per channel, beyond their bytes (message body, channel
 * id): push-stream's own sizing rule (about 200 B per message, 270 B per channel).
 */
export const MESSAGE_OVERHEAD_BYTES = 200;
export const CHANNEL_OVERHEAD_BYTES = 270;

export interface PublishOptions {
  eventId: string;
  eventType: string;
  store: boolean;
  /** Per-message lifetime in seconds (Message-Expiry); capped by messageTtl. */
  ttl?: number | undefined;
}

/**
 * All channels of the server: id → channel, the limits on them, message identity and storage,
 * and delivery to subscribers. Knows nothing of sockets.
 */
export class ChannelStore {
  private readonly channels = new Map<string, Channel>();
  readonly publishClock: PublishClock;
  readonly startedAt: number;
  /** Messages ever published (server-wide). */
  publishedMessages = 0;
  /** Messages stored right now. */
  storedMessages = 0;
  /** Subscriptions right now (a connection on three channels counts three times). */
  subscriptions = 0;
  /** Body bytes of every stored message right now (the events channel included). */
  storedBytes = 0;
  /** Estimated memory held by stored messages and channels; what sharedMemorySize caps. */
  memoryUsed = 0;
  /** Stored messages dropped because their channel's ring was full (maxMessagesStoredPerChannel). */
  droppedByRing = 0;
  /** Stored messages dropped because they expired (messageTtl, Message-Expiry). */
  droppedByTtl = 0;
  /** Stored messages evicted to keep memoryUsed within sharedMemorySize. */
  evictedMessages = 0;
  readonly observers: StoreObserver[] = [];
  private wildcardChannels = 0;
  /** Channels holding stored messages, least recently used first: the eviction order. */
  private readonly recency = new RecencyList<Channel>();

  constructor(
    readonly limits: StoreLimits,
    readonly clock: Clock,
  ) {
    this.publishClock = new PublishClock(clock);
    this.startedAt = clock.now();
  }

  get channelCount(): number {
    return this.channels.size - this.wildcardChannels;
  }

  get wildcardChannelCount(): number {
    return this.wildcardChannels;
  }

  /** Seconds since the store started. */
  get uptime(): number {
    return Math.floor((this.clock.now() - this.startedAt) / 1000);
  }

  isWildcard(id: string): boolean {
    const prefix = this.limits.wildcardChannelPrefix;
    return prefix.length > 0 && id.startsWith(prefix);
  }

  /** Checks an id any role may name: not `ALL`, no `*`, not too long. */
  checkId(id: string): Refusal | undefined {
    if (id === "ALL" || id.includes("*")) return refusals.channelIdNotAuthorized;
    const max = this.limits.maxChannelIdLength;
    if (max > 0 && Buffer.byteLength(id) > max) return refusals.channelIdTooLarge;
    return undefined;
  }

  find(id: string): Channel | undefined {
    return this.channels.get(id);
  }

  /** All channels, in creation order. */
  all(): IterableIterator<Channel> {
    return this.channels.values();
  }

  /** The channel with this id, created if missing and the caps allow it. */
  obtain(id: string): Channel | Refusal {
    const existing = this.channels.get(id);
    if (existing) return existing;
    const wildcard = this.isWildcard(id);
    const { maxNumberOfChannels, maxNumberOfWildcardChannels } = this.limits;
    if (wildcard ? maxNumberOfWildcardChannels > 0 && this.wildcardChannels >= maxNumberOfWildcardChannels
        : maxNumberOfChannels > 0 && this.channelCount >= maxNumberOfChannels) {
      return refusals.tooManyChannels;
    }
    const channel = new Channel(id, wildcard, this.limits.maxMessagesStoredPerChannel, this.clock.now());
    this.channels.set(id, channel);
    if (wildcard) this.wildcardChannels++;
    this.memoryUsed += CHANNEL_OVERHEAD_BYTES + Buffer.byteLength(id);
    for (const observer of this.observers) observer.channelCreated?.(channel);
    return channel;
  }

  /** True when the channel holds at least one unexpired message (authorized_channels_only). */
  hasStoredMessages(channel: Channel): boolean {
    this.dropExpired(channel, this.clock.now());
    return channel.messages.length > 0;
  }

  /** Publishes `text` on the channel: stamps it, stores it if asked, hands it to every subscriber. */
  publish(channel: Channel, text: Buffer, options: PublishOptions): Message {
    const now = this.clock.now();
    const clock = this.publishClock;
    clock.stamp();
    const ttl = options.ttl !== undefined && options.ttl > 0 ? Math.min(options.ttl, this.limits.messageTtl) : this.limits.messageTtl;
    const message = new Message(
      ++channel.lastMessageId, channel.id, clock.time, clock.tag, clock.seq,
      text, options.eventId, options.eventType, now + ttl * 1000,
    );
    channel.lastActivity = now;
    if (!channel.forEvents) this.publishedMessages++;
    if (options.store) {
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
    deliverAll(channel.subscribers, (subscriber) => subscriber.onMessage(channel, message));
    return message;
  }

  /** Adds a subscriber; check `isFull` first. */
  subscribe(channel: Channel, subscriber: ChannelSubscriber): void {
    channel.subscribers.add(subscriber);
    channel.lastActivity = this.clock.now();
    this.subscriptions++;
    this.recency.refresh(channel);
    for (const observer of this.observers) observer.clientSubscribed?.(channel);
  }

  unsubscribe(channel: Channel, subscriber: ChannelSubscriber): void {
    if (!channel.subscribers.delete(subscriber)) return;
    this.subscriptions--;
    for (const observer of this.observers) observer.clientUnsubscribed?.(channel);
  }

  /** Subscriber cap of one channel (max_subscribers_per_channel). */
  isFull(channel: Channel): boolean {
    const max = this.limits.maxSubscribersPerChannel;
    return max > 0 && channel.subscribers.size >= max;
  }

  /**
   * Deletes a channel: it leaves the index at once (a later publish creates a new channel whose
   * ids restart at 1), and each subscriber receives the id -2 message.
   */
  delete(channel: Channel, text?: string): void {
    if (channel.deleted) return;
    channel.deleted = true;
    this.forget(channel);
    const message = specialMessage(DELETED_MESSAGE_ID, channel.id, text || this.limits.channelDeletedMessageText);
    try {
      deliverAll([...channel.subscribers], (subscriber) => subscriber.onChannelDeleted(channel, message));
    } finally {
      this.destroyed(channel);
    }
  }

  /** Drops expired messages and removes inactive empty channels. Call every few seconds. */
  sweep(): void {
    const now = this.clock.now();
    const inactivity = this.limits.channelInactivityTime * 1000;
    for (const channel of this.channels.values()) {
      this.dropExpired(channel, now);
      if (channel.messages.length === 0 && channel.subscribers.size === 0 && now >= channel.lastActivity + inactivity && !channel.forEvents) {
        this.forget(channel);
        this.destroyed(channel);
      }
    }
  }

  /**
   * Drops expired messages. Usually they sit at the head (every message lives messageTtl); a
   * message with a shorter Message-Expiry behind a longer one is found through
   * earliestOutOfOrderExpiry, so only such channels pay for a full pass.
   */
  private dropExpired(channel: Channel, now: number): void {
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

  private forget(channel: Channel): void {
    if (this.channels.get(channel.id) !== channel) return;
    this.channels.delete(channel.id);
    if (channel.wildcard) this.wildcardChannels--;
    const ring = channel.messages;
    for (let i = 0; i < ring.length; i++) this.released(channel, ring.at(i)!);
    ring.clear();
    this.recency.remove(channel);
    this.memoryUsed -= CHANNEL_OVERHEAD_BYTES + Buffer.byteLength(channel.id);
  }

  private destroyed(channel: Channel): void {
    for (const observer of this.observers) observer.channelDestroyed?.(channel);
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
   * within the budget. Publishes and subscriptions are never refused for memory; channels (and
   * their subscribers) stay, only old messages go.
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

/**
 * Calls `deliver` for every subscriber even if one of them throws: one broken subscriber must not
 * cost the others their message. The first error is rethrown afterwards for the caller to log.
 */
function deliverAll(subscribers: Iterable<ChannelSubscriber>, deliver: (subscriber: ChannelSubscriber) => void): void {
  let failure: unknown;
  for (const subscriber of subscribers) {
    try {
      deliver(subscriber);
    } catch (error) {
      failure ??= error;
    }
  }
  if (failure !== undefined) throw failure;
}
