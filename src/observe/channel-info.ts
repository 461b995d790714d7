import { hostname } from "node:os";
import type { Channel } from "../store/channel.js";
import type { Channels } from "../store/channels.js";
import type { ChannelStore } from "../store/channel-store.js";
import type { History } from "../store/history.js";
import type { ChannelRow, GroupHead, StatsFormat } from "./stats-formats.js";

/**
 * push-stream's channel info (PROTOCOL.md §4.5), byte for byte: one channel alone, the group for
 * several — in the statistics format the request's `Accept` chose, as the module answers.
 */
export function channelInfo(format: StatsFormat, channels: Pick<Channels, "store" | "history">, found: readonly Channel[]): string {
  if (found.length === 1) return format.single(channelRow(channels.history, found[0]!));
  return format.group(groupHead(channels.store), found.map((channel) => channelRow(channels.history, channel)));
}

/** One channel's counters, as every statistics format prints them. */
export function channelRow(history: History, channel: Channel): ChannelRow {
  return {
    id: channel.id,
    publishedMessages: channel.lastMessageId,
    storedMessages: history.count(channel),
    subscribers: channel.subscriberCount,
  };
}

const host = hostname();

/** What every group answer starts with: host, time (UTC "YYYY-MM-DDTHH:MM:SS"), counts, uptime. */
export function groupHead(store: ChannelStore): GroupHead {
  return {
    hostname: host,
    time: new Date(store.clock.now()).toISOString().slice(0, 19),
    channels: store.channelCount,
    wildcardChannels: store.wildcardChannelCount,
    uptime: store.uptime,
  };
}
