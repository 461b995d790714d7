import type { SubscriberMode } from "../config/schema.js";
import type { Message } from "../core/message.js";
import type { PaddingFlavour, PaddingRule, PaddingRules } from "../core/padding.js";
import { percentDecode } from "../core/percent.js";
import { Refusal } from "../core/refusal.js";
import type { Headers, PushReply, PushRequest } from "../http/exchange.js";
import { LiveSubscriber, type EndReason } from "../hold/live-subscriber.js";
import { addCors, addNoCache } from "../routing/answers.js";
import type { RequestVars } from "../routing/request-vars.js";
import type { Handler, Route } from "../routing/route.js";
import type { Channel } from "../store/channel.js";
import { answerPreflightOrMethod, catchUp, openSubscription, readCursor } from "./subscription.js";

/** How one HTTP streaming mode frames its bytes; one per location, shared by its connections. */
export interface StreamStyle {
  readonly mode: SubscriberMode;
  readonly contentType: string;
  readonly header: Buffer;
  readonly footer: Buffer;
  readonly padding: PaddingRules | undefined;
  readonly paddingFlavour: PaddingFlavour;
  /** The message's bytes in this style, rendered once per message and shared. */
  render(message: Message): Buffer;
  /** How many of the rendered bytes count towards the padding minimum. */
  paddedLength(message: Message, rendered: Buffer): number;
  /** The ping's bytes. */
  ping(): Buffer;
  /** Whether pings are padded like messages (push-stream pads the templated ping, not the SSE comment). */
  readonly padsPing: boolean;
}

/**
 * A response that stays open (streaming, EventSource): chunked body, header template, catch-up,
 * live messages and pings, footer at the end (PROTOCOL.md §8.1, §8.5).
 */
/**
 * The handler of one stream mode: the style is built once per route (its rendered header,
 * footer and ping bytes are shared by every subscriber of the location).
 */
export function httpStreamHandler(styleFor: (route: Route) => StreamStyle): Handler {
  const styles = new WeakMap<Route, StreamStyle>();
  return (route, request, reply, vars) => {
    let style = styles.get(route);
    if (!style) styles.set(route, (style = styleFor(route)));
    openHttpStream(route, request, reply, vars, style);
  };
}

function openHttpStream(route: Route, request: PushRequest, reply: PushReply, vars: RequestVars, style: StreamStyle): void {
  const origin = route.origin(vars);
  if (!answerPreflightOrMethod(route, request.method, reply, origin)) return;
  const headers: Headers = addCors(addNoCache(["Content-Type", style.contentType]), origin, "GET");
  const subscription = openSubscription(route, vars);
  if (subscription instanceof Refusal) return route.refuse(reply, subscription, headers);
  const messages = catchUp(route, subscription, readCursor(route, vars));

  const padding = style.padding?.match(userAgent(route, vars));
  const stream = new HttpStream(route, subscription.channels, reply, style, padding);
  reply.start(200, headers);
  stream.start(messages);
}

/** The value padding rules match: the configured one (URL-unescaped, as push-stream does) or User-Agent. */
function userAgent(route: Route, vars: RequestVars): string | undefined {
  const configured = route.config.userAgent;
  const value = configured ? percentDecode(configured.evaluate(vars) ?? "") : vars.header("user-agent");
  return value ? value : undefined;
}

class HttpStream extends LiveSubscriber {
  constructor(
    route: Route,
    channels: Channel[],
    private readonly reply: PushReply,
    private readonly style: StreamStyle,
    private readonly padding: PaddingRule | undefined,
  ) {
    super(route, channels);
  }

  get mode(): SubscriberMode {
    return this.style.mode;
  }

  start(messages: readonly Message[]): void {
    const { reply, style } = this;
    // As push-stream: the header is padded only when there is one.
    if (style.header.length > 0) {
      reply.write(style.header);
      this.pad(style.header.length, this.padding?.headerMin);
    }
    this.replay(messages);
    // A stream opened while the server drains gets its goodbye at once.
    if (this.ctx.draining) return this.writeEnd("shutdown");
    // Nothing written yet: send the head now, so the client knows it is subscribed.
    if (style.header.length === 0 && messages.length === 0) reply.flush();
    this.register();
    reply.hold(this);
  }

  protected writeMessage(message: Message): number {
    const bytes = this.style.render(message);
    this.reply.write(bytes);
    return bytes.length + this.pad(this.style.paddedLength(message, bytes), this.padding?.messageMin);
  }

  protected writePing(): number {
    const bytes = this.style.ping();
    this.reply.write(bytes);
    return bytes.length + (this.style.padsPing ? this.pad(bytes.length, this.padding?.messageMin) : 0);
  }

  protected writeEnd(_reason: EndReason): void {
    const { reply } = this;
    if (reply.done) return;
    if (this.style.footer.length > 0) reply.write(this.style.footer);
    reply.end();
  }

  protected get backlog(): number {
    return this.reply.backlog;
  }

  protected get remoteAddress(): string | undefined {
    return this.reply.remoteAddress;
  }

  protected destroy(): void {
    this.reply.destroy();
  }

  protected override released(): void {
    this.reply.hold(null);
  }

  /** Pads `length` bytes up to `min`; returns the padding bytes written. */
  private pad(length: number, min: number | undefined): number {
    if (min === undefined) return 0;
    const bytes = this.style.padding!.paddingFor(length, min, this.style.paddingFlavour);
    if (!bytes) return 0;
    this.reply.write(bytes);
    return bytes.length;
  }
}
