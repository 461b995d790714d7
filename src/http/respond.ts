import type { ServerResponse } from "node:http";
import type { Refusal } from "../core/refusal.js";
import type { PushResponse } from "./push-response.js";

/**
 * Headers and error answers shared by every handler. Headers travel as flat [name, value, …]
 * arrays, the cheapest form `writeHead` takes.
 */
export const EXPLAIN_HEADER = "X-Nginx-PushStream-Explain";
const EXPIRES = "Thu, 01 Jan 1970 00:00:01 GMT";
const CACHE_CONTROL = "no-cache, no-store, must-revalidate";
export const CORS_ALLOW_HEADERS = "If-Modified-Since,If-None-Match,Etag,Event-Id,Event-Type,Last-Event-Id";

export type Headers = string[];

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

/** An answer with no body. */
export function sendEmpty(res: ServerResponse, status: number, headers: Headers): void {
  headers.push("Content-Length", "0");
  res.writeHead(status, headers);
  res.end();
}

/** A refusal as push-stream sends it: no body, the reason in the explain header. */
export function sendRefusal(res: ServerResponse, refusal: Refusal, headers: Headers): void {
  (res as PushResponse).metrics?.countRejected(refusal.status);
  if (refusal.explain) headers.push(EXPLAIN_HEADER, refusal.explain);
  sendEmpty(res, refusal.status, headers);
}

/** A complete body in one or more pieces, with Content-Length. */
export function sendBody(res: ServerResponse, status: number, headers: Headers, pieces: readonly Buffer[]): void {
  let length = 0;
  for (const piece of pieces) length += piece.length;
  headers.push("Content-Length", String(length));
  res.writeHead(status, headers);
  // One write: headers and body leave in the same packet.
  res.end(pieces.length === 1 ? pieces[0] : Buffer.concat(pieces as Buffer[], length));
}
