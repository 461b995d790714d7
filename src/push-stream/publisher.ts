import { Refusal, refusals } from "../core/refusal.js";
import type { Headers, PushReply, PushRequest } from "../http/exchange.js";
import { channelInfo } from "../observe/channel-info.js";
import { statsFormat } from "../observe/stats-formats.js";
import { addCors, addNoCache, EXPLAIN_HEADER } from "../routing/answers.js";
import type { RequestVars } from "../routing/request-vars.js";
import type { Handler, Route } from "../routing/route.js";
import type { Channel } from "../store/channel.js";

/**
 * Publisher locations (PROTOCOL.md §4): POST/PUT publish the body to every channel named,
 * GET answers channel info, DELETE (admin) removes channels. The body is read (or discarded)
 * before answering, so a GET with a body keeps its keep-alive connection usable. Channel info
 * comes in the format `Accept` chooses, as on statistics locations (JSON by default).
 */

const channelNotFound = new Refusal(404, "Channel not found.");

export const publisherHandler: Handler = (route, request, reply, vars) => {
  const admin = route.config.publisher === "admin";
  const methods = admin ? "GET, POST, PUT, DELETE" : "GET, POST, PUT";
  const origin = route.origin(vars);
  const method = request.method;
  // Every publisher answer carries the no-cache pair, OPTIONS too (PROTOCOL.md §3.1).
  const headers = addCors(addNoCache([]), origin, methods);
  if (method === "OPTIONS") return reply.send(200, headers);
  if (method !== "GET" && method !== "POST" && method !== "PUT" && !(admin && method === "DELETE")) {
    return route.refuse(reply, refusals.methodNotAllowed, [...headers, "Allow", methods]);
  }
  const ids = channelIds(route, vars);
  if (ids instanceof Refusal) return route.refuse(reply, ids, headers);

  route.readBody(request, reply, headers, (body) => {
    if (method === "GET") return answerInfo(route, request, reply, headers, ids);
    const events = route.ctx.events;
    if (events && ids.includes(events.channel.id)) return route.refuse(reply, refusals.eventsChannelReadOnly, headers);
    if (method === "DELETE") return deleteChannels(route, reply, headers, ids, body);
    publish(route, request, reply, headers, ids, body);
  });
};

/** The channel ids of the request, each checked (`ALL`, `*`, length). */
function channelIds(route: Route, vars: RequestVars): string[] | Refusal {
  const requested = route.requestedChannels(vars);
  if (requested instanceof Refusal) return requested;
  const ids: string[] = [];
  for (const { id } of requested) {
    const refusal = route.ctx.store.checkId(id);
    if (refusal) return refusal;
    ids.push(id);
  }
  return ids;
}

function answerInfo(route: Route, request: PushRequest, reply: PushReply, headers: Headers, ids: string[]): void {
  const { store } = route.ctx;
  // Every id as requested, a repeated one listed again, as the module answers (a/a: two infos).
  const found: Channel[] = [];
  for (const id of ids) {
    const channel = store.find(id);
    if (channel) found.push(channel);
  }
  if (found.length === 0) return route.refuse(reply, channelNotFound, headers);
  sendInfo(route, request, reply, headers, found);
}

function publish(route: Route, request: PushRequest, reply: PushReply, headers: Headers, ids: string[], body: Buffer): void {
  if (body.length === 0) return route.refuse(reply, refusals.emptyPost, headers);
  const { ctx } = route;
  // The message log cannot write (disk full): refused before anyone receives it.
  const unavailable = ctx.broker.unavailable;
  if (unavailable) return route.refuse(reply, unavailable, headers);
  const channels: Channel[] = [];
  for (const id of ids) {
    const channel = ctx.store.obtain(id);
    if (channel instanceof Refusal) return route.refuse(reply, channel, headers);
    channels.push(channel);
  }
  const options = {
    eventId: request.header("event-id") ?? "",
    eventType: request.header("event-type") ?? "",
    store: route.config.storeMessages,
    ttl: parseExpiry(request.header("message-expiry")),
  };
  const started = performance.now();
  ctx.broker.publish(channels, body, options);
  ctx.metrics.publishLatency.observe((performance.now() - started) / 1000);
  // Answered once History keeps it (with the message log: written, and fsync'd as configured).
  ctx.broker.whenDurable(answerPublish, { route, request, reply, headers, channels });
}

interface Published {
  route: Route;
  request: PushRequest;
  reply: PushReply;
  headers: Headers;
  channels: Channel[];
}

function answerPublish(published: Published, failure: Refusal | undefined): void {
  const { route, request, reply, headers, channels } = published;
  if (failure) return route.refuse(reply, failure, headers);
  if (!route.config.channelInfoOnPublish) return reply.send(200, headers);
  sendInfo(route, request, reply, headers, channels);
}

function deleteChannels(route: Route, reply: PushReply, headers: Headers, ids: string[], body: Buffer): void {
  const { store, broker } = route.ctx;
  const text = body.length > 0 ? body.toString("utf8") : undefined;
  let deleted = 0;
  for (const id of ids) {
    const channel = store.find(id);
    if (!channel) continue;
    broker.delete(channel, text);
    deleted++;
  }
  if (deleted === 0) return route.refuse(reply, channelNotFound, headers);
  // Answered once the deletion is kept (the message log), so a restart cannot bring the channel back.
  broker.whenDurable(answerDeleted, { route, reply, headers });
}

function answerDeleted(deleted: { route: Route; reply: PushReply; headers: Headers }, failure: Refusal | undefined): void {
  const { route, reply, headers } = deleted;
  if (failure) return route.refuse(reply, failure, headers);
  headers.push(EXPLAIN_HEADER, "Channel deleted.");
  reply.send(200, headers);
}

function sendInfo(route: Route, request: PushRequest, reply: PushReply, headers: Headers, channels: readonly Channel[]): void {
  const format = statsFormat(request.header("accept"));
  headers.unshift("Content-Type", format.contentType);
  reply.send(200, headers, [Buffer.from(channelInfo(format, route.ctx, channels))]);
}

/** `Message-Expiry: <seconds>` (what Bitrix sends); anything but a positive integer is ignored. */
function parseExpiry(value: string | undefined): number | undefined {
  return value !== undefined && /^\s*\d{1,10}\s*$/.test(value) ? Number(value) || undefined : undefined;
}
