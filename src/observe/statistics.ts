import type { PushContext } from "../context.js";
import { Refusal, refusals } from "../core/refusal.js";
import type { Headers, PushReply } from "../http/exchange.js";
import { addNoCache } from "../routing/answers.js";
import type { Handler } from "../routing/route.js";
import type { Channel } from "../store/channel.js";
import { VERSION } from "../version.js";
import { channelRow, groupHead } from "./channel-info.js";
import { statsFormat, type ChannelRow, type Summary } from "./stats-formats.js";

/**
 * Channel statistics locations (`channelsStatistics`, PROTOCOL.md §11): GET only. No id → the
 * server summary; `ALL` → every channel; `prefix*` → channels whose id starts with prefix; ids →
 * those that exist (none → 404, one → the channel alone, several → a group in request order).
 * The format follows `Accept`.
 */
export const statisticsHandler: Handler = (route, request, reply, vars) => {
  const headers = addNoCache([]);
  if (request.method !== "GET") return route.refuse(reply, refusals.methodNotAllowed, [...headers, "Allow", "GET"]);
  headers.push("X-Nginx-PushStream-Tag", VERSION, "X-Nginx-PushStream-Commit", "pushwire");
  const { ctx } = route;
  const { store, history } = ctx;
  const format = statsFormat(vars.header("accept"));
  const requested = route.requestedChannels(vars);
  if (requested === refusals.noChannelId) return send(reply, headers, format.contentType, format.summary(summary(ctx)));
  if (requested instanceof Refusal) return route.refuse(reply, requested, headers);

  const maxLength = store.limits.maxChannelIdLength;
  const found: Channel[] = [];
  for (const { id } of requested) {
    if (maxLength > 0 && Buffer.byteLength(id) > maxLength) return route.refuse(reply, refusals.channelIdTooLarge, headers);
    const star = id.indexOf("*");
    if (star >= 0 || id === "ALL") {
      const prefix = star >= 0 ? id.slice(0, star) : "";
      const rows: ChannelRow[] = [];
      for (const channel of store.all()) if (channel.id.startsWith(prefix)) rows.push(channelRow(history, channel));
      return send(reply, headers, format.contentType, format.group(groupHead(store), rows));
    }
    const channel = store.find(id);
    if (channel) found.push(channel);
  }
  if (found.length === 0) return reply.send(404, headers);
  const body = found.length === 1 ? format.single(channelRow(history, found[0]!)) : format.group(groupHead(store), found.map((channel) => channelRow(history, channel)));
  send(reply, headers, format.contentType, body);
};

function send(reply: PushReply, headers: Headers, contentType: string, body: string): void {
  headers.unshift("Content-Type", contentType);
  reply.send(200, headers, [Buffer.from(body)]);
}

/**
 * The summary. One process is push-stream's one worker; with workers, each is listed (the others
 * as they last reported, ≤ 1 s old) and `subscribers` is their sum. `subscribers` counts
 * connections (a long-poll on three channels is one); pushwire frees at once, so the trash and
 * delete counts are 0.
 */
function summary(ctx: PushContext): Summary {
  const { store, history, broker } = ctx;
  const workers = [{ pid: process.pid, subscribers: ctx.held.size, uptime: store.uptime }];
  for (const other of ctx.peers?.others() ?? []) workers.push({ pid: other.pid, subscribers: other.readings.gauges.subscribers, uptime: other.readings.gauges.uptime });
  const subscribers = workers.reduce((sum, worker) => sum + worker.subscribers, 0);
  return {
    ...groupHead(store),
    publishedMessages: broker.publishedMessages,
    storedMessages: history.storedMessages,
    messagesInTrash: 0,
    channelsInDelete: 0,
    channelsInTrash: 0,
    subscribers,
    workers,
  };
}
