import type { Clock } from "../core/clock.js";
import type { Message } from "../core/message.js";
import { Refusal } from "../core/refusal.js";
import { RecordType } from "../persist/record.js";
import type { PublishOptions } from "../store/broker.js";
import type { Channel } from "../store/channel.js";
import type { ChannelStore, StoreLimits } from "../store/channel-store.js";
import type { History } from "../store/history.js";
import type { Hub } from "../store/hub.js";
import { LocalBroker } from "../store/local-broker.js";
import { FrameType, type FrameReader } from "./frames.js";

/** What a worker's broker needs of its link to the primary. */
export interface PrimaryLink {
  /** Sends a publish; answered by an ack once the primary sequenced it and History keeps it. */
  publish(channels: readonly string[], body: Buffer, options: PublishOptions): void;
  remove(channel: string, text: string | undefined): void;
  /** Calls `then` once every request sent so far is acknowledged (with the last one's refusal, if any). */
  whenAcked<T>(then: (arg: T, failure: Refusal | undefined) => void, arg: T): void;
  /** Why requests cannot be sent now (the primary is gone). */
  readonly unavailable: Refusal | undefined;
}

/**
 * A worker's broker: the primary sequences every publish and deletion (one order and one id,
 * time, tag and mid for the whole machine); this keeps the worker's copy of every channel's
 * History and hands each message to this worker's subscribers, as the primary's stream says.
 * `publish` returns no messages: they come back through the stream, before the acknowledgement
 * that `whenDurable` waits for.
 */
export class ReplicaBroker extends LocalBroker {
  constructor(
    store: ChannelStore,
    history: History,
    hub: Hub,
    limits: StoreLimits,
    clock: Clock,
    private readonly primary: PrimaryLink,
    /** A subscriber threw while a message was handed out. */
    private readonly onFailure: (error: unknown) => void,
  ) {
    super(store, history, hub, limits, clock);
  }

  override publish(channels: readonly Channel[], body: Buffer, options: PublishOptions): Message[] {
    this.primary.publish(channels.map((channel) => channel.id), body, options);
    return [];
  }

  override delete(channel: Channel, text?: string): void {
    if (!channel.deleted) this.primary.remove(channel.id, text);
  }

  override whenDurable<T>(then: (arg: T, failure: Refusal | undefined) => void, arg: T): void {
    this.primary.whenAcked(then, arg);
  }

  override get unavailable(): Refusal | undefined {
    return this.primary.unavailable ?? this.history.unavailable;
  }

  /** Only expiry here: which channels end is the primary's call (it knows every worker's subscribers). */
  override sweep(): void {
    const now = this.clock.now();
    for (const channel of this.store.all()) this.history.trim(channel, now);
  }

  /** Applies one record or frame of the primary's stream. */
  receive(frame: FrameReader): void {
    switch (frame.type) {
      case RecordType.message: {
        const channel = this.channelFor(frame.text, frame.id);
        if (!channel) return;
        const failure = this.accept(channel, frame.message(channel.id), frame.stored, this.clock.now());
        if (failure !== undefined) this.onFailure(failure);
        return;
      }
      case RecordType.channel:
        this.channelFor(frame.text, frame.number);
        return;
      case FrameType.subscribers: {
        // The other workers' subscribers: kept on the channel so statistics and caps see the machine.
        const channel = frame.number > 0 ? this.store.obtain(frame.text) : this.store.find(frame.text);
        if (channel && !(channel instanceof Refusal)) channel.otherSubscribers = frame.number;
        return;
      }
      case FrameType.deleted: {
        const channel = this.store.find(frame.text);
        if (channel) super.delete(channel, frame.deletedText);
        return;
      }
      case RecordType.drop: {
        // Swept by the primary: empty and idle machine-wide. A subscriber that came since keeps it here.
        const channel = this.store.find(frame.text);
        if (!channel || channel.subscribers.size > 0) return;
        this.store.remove(channel);
        this.history.remove(channel);
        this.store.destroyed(channel);
        return;
      }
    }
  }
}
