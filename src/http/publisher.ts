import type { IncomingMessage, ServerResponse } from "node:http";
import type { Channel } from "../core/channel.js";
import { Refusal, refusals } from "../core/refusal.js";
import { channelInfoJson } from "./channel-info.js";
import type { RequestVars } from "./request-vars.js";
import { addCors, addNoCache, EXPLAIN_HEADER, sendBody, sendEmpty, sendRefusal, type Headers } from "./respond.js";
import type { Handler, Route } from "./router.js";

/**
 * Publisher locations (PROTOCOL.md §4): POST/PUT publish the body to every channel named,
 * GET answers channel info, DELETE (admin) removes channels. The body is read (or discarded)
 * before answering, so a GET with a body keeps its keep-alive connection usable.
 */

const bodyTooLarge = new Refusal(413, "Request body is larger than clientMaxBodySize.");
const channelNotFound = new Refusal(404, "Channel not found.");
const badBody = new Refusal(400, "Request body could not be read.");

export const publisherHandler: Handler = (route, req, res, vars) => {
  const admin = route.config.publisher === "admin";
  const methods = admin ? "GET, POST, PUT, DELETE" : "GET, POST, PUT";
  const origin = route.origin(vars);
  const method = req.method;
  if (method === "OPTIONS") return sendEmpty(res, 200, addCors([], origin, methods));
  const headers = addCors(addNoCache([]), origin, methods);
  if (method !== "GET" && method !== "POST" && method !== "PUT" && !(admin && method === "DELETE")) {
    return sendRefusal(res, refusals.methodNotAllowed, [...headers, "Allow", methods]);
  }
  const ids = channelIds(route, vars);
  if (ids instanceof Refusal) return sendRefusal(res, ids, headers);

  readBody(req, res, route.config.clientMaxBodySize, headers, (body) => {
    if (method === "GET") return answerInfo(route, res, headers, ids);
    const events = route.ctx.events;
    if (events && ids.includes(events.channel.id)) return sendRefusal(res, refusals.eventsChannelReadOnly, headers);
    if (method === "DELETE") return deleteChannels(route, res, headers, ids, body);
    publish(route, req, res, headers, ids, body);
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

function answerInfo(route: Route, res: ServerResponse, headers: Headers, ids: string[]): void {
  const { store } = route.ctx;
  const found: Channel[] = [];
  for (const id of ids) {
    const channel = store.find(id);
    if (channel && !found.includes(channel)) found.push(channel);
  }
  if (found.length === 0) return sendRefusal(res, channelNotFound, headers);
  sendJson(res, headers, channelInfoJson(store, found));
}

function publish(route: Route, req: IncomingMessage, res: ServerResponse, headers: Headers, ids: string[], body: Buffer): void {
  if (body.length === 0) return sendRefusal(res, refusals.emptyPost, headers);
  const { store } = route.ctx;
  const channels: Channel[] = [];
  for (const id of ids) {
    const channel = store.obtain(id);
    if (channel instanceof Refusal) return sendRefusal(res, channel, headers);
    channels.push(channel);
  }
  const options = {
    eventId: header(req, "event-id") ?? "",
    eventType: header(req, "event-type") ?? "",
    store: route.config.storeMessages,
    ttl: parseExpiry(header(req, "message-expiry")),
  };
  const started = performance.now();
  for (const channel of channels) store.publish(channel, body, options);
  route.ctx.metrics.publishLatency.observe((performance.now() - started) / 1000);
  if (!route.config.channelInfoOnPublish) return sendEmpty(res, 200, headers);
  const unique = channels.filter((c, i) => channels.indexOf(c) === i);
  sendJson(res, headers, channelInfoJson(store, unique));
}

function deleteChannels(route: Route, res: ServerResponse, headers: Headers, ids: string[], body: Buffer): void {
  const { store } = route.ctx;
  const text = body.length > 0 ? body.toString("utf8") : undefined;
  let deleted = 0;
  for (const id of ids) {
    const channel = store.find(id);
    if (!channel) continue;
    store.delete(channel, text);
    deleted++;
  }
  if (deleted === 0) return sendRefusal(res, channelNotFound, headers);
  headers.push(EXPLAIN_HEADER, "Channel deleted.");
  sendEmpty(res, 200, headers);
}

function sendJson(res: ServerResponse, headers: Headers, json: string): void {
  headers.unshift("Content-Type", "application/json");
  sendBody(res, 200, headers, [Buffer.from(json)]);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** `Message-Expiry: <seconds>` (what Bitrix sends); anything but a positive integer is ignored. */
function parseExpiry(value: string | undefined): number | undefined {
  return value !== undefined && /^\s*\d{1,10}\s*$/.test(value) ? Number(value) || undefined : undefined;
}

/**
 * Collects the body up to `limit` bytes, then calls `done`. Over the limit: 413 and the
 * connection is closed (the rest of the body is never read).
 */
export function readBody(req: IncomingMessage, res: ServerResponse, limit: number, headers: Headers, done: (body: Buffer) => void): void {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > limit) return refuseBody(res, headers);
  const chunks: Buffer[] = [];
  let size = 0;
  let failed = false;
  req.on("data", (chunk: Buffer) => {
    if (failed) return;
    size += chunk.length;
    if (size > limit) {
      failed = true;
      refuseBody(res, headers);
      return;
    }
    chunks.push(chunk);
  });
  req.on("end", () => {
    if (!failed) done(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
  });
  req.on("error", () => {
    if (failed || res.headersSent) return;
    failed = true;
    sendRefusal(res, badBody, [...headers, "Connection", "close"]);
  });
}

function refuseBody(res: ServerResponse, headers: Headers): void {
  sendRefusal(res, bodyTooLarge, [...headers, "Connection", "close"]);
}
