import { TIMEOUT_MESSAGE_ID, specialMessage, type Message } from "../core/message.js";
import { Refusal } from "../core/refusal.js";
import type { PushReply } from "../http/exchange.js";
import { HeldPoll } from "../hold/held-poll.js";
import type { Handler, Route } from "../routing/route.js";
import type { Channel } from "../store/channel.js";
import { pollHeaders, sendMessageShared, sendMessages, sendNotModified } from "./poll-answers.js";
import { answerPreflightOrMethod, catchUp, jsonpCallback, openSubscription, readCursor } from "./subscription.js";

/**
 * `long-polling`: messages newer than the cursor are answered at once; otherwise the request is
 * held until the first message on any of its channels (one message per response), the channel's
 * deletion, or the hold time — then 304 (PROTOCOL.md §8.3).
 */
export const longPollingHandler: Handler = (route, request, reply, vars) => {
  const origin = route.origin(vars);
  if (!answerPreflightOrMethod(route, request.method, reply, origin)) return;
  const callback = jsonpCallback(vars);
  const subscription = openSubscription(route, vars);
  if (subscription instanceof Refusal) return route.refuse(reply, subscription, pollHeaders(route, origin, callback));
  const messages = catchUp(route, subscription, readCursor(route, vars));
  if (messages.length > 0) {
    const newest = messages[messages.length - 1]!;
    return sendMessages(reply, route, pollHeaders(route, origin, callback), messages, callback, newest.time, newest.tag);
  }
  if (route.ctx.draining) return timeoutAnswer(route, reply, origin, callback);
  new LongPoll(route, reply, subscription.channels, origin, callback).hold();
};

/** One held long-poll: what it needs to answer, nothing more. */
class LongPoll extends HeldPoll {
  readonly mode = "long-polling";

  constructor(
    readonly route: Route,
    reply: PushReply,
    channels: Channel[],
    private readonly origin: string | undefined,
    private readonly callback: string | undefined,
  ) {
    super(route.ctx, channels, reply);
  }

  hold(): void {
    const ttl = this.route.config.longpollingConnectionTtl;
    this.holdUntil(ttl === undefined ? undefined : this.ctx.clock.now() + ttl * 1000);
  }

  onMessage(_channel: Channel, message: Message): void {
    const reply = this.answerable();
    if (reply) sendMessageShared(reply, this.route, this.origin, this.callback, message, message.time, message.tag);
  }

  onChannelDeleted(_channel: Channel, message: Message): void {
    const reply = this.answerable();
    if (reply) sendMessageShared(reply, this.route, this.origin, this.callback, message, nowSeconds(this.route), 0);
  }

  onWheelExpire(): void {
    const reply = this.answerable();
    if (reply) timeoutAnswer(this.route, reply, this.origin, this.callback);
  }
}

/** The hold is over with nothing to say: 304 now/W/0, or the id -3 message with timeoutWithBody. */
function timeoutAnswer(route: Route, reply: PushReply, origin: string | undefined, callback: string | undefined): void {
  const headers = pollHeaders(route, origin, callback);
  const now = nowSeconds(route);
  route.ctx.metrics.longPollTimeouts++;
  if (route.ctx.http.timeoutWithBody) return sendMessages(reply, route, headers, [timedOut], callback, now, 0);
  sendNotModified(reply, headers, now, 0);
}

const timedOut = specialMessage(TIMEOUT_MESSAGE_ID, "", "Timed out");

function nowSeconds(route: Route): number {
  return Math.floor(route.ctx.clock.now() / 1000);
}
