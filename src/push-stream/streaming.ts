import { PING_MESSAGE_ID, specialMessage, type Message } from "../core/message.js";
import type { Handler, Route } from "../routing/route.js";
import { httpStreamHandler, type StreamStyle } from "./http-stream.js";

/**
 * `streaming` (push-stream's default mode): one chunked response that stays open and carries
 * every message of its channels, rendered with the location's template (PROTOCOL.md §8.1).
 */
export const streamingHandler: Handler = httpStreamHandler((route) => new PlainStreamStyle(route));

class PlainStreamStyle implements StreamStyle {
  readonly mode = "streaming";
  readonly contentType: string;
  readonly header: Buffer;
  readonly footer: Buffer;
  readonly padding;
  readonly paddingFlavour = "stream";
  readonly padsPing = true;
  /** The id -1 message, rendered through the template like any other (and cached by it). */
  private readonly pingMessage: Message;

  constructor(private readonly route: Route) {
    this.contentType = route.config.defaultType;
    this.header = route.header;
    this.footer = route.footer;
    this.padding = route.config.paddingByUserAgent;
    this.pingMessage = specialMessage(PING_MESSAGE_ID, "", route.ctx.http.pingMessageText);
  }

  render(message: Message): Buffer {
    return this.route.messageTemplate.render(message);
  }

  paddedLength(_message: Message, rendered: Buffer): number {
    return rendered.length;
  }

  ping(): Buffer {
    return this.route.messageTemplate.render(this.pingMessage);
  }
}
