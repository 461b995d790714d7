import { formatHttpDate } from "../core/http-date.js";
import type { Message } from "../core/message.js";
import { SharedAnswer, type Headers, type PushReply } from "../http/exchange.js";
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
  let delivered = 0;
  for (const message of messages) if (message.id > 0) delivered++;
  route.ctx.metrics.deliveredMessages += delivered;
  reply.send(200, headers, messagesBody(route, messages, callback));
}

/**
 * As `sendMessages` with one message, for a fan-out: the subscribers of one route, origin and
 * callback get the same answer, rendered (and on the lean listener framed) once.
 */
export function sendMessageShared(
  reply: PushReply, route: Route, origin: string | undefined, callback: string | undefined,
  message: Message, time: number, tag: number,
): void {
  let fanOut = currentFanOut;
  if (fanOut === null || fanOut.message !== message || fanOut.route !== route || fanOut.time !== time || fanOut.tag !== tag) {
    fanOut = currentFanOut = { message, route, time, tag, answers: [] };
  }
  let answer: SharedAnswer | undefined;
  for (const kept of fanOut.answers) {
    if (kept.origin === origin && kept.callback === callback) {
      answer = kept.answer;
      break;
    }
  }
  if (answer === undefined) {
    const headers = pollHeaders(route, origin, callback);
    headers.push("Last-Modified", formatHttpDate(time), "Etag", `W/${tag}`);
    answer = new SharedAnswer(200, headers, messagesBody(route, [message], callback));
    // Bounded: subscribers with many distinct origins or callbacks get fresh answers past the cap.
    if (fanOut.answers.length < MAX_SHARED_ANSWERS) fanOut.answers.push({ origin, callback, answer });
  }
  if (message.id > 0) route.ctx.metrics.deliveredMessages++;
  reply.sendShared(answer);
}

const MAX_SHARED_ANSWERS = 8;

/**
 * The answers of the fan-out under way, one per origin and callback (a message reaches its
 * subscribers one after another, synchronously, so only the latest message's are kept).
 */
let currentFanOut: {
  readonly message: Message; readonly route: Route; readonly time: number; readonly tag: number;
  readonly answers: Array<{ readonly origin: string | undefined; readonly callback: string | undefined; readonly answer: SharedAnswer }>;
} | null = null;

/** The body pieces: header template, JSONP wrapper, each message as rendered once for this template, footer. */
function messagesBody(route: Route, messages: readonly Message[], callback: string | undefined): Buffer[] {
  const pieces: Buffer[] = [];
  if (route.header.length > 0) pieces.push(route.header);
  if (callback) pieces.push(Buffer.from(callback), JSONP_OPEN);
  for (let i = 0; i < messages.length; i++) {
    if (callback && i > 0) pieces.push(JSONP_SEPARATOR);
    pieces.push(route.messageTemplate.render(messages[i]!));
  }
  if (callback) pieces.push(JSONP_CLOSE);
  if (route.footer.length > 0) pieces.push(route.footer);
  return pieces;
}

/** 304 Not Modified, optionally with the cursor headers. */
export function sendNotModified(reply: PushReply, headers: Headers, time: number | undefined, tag: number | undefined): void {
  if (time !== undefined) headers.push("Last-Modified", formatHttpDate(time));
  if (tag !== undefined) headers.push("Etag", `W/${tag}`);
  reply.send(304, headers);
}
