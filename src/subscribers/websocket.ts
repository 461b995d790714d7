import { createHash } from "node:crypto";
import type { Socket } from "node:net";
import type { Channel } from "../core/channel.js";
import type { Message } from "../core/message.js";
import { Refusal, refusals } from "../core/refusal.js";
import type { Template } from "../core/template.js";
import type { PushResponse } from "../http/push-response.js";
import { addNoCache, sendRefusal } from "../http/respond.js";
import type { Handler, Route } from "../http/router.js";
import { LiveSubscriber, type EndReason } from "./live-subscriber.js";
import { catchUp, openSubscription, readCursor } from "./subscription.js";
import {
  CLOSE_GOING_AWAY, CLOSE_NORMAL, CLOSE_POLICY_VIOLATION, closeFrame, EMPTY_CLOSE_FRAME, frame, frameHeader,
  OPCODE_PONG, OPCODE_TEXT, PING_FRAME, WEBSOCKET_GUID, WebSocketReader, type WebSocketSink,
} from "./ws-frame.js";

/** After the server's close frame, how long the client may take to close its side. */
const CLOSE_WAIT_MS = 5000;
const SUPPORTED_VERSIONS = new Set(["8", "13"]);

/**
 * `websocket` (RFC 6455, by hand on the upgraded socket): handshake, then channel validation
 * (a refusal is a close frame 1008 whose reason is push-stream's JSON explain), then the header
 * template, catch-up and live messages as text frames, pings as control frames (PROTOCOL.md §8.6
 * with the corrections of §18).
 */
export const websocketHandler: Handler = (route, req, res, vars) => {
  if (req.method !== "GET") return sendRefusal(res, refusals.methodNotAllowed, ["Allow", "GET"]);
  const headers = req.headers;
  if (!headers.connection || !headers.upgrade || !headers["sec-websocket-key"] || !headers["sec-websocket-version"]) {
    return sendRefusal(res, refusals.websocketHeadersMissing, addNoCache([]));
  }
  if (!SUPPORTED_VERSIONS.has(String(headers["sec-websocket-version"]).trim())) {
    return sendRefusal(res, refusals.websocketVersion, addNoCache(["Sec-WebSocket-Version", "8, 13"]));
  }
  const push = res as PushResponse;
  const socket = push.socket;
  // Only an upgrade hands us the socket; a plain request with the headers cannot switch.
  if (push.upgradeHead === null || !socket) return sendRefusal(res, refusals.websocketNotUpgrade, addNoCache([]));
  push.detachSocket(socket);
  socket.write(handshake(String(headers["sec-websocket-key"]).trim()));

  const subscription = openSubscription(route, vars);
  if (subscription instanceof Refusal) {
    socket.on("error", ignoreError);
    socket.end(closeFrame(CLOSE_POLICY_VIOLATION, `{"http_status": ${subscription.status}, "explain":"${subscription.explain}"}`));
    // Nobody reads this socket: drain it and close once the frame is out, or the half-open
    // socket would never see the client's FIN and stay open (an fd per refusal; close() hangs).
    socket.resume();
    socket.destroySoon();
    return;
  }
  const messages = catchUp(route, subscription, readCursor(route, vars));
  const subscriber = new WebSocketSubscriber(route, subscription.channels, socket);
  subscriber.start(messages, push.upgradeHead);
};

function handshake(key: string): string {
  const accept = createHash("sha1").update(key + WEBSOCKET_GUID).digest("base64");
  const noCache = addNoCache([]);
  return "HTTP/1.1 101 Switching Protocols\r\n"
    + `${noCache[0]}: ${noCache[1]}\r\n${noCache[2]}: ${noCache[3]}\r\n`
    + `Upgrade: WebSocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`;
}

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
    const { socket, route } = this;
    socket[SUBSCRIBER] = this;
    socket.on("data", onSocketData);
    socket.on("end", onSocketEnd);
    socket.on("close", onSocketClose);
    socket.on("error", ignoreError);
    socket.setNoDelay(true);
    if (route.header.length > 0) socket.write(frame(OPCODE_TEXT, route.header));
    this.replay(messages);
    if (route.ctx.draining) return this.writeEnd("shutdown");
    this.register();
    if (head && head.length > 0) this.onData(head);
  }

  onData(chunk: Buffer): void {
    (this.reader ??= new WebSocketReader(this, this.route.config.websocketMaxFrameSize)).feed(chunk);
  }

  onText(payload: Buffer): void {
    if (!this.route.config.websocketAllowPublish || this.released) return;
    const { store, log } = this.route.ctx;
    const options = { eventId: "", eventType: "", store: this.route.config.storeMessages };
    for (const channel of [...this.channels]) {
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
    this.release();
    if (this.closing) return void this.socket.destroy(); // the answer to our close
    this.closing = true;
    // Echo the client's status (RFC 6455 §5.5.1), then close our side.
    this.socket.end(code === undefined ? EMPTY_CLOSE_FRAME : closeFrame(code));
  }

  onProtocolError(code: number, reason: string): void {
    this.route.ctx.log.debug(`websocket ${this.socket.remoteAddress}: closing with ${code}: ${reason}`);
    this.release();
    this.sendClose(code, reason);
  }

  override onWheelExpire(): void {
    if (this.closing) return void this.socket.destroy();
    super.onWheelExpire();
  }

  /** The socket ended or closed under us. */
  gone(): void {
    this.route.ctx.wheel.cancel(this);
    this.release();
  }

  protected writeMessage(message: Message): void {
    this.socket.write(this.frames.render(message));
  }

  protected writePing(): void {
    this.socket.write(PING_FRAME);
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

  /** Our close frame, then wait (on the wheel) for the client's; on shutdown, close at once. */
  private sendClose(code: number, reason: string): void {
    if (this.closing || this.socket.destroyed) return;
    this.closing = true;
    const { ctx } = this.route;
    if (ctx.draining) {
      this.socket.end(closeFrame(code, reason));
      this.socket.destroySoon();
      return;
    }
    this.socket.write(closeFrame(code, reason));
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
