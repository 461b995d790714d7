import { escapeJsonString } from "../core/escape.js";
import { Refusal } from "../core/refusal.js";
import type { Broker, PublishOptions } from "./broker.js";
import type { Channel } from "./channel.js";
import type { ChannelStore } from "./channel-store.js";
import type { StoreObserver } from "./observer.js";

export type ChannelEventType = "channel_created" | "channel_destroyed" | "client_subscribed" | "client_unsubscribed";

/**
 * push-stream's events channel (PROTOCOL.md §12): a channel created at startup that receives one
 * stored JSON message per channel creation, destruction, subscription and unsubscription on any
 * other channel, with `~event-type~` set to the event's type. Events about the events channel
 * itself are not sent. It observes the channel index and the hub, and publishes through the broker.
 */
export class EventsChannel implements StoreObserver {
  readonly channel: Channel;
  private readonly target: Channel[];
  private readonly options: Record<ChannelEventType, PublishOptions>;

  constructor(store: ChannelStore, private readonly broker: Broker, id: string) {
    const channel = store.obtain(id);
    if (channel instanceof Refusal) throw new Error(`events channel ${id}: ${channel.explain}`);
    channel.forEvents = true;
    this.channel = channel;
    this.target = [channel];
    const options = (eventType: ChannelEventType): PublishOptions => ({ eventId: "", eventType, store: true });
    this.options = {
      channel_created: options("channel_created"),
      channel_destroyed: options("channel_destroyed"),
      client_subscribed: options("client_subscribed"),
      client_unsubscribed: options("client_unsubscribed"),
    };
  }

  channelCreated(channel: Channel): void {
    this.send("channel_created", channel);
  }

  channelDestroyed(channel: Channel): void {
    this.send("channel_destroyed", channel);
  }

  clientSubscribed(channel: Channel): void {
    this.send("client_subscribed", channel);
  }

  clientUnsubscribed(channel: Channel): void {
    this.send("client_unsubscribed", channel);
  }

  /** push-stream's text: a space after `:` and `,`; the channel id escaped for a JSON string (push-stream: raw). */
  private send(type: ChannelEventType, channel: Channel): void {
    if (channel.forEvents) return;
    const text = Buffer.from(`{"type": "${type}", "channel": "${escapeJsonString(channel.id)}"}`);
    this.broker.publish(this.target, text, this.options[type]);
  }
}
