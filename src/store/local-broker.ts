import type { Clock } from "../core/clock.js";
import { DELETED_MESSAGE_ID, type Message, ownBytes, specialMessage } from "../core/message.js";
import { Refusal } from "../core/refusal.js";
import type { Broker, PublishOptions } from "./broker.js";
import type { Channel } from "./channel.js";
import type { ChannelStore, StoreLimits } from "./channel-store.js";
import type { History } from "./history.js";
import type { Hub } from "./hub.js";
import { Sequencer } from "./sequencer.js";

/** The broker of one process: sequence, History, this process's Hub, all synchronous. */
export class LocalBroker implements Broker {
  publishedMessages = 0;
  /** Channels a message sequenced elsewhere (the workers' primary, Redis) named that this store refused (its caps). */
  refusedChannels = 0;
  readonly sequencer: Sequencer;

  constructor(
    protected readonly store: ChannelStore,
    protected readonly history: History,
    protected readonly hub: Hub,
    protected readonly limits: StoreLimits,
    protected readonly clock: Clock,
  ) {
    this.sequencer = new Sequencer(clock, () => limits.messageTtl);
  }

  publish(channels: readonly Channel[], body: Buffer, options: PublishOptions): Message[] {
    const now = this.clock.now();
    // A stored body gets its own allocation, once for all its channels, so the budget bounds real memory.
    const text = options.store ? ownBytes(body) : body;
    const push2 = this.sequencer.push2Fields(options, now);
    const messages: Message[] = [];
    let failure: unknown;
    for (const channel of channels) {
      const message = this.sequencer.next(channel, text, options, now, push2);
      messages.push(message);
      failure ??= this.accept(channel, message, options.store, now); // the other channels still get the message
    }
    if (failure !== undefined) throw failure;
    return messages;
  }

  /**
   * Keeps (or only counts) a sequenced message and hands it to this process's subscribers: what
   * follows sequencing here, and what a worker does with a message the primary sequenced.
   * Returns the first error a subscriber threw, after every other got the message.
   */
  protected accept(channel: Channel, message: Message, store: boolean, now: number): unknown {
    channel.lastActivity = now;
    if (!channel.forEvents) this.publishedMessages++;
    if (store) this.history.append(channel, message);
    else this.history.passed?.(channel, message);
    try {
      this.hub.deliver(channel, message);
    } catch (error) {
      return error;
    }
    return undefined;
  }

  /**
   * The channel a message sequenced elsewhere names, created if need be, with that message's id as
   * its last (the sequencer's count is the channel's: one swept there restarts at 1); undefined,
   * counted, when this store refuses it.
   */
  protected channelFor(id: string, lastMessageId: number): Channel | undefined {
    const channel = this.store.obtain(id);
    if (channel instanceof Refusal) {
      this.refusedChannels++;
      return undefined;
    }
    channel.lastMessageId = lastMessageId;
    return channel;
  }

  whenDurable<T>(then: (arg: T, failure: Refusal | undefined) => void, arg: T): void {
    if (this.history.whenDurable) this.history.whenDurable(then, arg);
    else then(arg, undefined);
  }

  get unavailable(): Refusal | undefined {
    return this.history.unavailable;
  }

  delete(channel: Channel, text?: string): void {
    if (channel.deleted) return;
    channel.deleted = true;
    if (this.store.remove(channel)) this.history.remove(channel);
    const message = specialMessage(DELETED_MESSAGE_ID, channel.id, text || this.limits.channelDeletedMessageText);
    try {
      this.hub.channelDeleted(channel, message);
    } finally {
      this.store.destroyed(channel);
    }
  }

  sweep(): void {
    const now = this.clock.now();
    const inactivity = this.limits.channelInactivityTime * 1000;
    const { store, history } = this;
    for (const channel of store.all()) {
      history.trim(channel, now);
      if (history.count(channel) === 0 && channel.subscribers.size === 0 && now >= channel.lastActivity + inactivity && !channel.forEvents) {
        store.remove(channel);
        history.remove(channel);
        store.destroyed(channel);
      }
    }
  }
}
