import { hostname } from "node:os";
import type { Channel } from "../core/channel.js";
import { Refusal, refusals } from "../core/refusal.js";
import { VERSION } from "../version.js";
import type { PushContext } from "./context.js";
import { addNoCache, sendBody, sendEmpty, sendRefusal, type Headers } from "./respond.js";
import type { Handler } from "./router.js";
import { statsFormat, type ChannelRow, type GroupHead, type Summary } from "./stats-formats.js";

/**
 * Channel statistics locations (`channelsStatistics`, PROTOCOL.md §11): GET only. No id → the
 * server summary; `ALL` → every channel; `prefix*` → channels whose id starts with prefix; ids →
 * those that exist (none → 404, one → the channel alone, several → a group in request order).
 * The format follows `Accept`.
 */
export const statisticsHandler: Handler = (route, req, res, vars) => {
  const headers = addNoCache([]);
  if (req.method !== "GET") return sendRefusal(res, refusals.methodNotAllowed, [...headers, "Allow", "GET"]);
  headers.push("X-Nginx-PushStream-Tag", VERSION, "X-Nginx-PushStream-Commit", "pushwire");
  const { ctx } = route;
  const format = statsFormat(vars.header("accept"));
  const requested = route.requestedChannels(vars);
  if (requested === refusals.noChannelId) return send(res, headers, format.contentType, format.summary(summary(ctx)));
  if (requested instanceof Refusal) return sendRefusal(res, requested, headers);

  const { store } = ctx;
  const maxLength = store.limits.maxChannelIdLength;
  const found: Channel[] = [];
  for (const { id } of requested) {
    if (maxLength > 0 && Buffer.byteLength(id) > maxLength) return sendRefusal(res, refusals.channelIdTooLarge, headers);
    const star = id.indexOf("*");
    if (star >= 0 || id === "ALL") {
      const prefix = star >= 0 ? id.slice(0, star) : "";
      const rows: ChannelRow[] = [];
      for (const channel of store.all()) if (channel.id.startsWith(prefix)) rows.push(row(channel));
      return send(res, headers, format.contentType, format.group(groupHead(ctx), rows));
    }
    const channel = store.find(id);
    if (channel) found.push(channel);
  }
  if (found.length === 0) return sendEmpty(res, 404, headers);
  const body = found.length === 1 ? format.single(row(found[0]!)) : format.group(groupHead(ctx), found.map(row));
  send(res, headers, format.contentType, body);
};

function send(res: Parameters<Handler>[2], headers: Headers, contentType: string, body: string): void {
  headers.unshift("Content-Type", contentType);
  sendBody(res, 200, headers, [Buffer.from(body)]);
}

function row(channel: Channel): ChannelRow {
  return {
    id: channel.id,
    publishedMessages: channel.lastMessageId,
    storedMessages: channel.storedMessages,
    subscribers: channel.subscribers.size,
  };
}

const host = hostname();

function groupHead(ctx: PushContext): GroupHead {
  const { store } = ctx;
  return {
    hostname: host,
    time: new Date(ctx.clock.now()).toISOString().slice(0, 19),
    channels: store.channelCount,
    wildcardChannels: store.wildcardChannelCount,
    uptime: store.uptime,
  };
}

/**
 * The summary. One process is push-stream's one worker. `subscribers` counts connections (a
 * long-poll on three channels is one); pushwire frees at once, so the trash and delete counts are 0.
 */
function summary(ctx: PushContext): Summary {
  const { store } = ctx;
  const subscribers = ctx.held.size;
  return {
    ...groupHead(ctx),
    publishedMessages: store.publishedMessages,
    storedMessages: store.storedMessages,
    messagesInTrash: 0,
    channelsInDelete: 0,
    channelsInTrash: 0,
    subscribers,
    workers: [{ pid: process.pid, subscribers, uptime: store.uptime }],
  };
}
