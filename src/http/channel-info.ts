import { hostname } from "node:os";
import type { Channel } from "../core/channel.js";
import type { ChannelStore } from "../core/channel-store.js";

/**
 * push-stream's channel info JSON (PROTOCOL.md §4.5), byte for byte: one object for one channel,
 * the group object for several. Ids are inserted unescaped, as push-stream does.
 */
export function channelInfoJson(store: ChannelStore, channels: readonly Channel[]): string {
  if (channels.length === 1) return `${single(channels[0]!)}\r\n`;
  const items = channels.map(single).join(",\r\n");
  return `{"hostname": "${host}", "time": "${isoSeconds(store.clock.now())}", "channels": ${store.channelCount}, `
    + `"wildcard_channels": ${store.wildcardChannelCount}, "uptime": ${store.uptime}, "infos": [\r\n`
    + (items ? `${items}\r\n` : "") + "]}\r\n";
}

function single(channel: Channel): string {
  return `{"channel": "${channel.id}", "published_messages": ${channel.lastMessageId}, `
    + `"stored_messages": ${channel.storedMessages}, "subscribers": ${channel.subscribers.size}}`;
}

const host = hostname();

/** UTC "YYYY-MM-DDTHH:MM:SS", no zone. */
function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19);
}
