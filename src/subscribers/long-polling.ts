import type { Channel, ChannelSubscriber } from "../core/channel.js";
import { Message, TIMEOUT_MESSAGE_ID, specialMessage } from "../core/message.js";
import { Refusal } from "../core/refusal.js";
import type { WheelEntry } from "../core/timer-wheel.js";
import type { Held } from "../http/context.js";
import { abortHeldOnClose, PushResponse } from "../http/push-response.js";
import { sendRefusal } from "../http/respond.js";
import type { Handler, Route } from "../http/router.js";
import { pollHeaders, sendMessages, sendNotModified } from "./poll-response.js";
import { answerPreflightOrMethod } from "./polling.js";
import { catchUp, jsonpCallback, openSubscription, readCursor } from "./subscription.js";

/**
 * `long-polling`: messages newer than the cursor are answered at once; otherwise the request is
 * held until the first message on any of its channels (one message per response), the channel's
 * deletion, or the hold time — then 304 (PROTOCOL.md §8.3).
 */
export const longPollingHandler: Handler = (route, req, res, vars) => {
  const origin = route.origin(vars);
  if (!answerPreflightOrMethod(req.method, res, origin)) return;
  const callback = jsonpCallback(vars);
  const subscription = openSubscription(route, vars);
  if (subscription instanceof Refusal) return sendRefusal(res, subscription, pollHeaders(route, origin, callback));
  const messages = catchUp(route, subscription, readCursor(route, vars));
  if (messages.length > 0) {
    const newest = messages[messages.length - 1]!;
    return sendMessages(res, route, pollHeaders(route, origin, callback), messages, callback, newest.time, newest.tag);
  }
  const { ctx } = route;
  if (ctx.draining) return timeoutAnswer(route, res as PushResponse, origin, callback);
  const poll = new LongPoll(route, res as PushResponse, subscription.channels, origin, callback);
  for (const channel of poll.channels) ctx.store.subscribe(channel, poll);
  ctx.held.add(poll);
  const ttl = route.config.longpollingConnectionTtl;
  if (ttl !== undefined) ctx.wheel.schedule(poll, ctx.clock.now() + ttl * 1000);
  (res as PushResponse).held = poll;
  res.once("close", abortHeldOnClose);
};

/** One held long-poll: what it needs to answer, nothing more. */
class LongPoll implements ChannelSubscriber, WheelEntry, Held {
  readonly mode = "long-polling";
  wheelDeadline = 0;
  wheelNext: WheelEntry | null = null;
  wheelPrev: WheelEntry | null = null;
  wheelSlot = -1;

  constructor(
    readonly route: Route,
    private res: PushResponse | null,
    readonly channels: Channel[],
    private readonly origin: string | undefined,
    private readonly callback: string | undefined,
  ) {}

  onMessage(_channel: Channel, message: Message): void {
    const res = this.release();
    if (res) sendMessages(res, this.route, pollHeaders(this.route, this.origin, this.callback), [message], this.callback, message.time, message.tag);
  }

  onChannelDeleted(_channel: Channel, message: Message): void {
    const res = this.release();
    if (res) sendMessages(res, this.route, pollHeaders(this.route, this.origin, this.callback), [message], this.callback, nowSeconds(this.route), 0);
  }

  onWheelExpire(): void {
    const res = this.release();
    if (res) timeoutAnswer(this.route, res, this.origin, this.callback);
  }

  shutdown(): void {
    this.onWheelExpire();
  }

  abort(): void {
    this.release();
  }

  /** Leaves every channel, the wheel and the held set; returns the response if still unanswered. */
  private release(): PushResponse | null {
    const res = this.res;
    if (!res) return null;
    this.res = null;
    res.held = null;
    const { store, wheel, held } = this.route.ctx;
    for (const channel of this.channels) store.unsubscribe(channel, this);
    wheel.cancel(this);
    held.delete(this);
    return res.writableEnded || res.destroyed ? null : res;
  }
}

/** The hold is over with nothing to say: 304 now/W/0, or the id -3 message with timeoutWithBody. */
function timeoutAnswer(route: Route, res: PushResponse, origin: string | undefined, callback: string | undefined): void {
  const headers = pollHeaders(route, origin, callback);
  const now = nowSeconds(route);
  route.ctx.metrics.longPollTimeouts++;
  if (route.ctx.http.timeoutWithBody) return sendMessages(res, route, headers, [timedOut], callback, now, 0);
  sendNotModified(res, headers, now, 0);
}

const timedOut = specialMessage(TIMEOUT_MESSAGE_ID, "", "Timed out");

function nowSeconds(route: Route): number {
  return Math.floor(route.ctx.clock.now() / 1000);
}
