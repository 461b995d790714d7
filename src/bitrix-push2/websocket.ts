import type { Socket } from "node:net";
import type { Channel, ChannelSubscriber } from "../core/channel.js";
import type { Message } from "../core/message.js";
import { Refusal } from "../core/refusal.js";
import type { WheelEntry } from "../core/timer-wheel.js";
import type { Held } from "../http/context.js";
import type { PushResponse } from "../http/push-response.js";
import type { Handler, Route } from "../http/router.js";
import { acceptWebSocket } from "../subscribers/ws-handshake.js";
import {
  CLOSE_GOING_AWAY, closeFrame, frame, OPCODE_BINARY, OPCODE_PONG, OPCODE_TEXT, PING_FRAME, WebSocketReader, type WebSocketSink,
} from "../subscribers/ws-frame.js";
import { binaryBatch, textBatch } from "./frames.js";
import { BATCH_WINDOW_MS } from "./batching.js";
import type { Push2Hub } from "./hub.js";
import { decodeRequestBatch, encodeResponseBatch, ProtobufError } from "./protobuf.js";
import { clientRequester } from "./publisher.js";
import { runRequests, type Requester } from "./requests.js";
import { serverStatJson } from "./server-stat.js";
import { openPush2Subscription, WRONG_CHANNEL_CODE } from "./subscription.js";

const DEFAULT_PING_SECONDS = 120;
const CLOSE_WAIT_MS = 5000;
const TOO_MANY_CONNECTIONS_CODE = 4029;

/** One-message frames are built once per message and shared by every socket. */
const BINARY_FRAME = {};
const TEXT_FRAME = {};
const binaryFrame = (m: Message): Buffer => frame(OPCODE_BINARY, binaryBatch([m]));
const textFrame = (m: Message): Buffer => frame(OPCODE_TEXT, textBatch([m]));

/**
 * bitrix-push2 WebSocket (`/bitrix/subws/`): the handshake, then a bad channel list closes with
 * 4010 "Wrong Channel Id."; otherwise messages stored after `mid=` are sent, then live ones —
 * batched over 400 ms into one protobuf ResponseBatch (`binaryMode=true`) or text frame. A ping
 * every 120 s (pingMessageInterval); a client that has not answered the previous one is dropped.
 * Binary client frames are RequestBatches on behalf of the signed pair in CHANNEL_ID (publishing
 * to public channels, presence), as on /bitrix/rest/.
 */
export const push2WebSocketHandler: Handler = (route, req, res, vars) => {
  const socket = acceptWebSocket(req, res);
  if (!socket) return;
  const subscription = openPush2Subscription(route, vars);
  if (subscription instanceof Refusal) {
    route.ctx.metrics.countRejected(subscription.status);
    const code = subscription.status === 400 ? WRONG_CHANNEL_CODE : TOO_MANY_CONNECTIONS_CODE;
    return new Push2Socket(route, undefined, socket, [], false, undefined).refuse(code, subscription.explain);
  }
  const { hub, channels, binary, mid } = subscription;
  const connection = new Push2Socket(route, hub, socket, channels, binary, clientRequester(hub, route, vars));
  connection.start(mid ? hub.resume(channels, mid) : [], (res as PushResponse).upgradeHead);
};

const CONNECTION = Symbol("pushwire.push2-websocket");
type Push2SocketHolder = Socket & { [CONNECTION]?: Push2Socket };

class Push2Socket implements ChannelSubscriber, WheelEntry, Held, WebSocketSink {
  readonly mode = "websocket";
  wheelDeadline = 0;
  wheelNext: WheelEntry | null = null;
  wheelPrev: WheelEntry | null = null;
  wheelSlot = -1;
  private readonly reader: WebSocketReader;
  private readonly pingMs: number;
  /** Messages waiting for the end of the batching window. */
  private pending: Message[] = [];
  private flushAt = 0;
  private pingAt = 0;
  private awaitingPong = false;
  private subscribed = false;
  private closing = false;

  constructor(
    readonly route: Route,
    private readonly hub: Push2Hub | undefined,
    private readonly socket: Push2SocketHolder,
    readonly channels: Channel[],
    /** protobuf frames (`binaryMode=true`), or text envelopes. */
    readonly binary: boolean,
    private readonly requester: Requester | undefined,
  ) {
    this.reader = new WebSocketReader(this, route.config.websocketMaxFrameSize, true);
    this.pingMs = (route.config.pingMessageInterval ?? DEFAULT_PING_SECONDS) * 1000;
    socket[CONNECTION] = this;
    socket.on("data", onData);
    socket.on("close", onClose);
    socket.on("error", ignoreError);
  }

  start(replay: readonly Message[], head: Buffer | null): void {
    const { ctx } = this.route;
    if (replay.length > 0) this.write(replay);
    if (ctx.draining) return this.sendClose(CLOSE_GOING_AWAY, "");
    for (const channel of this.channels) ctx.store.subscribe(channel, this);
    this.subscribed = true;
    this.hub!.websockets++;
    ctx.held.add(this);
    this.pingAt = ctx.clock.now() + this.pingMs;
    this.reschedule();
    if (head && head.length > 0) this.reader.feed(head);
  }

  refuse(code: number, reason: string): void {
    this.sendClose(code, reason);
  }

