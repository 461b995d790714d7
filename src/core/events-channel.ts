import type { Channel } from "./channel.js";
import type { ChannelStore, PublishOptions, StoreObserver } from "./channel-store.js";
import { Refusal } from "./refusal.js";

export type ChannelEventType = "channel_created" | "channel_destroyed" | "client_subscribed" | "client_unsubscribed";

/**
 * push-stream's events channel (PROTOCOL.md §12): a channel created at startup that receives one
 * stored JSON message per channel creation, destruction, subscription and unsubscription on any
 * other channel, with `~event-type~` set to the event's type. Events about the events channel
 * itself are not sent.
 */
export class EventsChannel implements StoreObserver {
  readonly channel: Channel;
  private readonly options: Record<ChannelEventType, PublishOptions>;

  constructor(private readonly store: ChannelStore, id: string) {
    const channel = store.obtain(id);
    if (channel instanceof Refusal) throw new Error(`events channel ${id}: ${channel.explain}`);
    channel.forEvents = true;
    this.channel = channel;
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

  /** push-stream's text: a space after `:` and `,`, the channel id inserted unescaped. */
  private send(type: ChannelEventType, channel: Channel): void {
    if (channel.forEvents) return;
    const text = Buffer.from(`{"type": "${type}", "channel": "${channel.id}"}`);
    this.store.publish(this.channel, text, this.options[type]);
  }
}
