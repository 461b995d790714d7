import type { Channel } from "./channel.js";

/**
 * What the store tells interested parties (the events channel, the memory history, the log).
 * Every method is optional; they run synchronously inside the operation that caused them: the
 * channel index reports creation and destruction, the hub subscriptions, the history evictions.
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
