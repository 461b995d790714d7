import type { IncomingMessage, ServerResponse } from "node:http";
import { readBody } from "../http/publisher.js";
import { decodeChannelsPath } from "../http/percent.js";
import type { RequestVars } from "../http/request-vars.js";
import { EXPLAIN_HEADER, sendBody, sendEmpty, type Headers } from "../http/respond.js";
import type { Handler, Route } from "../http/router.js";
import { channelKey, push2Of, type Push2Hub } from "./hub.js";
import { decodeRequestBatch, encodeResponseBatch, ProtobufError, SENDER_BACKEND, SENDER_CLIENT, type Request } from "./protobuf.js";
import { BACKEND, runRequests, type Requester } from "./requests.js";
import { serverStatJson } from "./server-stat.js";
import { WRONG_CHANNEL_CODE, WRONG_CHANNEL_TEXT } from "./subscription.js";
import { RateLimiter } from "./rate-limit.js";

/**
 * bitrix-push2 publishers. `publisher: "admin"` is the site's trusted `/bitrix/pub/`: protobuf
 * RequestBatches (`binaryMode=true`), text publishes to `CHANNEL_ID` with `Message-Expiry`, and
 * the GET online check. `publisher: "normal"` is the browsers' `/bitrix/rest/`: protobuf only,
 * publishing to signed public channels and presence, identified by a signed
 * `private:public` pair in `CHANNEL_ID`, rate-limited per address.
 */

const HEX_ID = /^([a-f0-9]{32})(?::[a-f0-9]{32})?(?:\.[a-f0-9]{32,128})?$/;

function textAnswer(res: ServerResponse, status: number, text: string, headers: Headers = []): void {
  headers.push(EXPLAIN_HEADER, text, "Content-Type", "text/plain; charset=utf-8");
  sendBody(res, status, headers, [Buffer.from(text)]);
}

function answerBatch(res: ServerResponse, responses: Buffer[], headers: Headers): void {
  if (responses.length === 0) return sendEmpty(res, 200, headers);
  headers.push("Content-Type", "application/octet-stream");
  sendBody(res, 200, headers, [encodeResponseBatch(responses)]);
}

/**
 * Runs a body callback (it runs from the request's 'end' event, outside the router's try/catch):
 * a failure is logged and answered 500, never an uncaught exception.
 */
function guarded(route: Route, res: ServerResponse, work: (body: Buffer) => void): (body: Buffer) => void {
  return (body) => {
    try {
      work(body);
    } catch (error) {
      route.ctx.log.error(`bitrix-push2 ${route.config.path}: ${(error as Error).stack ?? error}`);
      if (!res.headersSent) textAnswer(res, 500, "Internal server error; see the server log.", ["Connection", "close"]);
    }
  };
}

function decode(body: Buffer): Request[] | undefined {
  try {
    return decodeRequestBatch(body);
  } catch (error) {
    if (error instanceof ProtobufError) return undefined;
    throw error;
  }
}

/** The private ids of a trusted `CHANNEL_ID` (signatures, if any, are not checked: the site is trusted). */
function trustedIds(vars: RequestVars, route: Route): string[] | undefined {
  const raw = route.config.channelsPath?.evaluate(vars);
  const tokens = raw ? decodeChannelsPath(raw).split("/").filter((t) => t !== "") : [];
  const ids: string[] = [];
  for (const token of tokens) {
    const m = HEX_ID.exec(token.toLowerCase());
    if (!m) return undefined;
    if (!ids.includes(m[1]!)) ids.push(m[1]!);
  }
  return ids.length > 0 ? ids : undefined;
}

export const push2PublisherHandler: Handler = (route, req, res, vars) => {
  if (route.config.publisher !== "admin") return restHandler(route, req, res, vars);
  const hub = push2Of(route.ctx);
  const binary = vars.arg("binaryMode") === "true";
  if (req.method === "POST" && binary) {
    return readBody(req, res, route.config.clientMaxBodySize, [], guarded(route, res, (body) => {
      const requests = decode(body);
      if (!requests) return textAnswer(res, 400, "Malformed protobuf RequestBatch.");
      const { responses } = runRequests(hub, BACKEND, requests, serverStatJson);
      answerBatch(res, responses, []);
    }));
  }
  if (req.method !== "POST" && req.method !== "PUT" && req.method !== "GET") return textAnswer(res, 405, "Method not allowed.", ["Allow", "GET, POST"]);
  const ids = trustedIds(vars, route);
  if (!ids) return readBody(req, res, route.config.clientMaxBodySize, [], () => textAnswer(res, 400, `${WRONG_CHANNEL_CODE}: ${WRONG_CHANNEL_TEXT}`));
  readBody(req, res, route.config.clientMaxBodySize, [], guarded(route, res, (body) => {
    if (req.method === "GET") return onlineCheck(hub, res, ids);
    if (body.length === 0) return textAnswer(res, 400, "Empty post requests are not allowed.");
    // Push server 2.0 answers at once and publishes after; PHP never reads the reply.
    sendEmpty(res, 200, []);
    hub.publish(ids.map((id) => channelKey(id, true)), {
      body: body.toString("utf8"),
      expiry: parseExpiry(req),
      type: "",
      sender: { type: SENDER_BACKEND, id: new Uint8Array(0) },
    });
    hub.publishedFromBackend++;
  }));
};

