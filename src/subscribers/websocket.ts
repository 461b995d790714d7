import type { Socket } from "node:net";
import type { Channel } from "../core/channel.js";
import type { Message } from "../core/message.js";
import { Refusal } from "../core/refusal.js";
import type { Template } from "../core/template.js";
import type { PushResponse } from "../http/push-response.js";
import type { Handler, Route } from "../http/router.js";
import { LiveSubscriber, type EndReason } from "./live-subscriber.js";
import { acceptWebSocket } from "./ws-handshake.js";
import { catchUp, openSubscription, readCursor } from "./subscription.js";
import {
  CLOSE_GOING_AWAY, CLOSE_NORMAL, CLOSE_POLICY_VIOLATION, closeFrame, EMPTY_CLOSE_FRAME, frame, frameHeader,
  OPCODE_PONG, OPCODE_TEXT, PING_FRAME, WebSocketReader, type WebSocketSink,
} from "./ws-frame.js";

/** After the server's close frame, how long the client may take to close its side. */
const CLOSE_WAIT_MS = 5000;

/**
 * `websocket` (RFC 6455, by hand on the upgraded socket): handshake, then channel validation
 * (a refusal is a close frame 1008 whose reason is push-stream's JSON explain), then the header
 * template, catch-up and live messages as text frames, pings as control frames (PROTOCOL.md §8.6
 * with the corrections of §18).
 */
export const websocketHandler: Handler = (route, req, res, vars) => {
  const socket = acceptWebSocket(req, res);
  if (!socket) return;
  const subscription = openSubscription(route, vars);
  if (subscription instanceof Refusal) {
    route.ctx.metrics.countRejected(subscription.status);
    return new WebSocketSubscriber(route, [], socket).refuse(subscription);
  }
  const messages = catchUp(route, subscription, readCursor(route, vars));
  const subscriber = new WebSocketSubscriber(route, subscription.channels, socket);
  subscriber.start(messages, (res as PushResponse).upgradeHead);
};

/** Text frames of messages, built once per message per template and shared by every socket. */
class TextFrames {
  private static readonly byTemplate = new Map<Template, TextFrames>();
  readonly renderUncached: (message: Message) => Buffer;

  static of(template: Template): TextFrames {
    let frames = TextFrames.byTemplate.get(template);
    if (!frames) TextFrames.byTemplate.set(template, (frames = new TextFrames(template)));
    return frames;
  }

  private constructor(private readonly template: Template) {
    this.renderUncached = (message) => {
      const payload = this.template.render(message);
      return Buffer.concat([frameHeader(OPCODE_TEXT, payload.length), payload]);
    };
  }

  render(message: Message): Buffer {
    return message.rendered(this, this.renderUncached);
  }
}

const SUBSCRIBER = Symbol("pushwire.websocket");
type WebSocketSocket = Socket & { [SUBSCRIBER]?: WebSocketSubscriber };

/**
 * One WebSocket connection. It lives through two phases: subscribed (on its channels, pinged,
 * reading client frames) and closing (our close frame and FIN sent, waiting up to CLOSE_WAIT_MS for
 * the client to close, on the wheel). It stays in the held set until the socket is gone, so a shutdown can cut
 * a closing socket too.
 */
class WebSocketSubscriber extends LiveSubscriber implements WebSocketSink {
  readonly mode = "websocket";
  private readonly frames: TextFrames;
  private reader: WebSocketReader | null = null;
  /** Our close frame is sent; waiting for the client to close its side. */
  private closing = false;

  constructor(route: Route, channels: Channel[], private readonly socket: WebSocketSocket) {
    super(route, channels);
    this.frames = TextFrames.of(route.messageTemplate);
  }

  start(messages: readonly Message[], head: Buffer | null): void {
    const { route } = this;
    this.listen();
    if (route.header.length > 0) this.socket.write(frame(OPCODE_TEXT, route.header));
    this.replay(messages);
    if (route.ctx.draining) return this.writeEnd("shutdown");
    this.register();
    if (head && head.length > 0) this.onData(head);
  }

  /** A refusal after the handshake: push-stream's JSON explain in a 1008 close frame. */
  refuse(refusal: Refusal): void {
    this.listen();
    this.released = true;
    this.sendClose(CLOSE_POLICY_VIOLATION, `{"http_status": ${refusal.status}, "explain":"${refusal.explain}"}`);
    // Nothing to wait for: a refused client gets its reason and the connection ends (push-stream does the same).
    this.socket.destroySoon();
  }

