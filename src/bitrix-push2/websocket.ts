import type { Socket } from "node:net";
import type { Message } from "../core/message.js";
import { Refusal } from "../core/refusal.js";
import { HeldConnection } from "../hold/held-connection.js";
import type { Handler, Route } from "../routing/route.js";
import type { Channel } from "../store/channel.js";
import { WebSocketConnection, type WebSocketPeer } from "../websocket/connection.js";
import { CLOSE_GOING_AWAY, CLOSE_POLICY_VIOLATION, frame, OPCODE_BINARY, OPCODE_TEXT, PING_FRAME } from "../websocket/frame.js";
import { acceptWebSocket } from "../websocket/handshake.js";
import { makeRoom, type EvictableConnection } from "./connection-limit.js";
import { Push2Error, push2Errors } from "./errors.js";
import { binaryBatch, textBatch } from "./frames.js";
import { decodeRequestBatch, encodeResponseBatch, ProtobufError } from "./protobuf.js";
import { clientRequester, runRequests, type Requester } from "./requests.js";
import type { Push2State } from "./state.js";
import { BATCH_WINDOW_MS, openPush2Subscription } from "./subscription.js";

const DEFAULT_PING_SECONDS = 120;

/** One-message frames are built once per message and shared by every socket. */
const BINARY_FRAME = {};
const TEXT_FRAME = {};
const binaryFrame = (m: Message): Buffer => frame(OPCODE_BINARY, binaryBatch([m]));
const textFrame = (m: Message): Buffer => frame(OPCODE_TEXT, textBatch([m]));

/** The peer of a refused connection: there is nothing to leave. */
const REFUSED: WebSocketPeer = { onText() {}, onBinary() {}, onPong() {}, leave() {} };

/**
 * bitrix-push2 WebSocket (`/bitrix/subws/`): the handshake, then a bad channel list closes with
 * 4010 "4010: Wrong Channel Id."; otherwise messages stored after `mid=` are sent, then live ones —
 * batched over 400 ms into one protobuf ResponseBatch (`binaryMode=true`) or text frame. A ping
 * every 120 s (pingMessageInterval); a client that has not answered the previous one is dropped.
 * Binary client frames are RequestBatches on behalf of the signed pair in CHANNEL_ID (publishing
 * to public channels, presence), as on /bitrix/rest/; a refused one closes the socket with its code.
 */
export const push2WebSocketHandler: Handler = (route, request, reply, vars) => {
  const accepted = acceptWebSocket(route, request, reply);
  if (!accepted) return;
  const subscription = openPush2Subscription(route, vars);
  if (subscription instanceof Push2Error || subscription instanceof Refusal) {
    route.ctx.metrics.countRejected(subscription.status);
    const refused = new WebSocketConnection(route.ctx, accepted.socket, REFUSED, route.config, true);
    if (subscription instanceof Push2Error) return refused.close(subscription.code, subscription.reason);
    return refused.close(CLOSE_POLICY_VIOLATION, subscription.explain); // a store cap (maxNumberOfChannels), not in Push server 2.0
  }
  const { state, channels, binary, mid, limited } = subscription;
  const socket = new Push2Socket(route, state, accepted.socket, channels, binary, clientRequester(state, route, vars));
  socket.start(mid ? state.resume(channels, mid) : [], accepted.head, limited);
};

/** A Push server 2.0 subscriber on a WebSocket: batched frames, its own ping rhythm, client requests. */
class Push2Socket extends HeldConnection implements WebSocketPeer, EvictableConnection {
  readonly mode = "websocket";
  readonly protocol = "bitrix-push2";
  private readonly connection: WebSocketConnection;
  private readonly pingMs: number;
  /** Messages waiting for the end of the batching window. */
  private pending: Message[] = [];
  private flushAt = 0;
  private pingAt = 0;
  private awaitingPong = false;

  constructor(
    readonly route: Route,
    private readonly state: Push2State,
    socket: Socket,
    channels: Channel[],
    /** protobuf frames (`binaryMode=true`), or text envelopes. */
    readonly binary: boolean,
    private readonly requester: Requester | undefined,
  ) {
    super(route.ctx, channels);
    this.connection = new WebSocketConnection(route.ctx, socket, this, route.config, true);
    this.pingMs = (route.config.pingMessageInterval ?? DEFAULT_PING_SECONDS) * 1000;
  }

