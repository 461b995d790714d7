import type { Message } from "./message.js";
import type { RecencyLinks } from "./recency-list.js";
import { Ring } from "./ring.js";

/** Anything that receives a channel's messages: a held long-poll, a stream, a WebSocket… */
export interface ChannelSubscriber {
  onMessage(channel: Channel, message: Message): void;
  /** The channel was deleted; `message` is the id -2 pseudo-message for it. */
  onChannelDeleted(channel: Channel, message: Message): void;
}

/** One channel: its stored messages, its current subscribers and its counters. */
export class Channel implements RecencyLinks<Channel> {
  readonly messages: Ring<Message>;
  /** Id of the last message published here (= messages ever published to this channel). */
  lastMessageId = 0;
  readonly subscribers = new Set<ChannelSubscriber>();
  /** When the channel was last published to or subscribed to (ms); drives inactivity expiry. */
  lastActivity: number;
  deleted = false;
  /** The events channel (§12): never swept, not counted in the server-wide message counters. */
  forEvents = false;
  /** Links of the store's eviction order (channels holding stored messages, least recently used first). */
  olderLink: Channel | null = null;
  newerLink: Channel | null = null;
  linked = false;
  /**
   * Earliest expiry among stored messages that expire before a message stored ahead of them
   * (a short Message-Expiry behind a long one); Infinity when expiry follows ring order.
   */
  earliestOutOfOrderExpiry = Infinity;

  constructor(
    readonly id: string,
    readonly wildcard: boolean,
    maxStored: number,
    now: number,
  ) {
    this.messages = new Ring<Message>(maxStored, 1);
    this.lastActivity = now;
  }

  get storedMessages(): number {
    return this.messages.length;
  }
}