  private listen(): void {
    const { socket } = this;
    socket[SUBSCRIBER] = this;
    socket.on("data", onSocketData);
    socket.on("end", onSocketEnd);
    socket.on("close", onSocketClose);
    socket.on("error", ignoreError);
  }

  onData(chunk: Buffer): void {
    (this.reader ??= new WebSocketReader(this, this.route.config.websocketMaxFrameSize)).feed(chunk);
  }

  onText(payload: Buffer): void {
    if (!this.route.config.websocketAllowPublish || this.released) return;
    const { store, log } = this.route.ctx;
    const options = { eventId: "", eventType: "", store: this.route.config.storeMessages };
    for (const channel of [...this.channels]) {
      if (channel.forEvents) continue; // only the server writes there
      try {
        store.publish(channel, payload, options);
      } catch (error) {
        log.error(`websocket publish to ${channel.id}: ${(error as Error).stack ?? error}`);
      }
    }
  }

  onPing(payload: Buffer): void {
    if (!this.closing) this.socket.write(frame(OPCODE_PONG, payload));
  }

  onPong(): void {}

  onClose(code: number | undefined): void {
    if (this.closing) return void this.socket.destroySoon(); // the answer to our close: the handshake is done
    this.release();
    // Echo the client's status (RFC 6455 §5.5.1); the client closes its side on our FIN.
    this.sendClose(code, "");
  }

  onProtocolError(code: number, reason: string): void {
    if (this.closing) return void this.socket.destroySoon(); // whatever the client sends now, we are done
    this.route.ctx.log.debug(`websocket ${this.socket.remoteAddress}: closing with ${code}: ${reason}`);
    this.release();
    this.sendClose(code, reason);
  }

  override onWheelExpire(): void {
    if (this.closing) return void this.socket.destroy(); // the client never answered our close
    super.onWheelExpire();
  }

  override shutdown(): void {
    if (this.closing) return void this.socket.destroy();
    super.shutdown();
  }

  /** The socket closed: leave everything. */
  gone(): void {
    this.release();
    this.route.ctx.wheel.cancel(this);
    this.route.ctx.held.delete(this);
  }

  protected writeMessage(message: Message): number {
    const bytes = this.frames.render(message);
    this.socket.write(bytes);
    return bytes.length;
  }

  protected writePing(): number {
    this.socket.write(PING_FRAME);
    return PING_FRAME.length;
  }

  protected writeEnd(reason: EndReason): void {
    if (this.route.footer.length > 0) this.socket.write(frame(OPCODE_TEXT, this.route.footer));
    this.sendClose(reason === "shutdown" ? CLOSE_GOING_AWAY : CLOSE_NORMAL, "");
  }

  protected get backlog(): number {
    return this.socket.writableLength;
  }

  protected get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  protected destroy(): void {
    this.socket.destroy();
  }

  /**
   * Our close frame (`code` undefined: an empty one), then the closing phase: a fresh reader
   * watches for the client's close, the wheel bounds the wait. While the server drains, the
   * wheel no longer turns: the socket is closed right after the frame.
   */
  private sendClose(code: number | undefined, reason: string): void {
    const { socket, route: { ctx } } = this;
    if (this.closing || socket.destroyed) return;
    this.closing = true;
    // The server closes TCP first (RFC 6455 §7.1.1): the frame, then our FIN; we still read the
    // client's close on the half-open socket.
    socket.end(code === undefined ? EMPTY_CLOSE_FRAME : closeFrame(code, reason));
    if (ctx.draining) return void socket.destroySoon();
    this.reader = null;
    socket.resume();
    ctx.held.add(this);
    ctx.wheel.schedule(this, ctx.clock.now() + CLOSE_WAIT_MS);
  }
}

function onSocketData(this: WebSocketSocket, chunk: Buffer): void {
  this[SUBSCRIBER]?.onData(chunk);
}

/** The client closed its side: close ours (the socket allows half-open connections). */
function onSocketEnd(this: WebSocketSocket): void {
  this[SUBSCRIBER]?.gone();
  this.end();
}

function onSocketClose(this: WebSocketSocket): void {
  const subscriber = this[SUBSCRIBER];
  if (subscriber) {
    this[SUBSCRIBER] = undefined;
    subscriber.gone();
  }
}

function ignoreError(): void {
  // 'close' follows every socket error; that is where the subscriber is released.
}
