import { Refusal } from "../core/refusal.js";
import type { Handler } from "../routing/route.js";
import { pollHeaders, sendMessages, sendNotModified } from "./poll-answers.js";
import { answerPreflightOrMethod, catchUp, jsonpCallback, openSubscription, readCursor } from "./subscription.js";

/**
 * `polling`: answer at once — 200 with every message newer than the client's cursor, or 304
 * echoing the cursor it sent (PROTOCOL.md §8.2). Never holds.
 */
export const pollingHandler: Handler = (route, request, reply, vars) => {
  const origin = route.origin(vars);
  if (!answerPreflightOrMethod(route, request.method, reply, origin)) return;
  const subscription = openSubscription(route, vars);
  const callback = jsonpCallback(vars);
  if (subscription instanceof Refusal) return route.refuse(reply, subscription, pollHeaders(route, origin, callback));
  const cursor = readCursor(route, vars);
  const messages = catchUp(route, subscription, cursor);
  const headers = pollHeaders(route, origin, callback);
  if (messages.length > 0) {
    const newest = messages[messages.length - 1]!;
    return sendMessages(reply, route, headers, messages, callback, newest.time, newest.tag);
  }
  sendNotModified(reply, headers, cursor.time ? cursor.time : undefined, cursor.tag);
};
