import type { Message } from "../core/message.js";
import type { RecencyLinks } from "../core/recency-list.js";
import { Ring } from "../core/ring.js";

/** Anything that receives a channel's messages in this process: a held long-poll, a stream, a WebSocket… */
export interface ChannelSubscriber {
  onMessage(channel: Channel, message: Message): void;
  /** The channel was deleted; `message` is the id -2 pseudo-message for it. */
  onChannelDeleted(channel: Channel, message: Message): void;
}

/**
 * This process's record of one channel. Each part of the store keeps its own fields on it, so a
 * publish touches one object: the sequence (`lastMessageId`, the broker's), the stored messages
 * (`messages` and the eviction links, the memory history's), the subscribers (the hub's).
 */
export class Channel implements RecencyLinks<Channel> {
  readonly messages: Ring<Message>;
  /** Id of the last message published here (= messages ever published to this channel). */
  lastMessageId = 0;
  readonly subscribers = new Set<ChannelSubscriber>();
  /** With workers: subscribers the machine's other workers hold here, as the primary last said (≤ ~0.2 s old). */
  otherSubscribers = 0;
  /** When the channel was last published to or subscribed to (ms); drives inactivity expiry. */
  lastActivity: number;
  deleted = false;
  /** The events channel (§12): never swept, not counted in the server-wide message counters. */
  forEvents = false;
  /** Links of the history's eviction order (channels holding stored messages, least recently used first). */
  olderLink: Channel | null = null;
  newerLink: Channel | null = null;
  linked = false;
  /**
   * Earliest expiry among stored messages that expire before a message stored ahead of them
   * (a short Message-Expiry behind a long one); Infinity when expiry follows ring order.
   */
  earliestOutOfOrderExpiry = Infinity;
  /** The dashboard's: `lastMessageId` at its previous sample, and the messages per second since. */
  sampledMessageId = 0;
  messagesPerSecond = 0;

  constructor(
    readonly id: string,
    readonly wildcard: boolean,
    maxStored: number,
    now: number,
  ) {
    this.messages = new Ring<Message>(maxStored, 1);
    this.lastActivity = now;
  }

  /** Subscribers on the whole machine: this process's and, with workers, the others'. */
  get subscriberCount(): number {
    return this.subscribers.size + this.otherSubscribers;
  }

  get storedMessages(): number {
    return this.messages.length;
  }
}