/** `Message-Expiry: <seconds>`; anything else is 0 (not stored). */
function parseExpiry(req: IncomingMessage): number {
  const value = req.headers["message-expiry"];
  const text = Array.isArray(value) ? value[0] : value;
  return text !== undefined && /^\s*\d{1,9}\s*$/.test(text) ? Number(text) : 0;
}

/** `{"infos":[{"channel":…,"subscribers":N}]}` listing the online channels only, as Push server 2.0 does. */
function onlineCheck(hub: Push2Hub, res: ServerResponse, ids: string[]): void {
  const infos: string[] = [];
  for (const id of ids) {
    if (!hub.isOnline(id)) continue;
    const subscribers = Math.max(1, hub.ctx.store.find(id)?.subscribers.size ?? 0);
    infos.push(`{"channel":"${id}","subscribers":${subscribers}}`);
  }
  sendBody(res, 200, ["Content-Type", "application/json"], [Buffer.from(`{"infos":[${infos.join(",")}]}`)]);
}

const PAIR = /^([a-f0-9]{32}):([a-f0-9]{32})\.([a-f0-9]{32,128})$/;
const limiters = new WeakMap<Route, RateLimiter>();

/** CORS for the browsers' publishing location. */
function restHeaders(route: Route, vars: RequestVars): Headers {
  const origin = route.origin(vars);
  return origin ? ["Access-Control-Allow-Origin", origin, "Access-Control-Allow-Methods", "POST, OPTIONS"] : [];
}

/** `/bitrix/rest/`: a browser's RequestBatch, on behalf of the signed pair in CHANNEL_ID. */
function restHandler(route: Route, req: IncomingMessage, res: ServerResponse, vars: RequestVars): void {
  const headers = restHeaders(route, vars);
  if (req.method === "OPTIONS") return sendEmpty(res, 200, headers);
  if (req.method !== "POST") return textAnswer(res, 405, "Method not allowed.", [...headers, "Allow", "POST"]);
  let limiter = limiters.get(route);
  if (!limiter) limiters.set(route, (limiter = new RateLimiter(route.config.clientRequestsPerSecond)));
  if (!limiter.allow(req.socket.remoteAddress ?? "", route.ctx.clock.now())) {
    route.ctx.metrics.countRejected(429);
    return textAnswer(res, 429, "Too many requests.", headers);
  }
  const hub = push2Of(route.ctx);
  const requester = clientRequester(hub, route, vars);
  if (!requester) return readBody(req, res, route.config.clientMaxBodySize, headers, () => textAnswer(res, 400, "4012: Wrong Public Channel Id.", headers));
  readBody(req, res, route.config.clientMaxBodySize, headers, guarded(route, res, (body) => {
    const requests = decode(body);
    if (!requests) return textAnswer(res, 400, "Malformed protobuf RequestBatch.", headers);
    const { responses } = runRequests(hub, requester, requests, serverStatJson);
    answerBatch(res, responses, headers);
  }));
}

/** The requester of a browser request: the first CHANNEL_ID token that is a validly signed pair. */
export function clientRequester(hub: Push2Hub, route: Route, vars: RequestVars): Requester | undefined {
  const raw = route.config.channelsPath?.evaluate(vars);
  const tokens = raw ? decodeChannelsPath(raw).split("/") : [];
  for (const token of tokens) {
    const m = PAIR.exec(token.toLowerCase());
    if (m && hub.signer.verify(`${m[1]}:${m[2]}`, m[3]!)) {
      return { trusted: false, sender: { type: SENDER_CLIENT, id: Buffer.from(m[2]!, "hex") } };
    }
  }
  return undefined;
}
