import { Refusal, refusals } from "../core/refusal.js";
import type { Handler } from "../http/router.js";
import { addCors, addNoCache, sendEmpty, sendRefusal } from "../http/respond.js";
import { pollHeaders, sendMessages, sendNotModified } from "./poll-response.js";
import { catchUp, jsonpCallback, openSubscription, readCursor } from "./subscription.js";

/**
 * `polling`: answer at once — 200 with every message newer than the client's cursor, or 304
 * echoing the cursor it sent (PROTOCOL.md §8.2). Never holds.
 */
export const pollingHandler: Handler = (route, req, res, vars) => {
  const origin = route.origin(vars);
  if (!answerPreflightOrMethod(req.method, res, origin)) return;
  const subscription = openSubscription(route, vars);
  const callback = jsonpCallback(vars);
  if (subscription instanceof Refusal) return sendRefusal(res, subscription, pollHeaders(route, origin, callback));
  const cursor = readCursor(route, vars);
  const messages = catchUp(route, subscription, cursor);
  const headers = pollHeaders(route, origin, callback);
  if (messages.length > 0) {
    const newest = messages[messages.length - 1]!;
    return sendMessages(res, route, headers, messages, callback, newest.time, newest.tag);
  }
  sendNotModified(res, headers, cursor.time ? cursor.time : undefined, cursor.tag);
};

/**
 * OPTIONS gets 200 (CORS preflight), methods other than GET get 405; returns true when the
 * request is a GET to go on with. Shared by the subscriber modes.
 */
export function answerPreflightOrMethod(method: string | undefined, res: Parameters<Handler>[2], origin: string | undefined): boolean {
  if (method === "GET") return true;
  if (method === "OPTIONS") {
    sendEmpty(res, 200, addCors([], origin, "GET"));
  } else {
    sendRefusal(res, refusals.methodNotAllowed, addCors(addNoCache(["Allow", "GET"]), origin, "GET"));
  }
  return false;
}
