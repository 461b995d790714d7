import { Channel, type ChannelSubscriber } from "./channel.js";
import type { Clock } from "./clock.js";
import { DELETED_MESSAGE_ID, Message, PublishClock, specialMessage } from "./message.js";
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
}

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
  private wildcardChannels = 0;

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
    this.publishedMessages++;
    if (options.store) {
      const newest = channel.messages.last();
      if (newest && message.expiresAt < newest.expiresAt) {
        channel.earliestOutOfOrderExpiry = Math.min(channel.earliestOutOfOrderExpiry, message.expiresAt);
      }
      const dropped = channel.messages.push(message);
      if (dropped === undefined) this.storedMessages++;
    }
    deliverAll(channel.subscribers, (subscriber) => subscriber.onMessage(channel, message));
    return message;
  }

  /** Adds a subscriber; check `isFull` first. */
  subscribe(channel: Channel, subscriber: ChannelSubscriber): void {
    channel.subscribers.add(subscriber);
    channel.lastActivity = this.clock.now();
    this.subscriptions++;
  }

  unsubscribe(channel: Channel, subscriber: ChannelSubscriber): void {
    if (channel.subscribers.delete(subscriber)) this.subscriptions--;
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
    deliverAll([...channel.subscribers], (subscriber) => subscriber.onChannelDeleted(channel, message));
  }

  /** Drops expired messages and removes inactive empty channels. Call every few seconds. */
  sweep(): void {
    const now = this.clock.now();
    const inactivity = this.limits.channelInactivityTime * 1000;
    for (const channel of this.channels.values()) {
      this.dropExpired(channel, now);
      if (channel.messages.length === 0 && channel.subscribers.size === 0 && now >= channel.lastActivity + inactivity) {
        this.forget(channel);
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
      ring.shift();
      this.storedMessages--;
    }
    if (channel.earliestOutOfOrderExpiry > now) return;
    this.storedMessages -= ring.removeWhere((message) => message.expiresAt <= now);
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
    this.storedMessages -= channel.messages.length;
    channel.messages.clear();
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
