import type { PushContext } from "../context.js";
import type { Message } from "../core/message.js";
import type { Channel } from "../store/channel.js";
import type { ChannelSummary, DashboardFeed } from "./feed.js";

/** How much of a message's text the dashboard shows. */
const PREVIEW_CHARS = 160;
/** Newest stored messages listed on a channel's page. */
const MESSAGES_SHOWN = 100;
/** Newest events-channel entries about the channel listed on its page. */
const EVENTS_SHOWN = 50;

/** A message as the dashboard lists it. */
export interface MessageView {
  id: number;
  /** Publish time, Unix seconds. */
  time: number;
  tag: number;
  size: number;
  eventType: string;
  preview: string;
}

/** A channel's page: what it stores, who listens, and what the events channel said about it. */
export interface ChannelView extends ChannelSummary {
  exists: boolean;
  lastMessageId: number;
  subscribersByMode: Record<string, number>;
  messages: MessageView[];
  /** Events-channel entries about this channel, newest last; null when no events channel is configured. */
  events: Array<{ time: number; type: string }> | null;
}

export function messageView(message: Message): MessageView {
  const text = message.text.subarray(0, PREVIEW_CHARS * 4).toString("utf8");
  return {
    id: message.id,
    time: message.time,
    tag: message.tag,
    size: message.text.length,
    eventType: message.eventType,
    preview: text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}…` : text,
  };
}

/** The mode a channel's subscriber is counted under: its held mode, "push2" for Bitrix Push 2.0, or what it says it is. */
function modeOf(subscriber: object): string {
  const held = subscriber as { mode?: unknown; protocol?: unknown };
  if (held.protocol === "bitrix-push2") return "push2";
  return typeof held.mode === "string" ? held.mode : "other";
}

export function channelView(ctx: PushContext, feed: DashboardFeed, id: string): ChannelView {
  const channel = ctx.store.find(id);
  if (!channel) return { id, exists: false, subscribers: 0, perSecond: 0, stored: 0, lastMessageId: 0, subscribersByMode: {}, messages: [], events: eventsAbout(ctx, id) };
  const subscribersByMode: Record<string, number> = {};
  for (const subscriber of channel.subscribers) {
    const mode = modeOf(subscriber);
    subscribersByMode[mode] = (subscribersByMode[mode] ?? 0) + 1;
  }
  return { ...feed.summary(channel), exists: true, lastMessageId: channel.lastMessageId, subscribersByMode, messages: storedMessages(ctx, channel), events: eventsAbout(ctx, id) };
}

function storedMessages(ctx: PushContext, channel: Channel): MessageView[] {
  const list = ctx.history.read(channel);
  const out: MessageView[] = [];
  for (let i = Math.max(0, list.length - MESSAGES_SHOWN); i < list.length; i++) out.push(messageView(list.at(i)!));
  return out;
}

/** The events channel's stored entries naming `id` (its messages are `{"type": …, "channel": …}`). */
function eventsAbout(ctx: PushContext, id: string): ChannelView["events"] {
  if (!ctx.events) return null;
  const list = ctx.history.read(ctx.events.channel);
  const out: Array<{ time: number; type: string }> = [];
  for (let i = list.length - 1; i >= 0 && out.length < EVENTS_SHOWN; i--) {
    const message = list.at(i)!;
    const event = channelEvent(message);
    if (event?.channel === id) out.unshift({ time: message.time, type: event.type });
  }
  return out;
}

/** An events-channel message read back; undefined for anything else. */
export function channelEvent(message: Message): { type: string; channel: string } | undefined {
  try {
    const parsed = JSON.parse(message.text.toString("utf8")) as { type?: unknown; channel?: unknown };
    return typeof parsed.type === "string" && typeof parsed.channel === "string" ? { type: parsed.type, channel: parsed.channel } : undefined;
  } catch {
    return undefined;
  }
}