  /** Sends the replay, then joins the channels, closing the oldest connections of a full `limited` channel. */
  start(replay: readonly Message[], head: Buffer, limited: readonly Channel[]): void {
    const { ctx } = this;
    if (replay.length > 0) this.write(replay);
    if (ctx.draining) return this.connection.close(CLOSE_GOING_AWAY, "");
    makeRoom(limited, ctx.http.maxConnPerChannel);
    this.join();
    this.state.websockets++;
    this.pingAt = ctx.clock.now() + this.pingMs;
    this.reschedule();
    this.connection.limitBacklog();
    if (head.length > 0) this.connection.received(head);
  }

  onMessage(_channel: Channel, message: Message): void {
    const push2 = message.push2;
    if (!this.holding || !push2) return;
    // One publish to several of this socket's channels is one message (one mid).
    for (const queued of this.pending) if (queued.push2!.mid.equals(push2.mid)) return;
    this.pending.push(message);
    if (this.flushAt === 0) {
      this.flushAt = this.ctx.clock.now() + BATCH_WINDOW_MS;
      this.reschedule();
    }
  }

  onChannelDeleted(): void {}

  /** A newer connection needs the room (makeRoom). */
  evict(): void {
    this.closeWithError(push2Errors.tooManyConnections);
  }

  onWheelExpire(): void {
    if (!this.holding) return;
    const now = this.ctx.clock.now();
    if (this.flushAt !== 0 && now >= this.flushAt) this.flush();
    if (!this.holding) return; // the flush found a client that does not read
    if (now >= this.pingAt) {
      if (this.awaitingPong) {
        this.ctx.log.debug(`bitrix-push2 websocket ${this.connection.remoteAddress}: no pong, dropped`);
        this.release();
        return this.connection.destroy();
      }
      this.connection.write(PING_FRAME);
      this.awaitingPong = true;
      this.pingAt = now + this.pingMs;
    }
    this.reschedule();
  }

  private reschedule(): void {
    this.ctx.wheel.schedule(this, this.flushAt !== 0 ? Math.min(this.flushAt, this.pingAt) : this.pingAt);
  }

  private flush(): void {
    const messages = this.pending;
    this.pending = [];
    this.flushAt = 0;
    if (messages.length > 0) this.write(messages);
  }

  /** One frame of messages; the connection cuts a client past subscriberMaxBacklog. */
  private write(messages: readonly Message[]): void {
    const { connection } = this;
    if (messages.length === 1) {
      connection.write(this.binary ? messages[0]!.rendered(BINARY_FRAME, binaryFrame) : messages[0]!.rendered(TEXT_FRAME, textFrame));
    } else {
      connection.write(this.binary ? frame(OPCODE_BINARY, binaryBatch(messages)) : frame(OPCODE_TEXT, textBatch(messages)));
    }
    this.ctx.metrics.deliveredMessages += messages.length;
  }

  // --- client frames
  onText(): void {}

  onBinary(payload: Buffer): void {
    if (!this.holding) return;
    if (!this.requester) return this.closeWithError(push2Errors.publicChannelRequired);
    let requests;
    try {
      requests = decodeRequestBatch(payload);
    } catch (error) {
      if (error instanceof ProtobufError) return this.closeWithError(push2Errors.wrongRequestData);
      throw error;
    }
    const { responses, refusal } = runRequests(this.state, this.requester, requests);
    if (refusal) return this.closeWithError(refusal);
    if (responses.length > 0) this.connection.write(frame(OPCODE_BINARY, encodeResponseBatch(responses)));
  }

  onPong(): void {
    this.awaitingPong = false;
  }

  leave(): void {
    this.release();
  }

  /** Leaves the channels and closes the connection with this code. */
  private closeWith(code: number, reason: string): void {
    this.release();
    this.connection.close(code, reason);
  }

  private closeWithError(error: Push2Error): void {
    this.closeWith(error.code, error.reason);
  }

  // --- Held
  shutdown(): void {
    this.flush();
    this.closeWith(CLOSE_GOING_AWAY, "");
  }

  abort(): void {
    this.release();
    this.connection.destroy();
  }

  protected override released(): void {
    this.state.websockets--;
    this.state.seen(this.channels);
    this.pending = [];
    this.flushAt = 0;
  }
}
