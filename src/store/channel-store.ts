import type { Clock } from "../core/clock.js";
import { Refusal, refusals } from "../core/refusal.js";
import { Channel } from "./channel.js";
import type { StoreObserver } from "./observer.js";

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
 * The channels this process knows: id → channel record, and the caps on creating them. What a
 * channel holds is the history's, who listens the hub's, how messages enter the broker's; this
 * is the index they share. Knows nothing of sockets.
 */
export class ChannelStore {
  private readonly channels = new Map<string, Channel>();
  readonly startedAt: number;
  /** Told of every channel created and destroyed. */
  readonly observers: StoreObserver[] = [];
  private wildcardChannels = 0;

  constructor(
    readonly limits: StoreLimits,
    readonly clock: Clock,
  ) {
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
    for (const observer of this.observers) observer.channelCreated?.(channel);
    return channel;
  }

  /**
   * Takes a channel out of the index: a later publish to its id creates a new channel whose ids
   * restart at 1. False when this record was no longer indexed.
   */
  remove(channel: Channel): boolean {
    if (this.channels.get(channel.id) !== channel) return false;
    this.channels.delete(channel.id);
    if (channel.wildcard) this.wildcardChannels--;
    return true;
  }

  /** Tells the observers that a removed channel is gone (after its subscribers heard of it). */
  destroyed(channel: Channel): void {
    for (const observer of this.observers) observer.channelDestroyed?.(channel);
  }
}
