import type { Clock } from "../core/clock.js";
import type { Message } from "../core/message.js";
import type { Channel, ChannelSubscriber } from "./channel.js";
import type { StoreObserver } from "./observer.js";

/**
 * This process's held connections by channel (modelled on centrifuge's hub): who listens, and
 * handing each of them a message. Knows nothing of how messages are stored or sequenced.
 */
export class Hub {
  /** Subscriptions right now (a connection on three channels counts three times). */
  subscriptions = 0;
  /** Told of every subscription and unsubscription. */
  readonly observers: StoreObserver[] = [];

  constructor(
    private readonly limits: { readonly maxSubscribersPerChannel: number },
    private readonly clock: Clock,
  ) {}

  /** Adds a subscriber; check `isFull` first. */
  subscribe(channel: Channel, subscriber: ChannelSubscriber): void {
    channel.subscribers.add(subscriber);
    channel.lastActivity = this.clock.now();
    this.subscriptions++;
    for (const observer of this.observers) observer.clientSubscribed?.(channel);
  }

  unsubscribe(channel: Channel, subscriber: ChannelSubscriber): void {
    if (!channel.subscribers.delete(subscriber)) return;
    this.subscriptions--;
    for (const observer of this.observers) observer.clientUnsubscribed?.(channel);
  }

  /** Subscriber cap of one channel (max_subscribers_per_channel), machine-wide with workers. */
  isFull(channel: Channel): boolean {
    const max = this.limits.maxSubscribersPerChannel;
    return max > 0 && channel.subscriberCount >= max;
  }

  /**
   * Hands a message to every subscriber of the channel, even if one of them throws: one broken
   * subscriber must not cost the others their message. The first error is rethrown afterwards.
   */
  deliver(channel: Channel, message: Message): void {
    let failure: unknown;
    for (const subscriber of channel.subscribers) {
      try {
        subscriber.onMessage(channel, message);
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== undefined) throw failure;
  }

  /** Tells every subscriber that the channel was deleted (they leave it as they hear it). */
  channelDeleted(channel: Channel, message: Message): void {
    let failure: unknown;
    for (const subscriber of [...channel.subscribers]) {
      try {
        subscriber.onChannelDeleted(channel, message);
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== undefined) throw failure;
  }
}
