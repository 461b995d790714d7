import { EXPLAIN_HEADER, Refusal } from "../core/refusal.js";
import type { BodyFailure, Headers, PushReply, PushRequest } from "../http/exchange.js";

/**
 * Headers and answers every handler shares: push-stream's no-cache pair and CORS headers, and
 * refusals — no body, the reason in the explain header, counted by status for /metrics.
 */
export { EXPLAIN_HEADER };
const EXPIRES = "Thu, 01 Jan 1970 00:00:01 GMT";
const CACHE_CONTROL = "no-cache, no-store, must-revalidate";
export const CORS_ALLOW_HEADERS = "If-Modified-Since,If-None-Match,Etag,Event-Id,Event-Type,Last-Event-Id";

/** push-stream's no-cache pair (PROTOCOL.md §3.1). */
export function addNoCache(headers: Headers): Headers {
  headers.push("Expires", EXPIRES, "Cache-Control", CACHE_CONTROL);
  return headers;
}

/** CORS headers for a location whose allowedOrigins evaluated to `origin`. */
export function addCors(headers: Headers, origin: string | undefined, methods: string): Headers {
  if (origin) {
    headers.push("Access-Control-Allow-Origin", origin, "Access-Control-Allow-Methods", methods, "Access-Control-Allow-Headers", CORS_ALLOW_HEADERS);
  }
  return headers;
}

const bodyTooLarge = new Refusal(413, "Request body is larger than clientMaxBodySize.");
const badBody = new Refusal(400, "Request body could not be read.");

/** Where refusals are counted (the traffic counters). */
export interface RefusalCounter {
  countRejected(status: number): void;
}

/** A refusal as push-stream sends it: no body, the reason in the explain header. */
export function sendRefusal(reply: PushReply, refusal: Refusal, headers: Headers, counter: RefusalCounter): void {
  counter.countRejected(refusal.status);
  if (refusal.explain) headers.push(EXPLAIN_HEADER, refusal.explain);
  reply.send(refusal.status, headers);
}

/**
 * Reads the request body within `limit`, then calls `done` with it. A body over the limit is
 * answered 413 and the connection closed (the rest is never read); one that cannot be read, 400.
 */
export function readBody(request: PushRequest, reply: PushReply, limit: number, headers: Headers, counter: RefusalCounter, done: (body: Buffer) => void): void {
  request.readBody(limit, (body: Buffer | BodyFailure) => {
    if (body === "too-large") return sendRefusal(reply, bodyTooLarge, [...headers, "Connection", "close"], counter);
    if (body === "unreadable") {
      if (!reply.headersSent) sendRefusal(reply, badBody, [...headers, "Connection", "close"], counter);
      return;
    }
    done(body);
  });
}
