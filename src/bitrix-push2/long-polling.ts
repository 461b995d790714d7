import type { Channel, ChannelSubscriber } from "../core/channel.js";
import type { Message } from "../core/message.js";
import { Refusal } from "../core/refusal.js";
import type { WheelEntry } from "../core/timer-wheel.js";
import type { Held } from "../http/context.js";
import { abortHeldOnClose, type PushResponse } from "../http/push-response.js";
import { EXPLAIN_HEADER, sendBody, sendEmpty, type Headers } from "../http/respond.js";
import type { Handler, Route } from "../http/router.js";
import { messageMid, type Push2Hub } from "./hub.js";
import { midText } from "./mid.js";
import { binaryBatch, textBatch } from "./frames.js";
import { openPush2Subscription, WRONG_CHANNEL_CODE } from "./subscription.js";
import { BATCH_WINDOW_MS } from "./batching.js";

/** Push server 2.0's timeout marker: with it, the client reads `Last-Message-Id` from a 304. */
export const TIMEOUT_EXPIRES = "Thu, 01 Jan 1973 11:11:01 GMT";
const DEFAULT_HOLD_SECONDS = 40;

function baseHeaders(origin: string | undefined): Headers {
  const headers: Headers = ["Cache-Control", "no-cache, no-store, must-revalidate"];
  if (origin) {
    headers.push("Access-Control-Allow-Origin", origin, "Access-Control-Allow-Methods", "GET, OPTIONS",
      "Access-Control-Allow-Headers", "If-Modified-Since, If-None-Match", "Access-Control-Expose-Headers", "Last-Message-Id");
  }
  return headers;
}

/**
 * bitrix-push2 long polling (`/bitrix/sub/`): with `mid=`, stored messages newer than it are
 * answered at once; otherwise the request is held (40 s, or longpollingConnectionTtl) until a
 * message arrives — 200, 400 ms later, with it and whatever followed it in that window: a protobuf
 * ResponseBatch (`binaryMode=true`) or text envelopes — or the hold ends: 304 with `Last-Message-Id` and the 1973 `Expires` marker.
 */
export const push2LongPollingHandler: Handler = (route, req, res, vars) => {
  const origin = route.origin(vars);
  if (req.method === "OPTIONS") return sendEmpty(res, 200, baseHeaders(origin));
  if (req.method !== "GET") return sendRefusalText(res, 405, "Method not allowed.", baseHeaders(origin));
  const subscription = openPush2Subscription(route, vars);
  if (subscription instanceof Refusal) {
    route.ctx.metrics.countRejected(subscription.status);
    const text = subscription.status === 400 ? `${WRONG_CHANNEL_CODE}: ${subscription.explain}` : subscription.explain;
    return sendRefusalText(res, subscription.status, text, baseHeaders(origin));
  }
  const { hub, channels, binary, mid } = subscription;
  const replay = mid ? hub.resume(channels, mid) : [];
  if (replay.length > 0) return answer(route, res, origin, binary, replay);
  const { ctx } = route;
  const lastMid = mid ? midText(mid) : newestMid(channels);
  if (ctx.draining) return timeout(route, res, origin, lastMid);
  const poll = new Push2LongPoll(route, hub, res as PushResponse, channels, origin, binary, lastMid);
  for (const channel of channels) ctx.store.subscribe(channel, poll);
  hub.pollings++;
  ctx.held.add(poll);
  ctx.wheel.schedule(poll, ctx.clock.now() + (route.config.longpollingConnectionTtl ?? DEFAULT_HOLD_SECONDS) * 1000);
  (res as PushResponse).held = poll;
  res.once("close", abortHeldOnClose);
};

function sendRefusalText(res: Parameters<Handler>[2], status: number, text: string, headers: Headers): void {
  headers.push(EXPLAIN_HEADER, text.replace(/^\d+: /, ""), "Content-Type", "text/plain; charset=utf-8");
  sendBody(res, status, headers, [Buffer.from(text)]);
}

/** The newest stored mid on these channels, "" when none: what a timeout reports. */
function newestMid(channels: readonly Channel[]): string {
  let newest: Buffer | undefined;
  for (const channel of channels) {
    const last = channel.messages.last();
    if (!last) continue;
    const mid = messageMid(last);
    if (!newest || mid.compare(newest) > 0) newest = mid;
  }
  return newest ? midText(newest) : "";
}

function answer(route: Route, res: Parameters<Handler>[2], origin: string | undefined, binary: boolean, messages: readonly Message[]): void {
  const headers = baseHeaders(origin);
  headers.push("Content-Type", binary ? "application/octet-stream" : "text/plain; charset=utf-8");
  route.ctx.metrics.deliveredMessages += messages.length;
  sendBody(res, 200, headers, [binary ? binaryBatch(messages) : textBatch(messages)]);
}

function timeout(route: Route, res: Parameters<Handler>[2], origin: string | undefined, lastMid: string): void {
  route.ctx.metrics.longPollTimeouts++;
  const headers = baseHeaders(origin);
  headers.push("Expires", TIMEOUT_EXPIRES, "Last-Message-Id", lastMid);
  sendEmpty(res, 304, headers);
}

/** One held push2 long-poll. */
class Push2LongPoll implements ChannelSubscriber, WheelEntry, Held {
  readonly mode = "long-polling";
  wheelDeadline = 0;
  wheelNext: WheelEntry | null = null;
  wheelPrev: WheelEntry | null = null;
  wheelSlot = -1;
  /** Messages waiting for the end of the batching window. */
  private pending: Message[] = [];

  constructor(
    readonly route: Route,
    private readonly hub: Push2Hub,
    private res: PushResponse | null,
    readonly channels: Channel[],
    private readonly origin: string | undefined,
    readonly binary: boolean,
    private readonly lastMid: string,
  ) {}

  /**
   * The first message opens the batching window: what else arrives within BATCH_WINDOW_MS goes in
   * the same answer (the hold's wheel entry is moved to the window's end), as Push server 2.0 batches.
   */
  onMessage(_channel: Channel, message: Message): void {
    if (!this.res) return;
    for (const queued of this.pending) if (queued.text === message.text) return; // one publish to several of its channels
    this.pending.push(message);
    if (this.pending.length === 1) {
      const { wheel, clock } = this.route.ctx;
      wheel.schedule(this, clock.now() + BATCH_WINDOW_MS);
    }
  }

  onChannelDeleted(): void {
    this.onWheelExpire();
  }

  onWheelExpire(): void {
    const messages = this.pending;
    const res = this.release();
    if (!res) return;
    if (messages.length > 0) answer(this.route, res, this.origin, this.binary, messages);
    else timeout(this.route, res, this.origin, this.lastMid);
  }

  /** Shutdown: what is waiting goes now, otherwise the timeout answer. */
  shutdown(): void {
    this.onWheelExpire();
  }

  abort(): void {
    this.release();
  }

  private release(): PushResponse | null {
    const res = this.res;
    if (!res) return null;
    this.res = null;
    this.pending = [];
    res.held = null;
    const { store, wheel, held } = this.route.ctx;
    for (const channel of this.channels) store.unsubscribe(channel, this);
    this.hub.pollings--;
    this.hub.seen(this.channels);
    wheel.cancel(this);
    held.delete(this);
    return res.writableEnded || res.destroyed ? null : res;
  }
}


