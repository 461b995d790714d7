import type { SubscriberMode } from "../config/schema.js";
import type { Channel } from "../core/channel.js";
import type { Message } from "../core/message.js";
import type { PaddingFlavour, PaddingRule, PaddingRules } from "../core/padding.js";
import { Refusal } from "../core/refusal.js";
import { percentDecode } from "../http/percent.js";
import { abortHeldOnClose, PushResponse } from "../http/push-response.js";
import type { RequestVars } from "../http/request-vars.js";
import { addCors, addNoCache, sendRefusal, type Headers } from "../http/respond.js";
import type { Route } from "../http/router.js";
import type { EndReason } from "./live-subscriber.js";
import { LiveSubscriber } from "./live-subscriber.js";
import { answerPreflightOrMethod } from "./polling.js";
import { catchUp, openSubscription, readCursor } from "./subscription.js";

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
export function openHttpStream(route: Route, res: PushResponse, vars: RequestVars, style: StreamStyle): void {
  const origin = route.origin(vars);
  if (!answerPreflightOrMethod(vars.request.method, res, origin)) return;
  const headers: Headers = addCors(addNoCache(["Content-Type", style.contentType]), origin, "GET");
  const subscription = openSubscription(route, vars);
  if (subscription instanceof Refusal) return sendRefusal(res, subscription, headers);
  const messages = catchUp(route, subscription, readCursor(route, vars));

  const padding = style.padding?.match(userAgent(route, vars));
  const stream = new HttpStream(route, subscription.channels, res, style, padding);
  res.writeHead(200, headers);
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
    private readonly res: PushResponse,
    private readonly style: StreamStyle,
    private readonly padding: PaddingRule | undefined,
  ) {
    super(route, channels);
  }

  get mode(): SubscriberMode {
    return this.style.mode;
  }

  start(messages: readonly Message[]): void {
    const { res, style } = this;
    // As push-stream: the header is padded only when there is one.
    if (style.header.length > 0) {
      res.write(style.header);
      this.pad(style.header.length, this.padding?.headerMin);
    }
    this.replay(messages);
    // A stream opened while the server drains gets its goodbye at once.
    if (this.route.ctx.draining) return this.writeEnd("shutdown");
    // Nothing written yet: send the head now, so the client knows it is subscribed.
    if (style.header.length === 0 && messages.length === 0) res.flushHeaders();
    this.register();
    res.held = this;
    res.once("close", abortHeldOnClose);
  }

  protected writeMessage(message: Message): number {
    const bytes = this.style.render(message);
    this.res.write(bytes);
    return bytes.length + this.pad(this.style.paddedLength(message, bytes), this.padding?.messageMin);
  }

  protected writePing(): number {
    const bytes = this.style.ping();
    this.res.write(bytes);
    return bytes.length + (this.style.padsPing ? this.pad(bytes.length, this.padding?.messageMin) : 0);
  }

  protected writeEnd(_reason: EndReason): void {
    const { res } = this;
    res.held = null;
    if (res.destroyed || res.writableEnded) return;
    if (this.route.ctx.draining) res.shouldKeepAlive = false;
    if (this.style.footer.length > 0) res.write(this.style.footer);
    res.end();
  }

  protected get backlog(): number {
    return this.res.writableLength;
  }

  protected get remoteAddress(): string | undefined {
    return this.res.socket?.remoteAddress;
  }

  protected destroy(): void {
    this.res.held = null;
    this.res.destroy();
  }

  /** Pads `length` bytes up to `min`; returns the padding bytes written. */
  private pad(length: number, min: number | undefined): number {
    if (min === undefined) return 0;
    const bytes = this.style.padding!.paddingFor(length, min, this.style.paddingFlavour);
    if (!bytes) return 0;
    this.res.write(bytes);
    return bytes.length;
  }
}