  onMessage(_channel: Channel, message: Message): void {
    if (this.closing) return;
    // One publish to several of this socket's channels is one message (one mid).
    for (const queued of this.pending) if (queued.text === message.text) return;
    this.pending.push(message);
    if (this.flushAt === 0) {
      this.flushAt = this.route.ctx.clock.now() + BATCH_WINDOW_MS;
      this.reschedule();
    }
  }

  onChannelDeleted(): void {}

  onWheelExpire(): void {
    if (this.closing) return void this.socket.destroy(); // the client never answered our close
    const now = this.route.ctx.clock.now();
    if (this.flushAt !== 0 && now >= this.flushAt) this.flush();
    if (now >= this.pingAt) {
      if (this.awaitingPong) {
        this.route.ctx.log.debug(`bitrix-push2 websocket ${this.socket.remoteAddress}: no pong, dropped`);
        this.release();
        return void this.socket.destroy();
      }
      this.socket.write(PING_FRAME);
      this.awaitingPong = true;
      this.pingAt = now + this.pingMs;
    }
    this.reschedule();
  }

  private reschedule(): void {
    const { wheel } = this.route.ctx;
    wheel.schedule(this, this.flushAt !== 0 ? Math.min(this.flushAt, this.pingAt) : this.pingAt);
  }

  private flush(): void {
    const messages = this.pending;
    this.pending = [];
    this.flushAt = 0;
    if (messages.length > 0) this.write(messages);
  }

  private write(messages: readonly Message[]): void {
    const { socket, route } = this;
    if (messages.length === 1) {
      socket.write(this.binary ? messages[0]!.rendered(BINARY_FRAME, binaryFrame) : messages[0]!.rendered(TEXT_FRAME, textFrame));
    } else {
      socket.write(this.binary ? frame(OPCODE_BINARY, binaryBatch(messages)) : frame(OPCODE_TEXT, textBatch(messages)));
    }
    route.ctx.metrics.deliveredMessages += messages.length;
    if (socket.writableLength > route.config.subscriberMaxBacklog) {
      route.ctx.log.info(`bitrix-push2 websocket ${socket.remoteAddress}: ${socket.writableLength} bytes unsent, dropped`);
      this.release();
      socket.destroy();
    }
  }

  // --- client frames
  onText(): void {}

  onBinary(payload: Buffer): void {
    if (this.closing || !this.hub) return;
    if (!this.requester) return this.sendClose(4012, "Wrong Public Channel Id.");
    let requests;
    try {
      requests = decodeRequestBatch(payload);
    } catch (error) {
      if (error instanceof ProtobufError) return this.sendClose(1007, "Malformed protobuf RequestBatch.");
      throw error;
    }
    const { responses } = runRequests(this.hub, this.requester, requests, serverStatJson);
    if (responses.length > 0) this.socket.write(frame(OPCODE_BINARY, encodeResponseBatch(responses)));
  }

  onPing(payload: Buffer): void {
    if (!this.closing) this.socket.write(frame(OPCODE_PONG, payload));
  }

  onPong(): void {
    this.awaitingPong = false;
  }

  onClose(code: number | undefined): void {
    if (this.closing) return void this.socket.destroySoon();
    this.release();
    this.sendClose(code, "");
  }

  onProtocolError(code: number, reason: string): void {
    if (this.closing) return void this.socket.destroySoon();
    this.release();
    this.sendClose(code, reason);
  }

  // --- Held
  shutdown(): void {
    if (this.closing) return void this.socket.destroy();
    this.flush();
    this.release();
    this.sendClose(CLOSE_GOING_AWAY, "");
  }

  abort(): void {
    this.release();
    this.socket.destroy();
  }

  /** The socket is gone: leave everything. */
  gone(): void {
    this.release();
    this.route.ctx.wheel.cancel(this);
    this.route.ctx.held.delete(this);
  }

  private release(): void {
    if (!this.subscribed) return;
    this.subscribed = false;
    const { store } = this.route.ctx;
    for (const channel of this.channels) store.unsubscribe(channel, this);
    this.hub!.websockets--;
    this.hub!.seen(this.channels);
    this.pending = [];
    this.flushAt = 0;
  }

  /** Our close frame (`code` undefined: empty), then up to CLOSE_WAIT_MS for the client's. */
  private sendClose(code: number | undefined, reason: string): void {
    const { socket, route: { ctx } } = this;
    if (this.closing || socket.destroyed) return;
    this.closing = true;
    socket.end(code === undefined ? Buffer.from([0x88, 0x00]) : closeFrame(code, reason));
    if (ctx.draining) return void socket.destroySoon();
    ctx.held.add(this);
    ctx.wheel.schedule(this, ctx.clock.now() + CLOSE_WAIT_MS);
  }
}

function onData(this: Push2SocketHolder, chunk: Buffer): void {
  const connection = this[CONNECTION];
  if (!connection) return;
  try {
    connection["reader"].feed(chunk);
  } catch (error) {
    // A failure handling one client's frame costs that connection, never the process.
    connection.route.ctx.log.error(`bitrix-push2 websocket ${this.remoteAddress}: ${(error as Error).stack ?? error}`);
    connection.abort();
  }
}

function onClose(this: Push2SocketHolder): void {
  const connection = this[CONNECTION];
  if (connection) {
    this[CONNECTION] = undefined;
    connection.gone();
  }
}

function ignoreError(): void {
  // 'close' follows every socket error; that is where the connection is released.
}
