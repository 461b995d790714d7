import { formatHttpDate } from "../core/http-date.js";
import type { Message } from "../core/message.js";
import type { Headers, PushReply } from "../http/exchange.js";
import { addCors, addNoCache } from "../routing/answers.js";
import type { Route } from "../routing/route.js";

/**
 * The answers polling and long-polling share: a 200 carrying messages (header template,
 * optional JSONP wrapper, the messages as rendered once for this template, footer template),
 * and the empty 304.
 */

const JSONP_OPEN = Buffer.from("([");
const JSONP_SEPARATOR = Buffer.from(",");
const JSONP_CLOSE = Buffer.from("]);");

/** Headers common to every answer of a polling subscriber. */
export function pollHeaders(route: Route, origin: string | undefined, callback: string | undefined): Headers {
  const headers: Headers = ["Content-Type", callback ? "application/javascript" : route.config.defaultType];
  addNoCache(headers);
  return addCors(headers, origin, "GET");
}

/**
 * 200 with `messages`; Last-Modified/Etag give the cursor to resume from (`time`/`tag`: the newest
 * message for real messages, now/0 for pseudo-messages).
 */
export function sendMessages(
  reply: PushReply, route: Route, headers: Headers, messages: readonly Message[],
  callback: string | undefined, time: number, tag: number,
): void {
  headers.push("Last-Modified", formatHttpDate(time), "Etag", `W/${tag}`);
  const pieces: Buffer[] = [];
  if (route.header.length > 0) pieces.push(route.header);
  if (callback) pieces.push(Buffer.from(callback), JSONP_OPEN);
  let delivered = 0;
  for (let i = 0; i < messages.length; i++) {
    if (callback && i > 0) pieces.push(JSONP_SEPARATOR);
    const message = messages[i]!;
    pieces.push(route.messageTemplate.render(message));
    if (message.id > 0) delivered++;
  }
  route.ctx.metrics.deliveredMessages += delivered;
  if (callback) pieces.push(JSONP_CLOSE);
  if (route.footer.length > 0) pieces.push(route.footer);
  reply.send(200, headers, pieces);
}

/** 304 Not Modified, optionally with the cursor headers. */
export function sendNotModified(reply: PushReply, headers: Headers, time: number | undefined, tag: number | undefined): void {
  if (time !== undefined) headers.push("Last-Modified", formatHttpDate(time));
  if (tag !== undefined) headers.push("Etag", `W/${tag}`);
  reply.send(304, headers);
}
