import type { Socket } from "node:net";
import type { Message } from "../core/message.js";
import { Refusal } from "../core/refusal.js";
import type { Template } from "../core/template.js";
import { LiveSubscriber, type EndReason } from "../hold/live-subscriber.js";
import type { Handler, Route } from "../routing/route.js";
import type { Channel } from "../store/channel.js";
import { WebSocketConnection, type WebSocketPeer } from "../websocket/connection.js";
import { CLOSE_GOING_AWAY, CLOSE_NORMAL, CLOSE_POLICY_VIOLATION, frame, frameHeader, OPCODE_TEXT, PING_FRAME } from "../websocket/frame.js";
import { acceptWebSocket } from "../websocket/handshake.js";
import { catchUp, openSubscription, readCursor } from "./subscription.js";

/**
 * `websocket` (RFC 6455 on the upgraded socket): handshake, then channel validation (a refusal is
 * a close frame 1008 whose reason is push-stream's JSON explain), then the header template,
 * catch-up and live messages as text frames, pings as control frames (PROTOCOL.md §8.6 with the
 * corrections of §18). With `websocketAllowPublish`, a client's text messages are published.
 */
export const websocketHandler: Handler = (route, request, reply, vars) => {
  const accepted = acceptWebSocket(route, request, reply);
  if (!accepted) return;
  const subscription = openSubscription(route, vars);
  if (subscription instanceof Refusal) {
    route.ctx.metrics.countRejected(subscription.status);
    const json = `{"http_status": ${subscription.status}, "explain":"${subscription.explain}"}`;
    // Nothing to wait for: a refused client gets its reason and the connection ends (push-stream does the same).
    return new WebSocketConnection(route.ctx, accepted.socket, REFUSED, route.config).close(CLOSE_POLICY_VIOLATION, json, false);
  }
  const messages = catchUp(route, subscription, readCursor(route, vars));
  new WebSocketSubscriber(route, subscription.channels, accepted.socket).start(messages, accepted.head);
};

/** The peer of a refused connection: there is nothing to leave. */
const REFUSED: WebSocketPeer = { onText() {}, onBinary() {}, onPong() {}, leave() {} };

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

/** A push-stream subscriber on a WebSocket: a live subscriber whose bytes are text frames. */
class WebSocketSubscriber extends LiveSubscriber implements WebSocketPeer {
  readonly mode = "websocket";
  private readonly frames: TextFrames;
  private readonly connection: WebSocketConnection;

  constructor(route: Route, channels: Channel[], socket: Socket) {
    super(route, channels);
    this.frames = TextFrames.of(route.messageTemplate);
    this.connection = new WebSocketConnection(route.ctx, socket, this, route.config);
  }

  start(messages: readonly Message[], head: Buffer): void {
    const { route } = this;
    if (route.header.length > 0) this.connection.write(frame(OPCODE_TEXT, route.header));
    this.replay(messages);
    if (this.ctx.draining) return this.writeEnd("shutdown");
    this.register();
    this.connection.limitBacklog();
    if (head.length > 0) this.connection.received(head);
  }

  /** A client's text message: published to every channel of the connection, when the location allows it. */
  onText(payload: Buffer): void {
    if (!this.route.config.websocketAllowPublish || !this.holding) return;
    const { broker, log } = this.ctx;
    // The message log cannot write: a frame has no answer to carry the refusal, so it is dropped like a refused publish.
    if (broker.unavailable) return;
    const channels = this.channels.filter((channel) => !channel.forEvents); // only the server writes there
    try {
      broker.publish(channels, payload, { eventId: "", eventType: "", store: this.route.config.storeMessages });
    } catch (error) {
      log.error(`websocket publish to ${channels.map((c) => c.id).join("/")}: ${(error as Error).stack ?? error}`);
    }
  }

  onBinary(): void {}

  onPong(): void {}

  leave(): void {
    this.release();
  }

  protected writeMessage(message: Message): number {
    const bytes = this.frames.render(message);
    this.connection.write(bytes);
    return bytes.length;
  }

  protected writePing(): number {
    this.connection.write(PING_FRAME);
    return PING_FRAME.length;
  }

  protected writeEnd(reason: EndReason): void {
    if (this.route.footer.length > 0) this.connection.write(frame(OPCODE_TEXT, this.route.footer));
    this.connection.close(reason === "shutdown" ? CLOSE_GOING_AWAY : CLOSE_NORMAL, "");
  }

  protected get backlog(): number {
    return this.connection.backlog;
  }

  protected get remoteAddress(): string | undefined {
    return this.connection.remoteAddress;
  }

  protected destroy(): void {
    this.connection.destroy();
  }
}
