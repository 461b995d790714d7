import { midText } from "../core/mid.js";
import type { Message } from "../core/message.js";
import { Refusal } from "../core/refusal.js";
import type { Headers, PushReply } from "../http/exchange.js";
import { HeldPoll } from "../hold/held-poll.js";
import { EXPLAIN_HEADER } from "../routing/answers.js";
import type { Handler, Route } from "../routing/route.js";
import type { Channel } from "../store/channel.js";
import { binaryBatch, textBatch } from "./frames.js";
import type { Push2State } from "./state.js";
import { makeRoom, type EvictableConnection } from "./connection-limit.js";
import { Push2Error, push2Errors } from "./errors.js";
import { BATCH_WINDOW_MS, openPush2Subscription } from "./subscription.js";

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
 * Holding it may close the oldest connection of a full private channel (maxConnPerChannel, makeRoom).
 */
export const push2LongPollingHandler: Handler = (route, request, reply, vars) => {
  const origin = route.origin(vars);
  if (request.method === "OPTIONS") return reply.send(200, baseHeaders(origin));
  if (request.method !== "GET") return refuse(route, reply, origin, 405, "Method not allowed.");
  const subscription = openPush2Subscription(route, vars);
  if (subscription instanceof Push2Error) return refuse(route, reply, origin, subscription.status, subscription.reason);
  if (subscription instanceof Refusal) return refuse(route, reply, origin, subscription.status, subscription.explain);
  const { state, channels, binary, mid, limited } = subscription;
  const replay = mid ? state.resume(channels, mid) : [];
  if (replay.length > 0) return answer(route, reply, origin, binary, replay);
  const newest = mid ?? state.newestMid(channels);
  const lastMid = newest ? midText(newest) : "";
  if (route.ctx.draining) return timeout(route, reply, origin, lastMid);
  makeRoom(limited, route.ctx.http.maxConnPerChannel);
  new Push2LongPoll(route, state, reply, channels, origin, binary, lastMid).hold();
};

/** A refusal as Push server 2.0 sends it: the text as the body (`4010: …`); the explain header without the code. */
function refuse(route: Route, reply: PushReply, origin: string | undefined, status: number, text: string): void {
  route.ctx.metrics.countRejected(status);
  const headers = baseHeaders(origin);
  headers.push(EXPLAIN_HEADER, text.replace(/^\d+: /, ""), "Content-Type", "text/plain; charset=utf-8");
  reply.send(status, headers, [Buffer.from(text)]);
}

function answer(route: Route, reply: PushReply, origin: string | undefined, binary: boolean, messages: readonly Message[]): void {
  const headers = baseHeaders(origin);
  headers.push("Content-Type", binary ? "application/octet-stream" : "text/plain; charset=utf-8");
  route.ctx.metrics.deliveredMessages += messages.length;
  reply.send(200, headers, [binary ? binaryBatch(messages) : textBatch(messages)]);
}

function timeout(route: Route, reply: PushReply, origin: string | undefined, lastMid: string): void {
  route.ctx.metrics.longPollTimeouts++;
  const headers = baseHeaders(origin);
  headers.push("Expires", TIMEOUT_EXPIRES, "Last-Message-Id", lastMid);
  reply.send(304, headers);
}

/** One held push2 long-poll. */
class Push2LongPoll extends HeldPoll implements EvictableConnection {
  readonly mode = "long-polling";
  readonly protocol = "bitrix-push2";
  /** Messages waiting for the end of the batching window. */
  private pending: Message[] = [];

  constructor(
    readonly route: Route,
    private readonly state: Push2State,
    reply: PushReply,
    channels: Channel[],
    private readonly origin: string | undefined,
    readonly binary: boolean,
    private readonly lastMid: string,
  ) {
    super(route.ctx, channels, reply);
  }

  hold(): void {
    this.holdUntil(this.ctx.clock.now() + (this.route.config.longpollingConnectionTtl ?? DEFAULT_HOLD_SECONDS) * 1000);
    this.state.pollings++;
  }

  /**
   * The first message opens the batching window: what else arrives within BATCH_WINDOW_MS goes in
   * the same answer (the hold's wheel entry is moved to the window's end), as Push server 2.0 batches.
   */
  onMessage(_channel: Channel, message: Message): void {
    const push2 = message.push2;
    if (!this.holding || !push2) return;
    for (const queued of this.pending) if (queued.push2!.mid.equals(push2.mid)) return; // one publish to several of its channels
    this.pending.push(message);
    if (this.pending.length === 1) {
      const { wheel, clock } = this.ctx;
      wheel.schedule(this, clock.now() + BATCH_WINDOW_MS);
    }
  }

  onChannelDeleted(): void {
    this.onWheelExpire();
  }

  /** A newer connection needs the room: 429 `4029: Too many connections` (makeRoom). */
  evict(): void {
    const reply = this.answerable();
    const { tooManyConnections } = push2Errors;
    if (reply) refuse(this.route, reply, this.origin, tooManyConnections.status, tooManyConnections.reason);
  }

  onWheelExpire(): void {
    const messages = this.pending;
    const reply = this.answerable();
    if (!reply) return;
    if (messages.length > 0) answer(this.route, reply, this.origin, this.binary, messages);
    else timeout(this.route, reply, this.origin, this.lastMid);
  }

  protected override released(): void {
    super.released();
    this.pending = [];
    this.state.pollings--;
    this.state.seen(this.channels);
  }
}
