import { EVENT_STREAM_PING, EventStreamFormat, eventStreamComment } from "../core/event-stream.js";
import type { Message } from "../core/message.js";
import type { Handler, Route } from "../routing/route.js";
import { httpStreamHandler, type StreamStyle } from "./http-stream.js";

/**
 * `eventsource`: a text/event-stream for the browser's EventSource (PROTOCOL.md §8.5). The
 * Last-Event-Id a reconnecting browser sends (or the configured `lastEventId`) resumes after it.
 */
export const eventSourceHandler: Handler = httpStreamHandler((route) => new EventStreamStyle(route));

class EventStreamStyle implements StreamStyle {
  readonly mode = "eventsource";
  readonly contentType = "text/event-stream; charset=utf-8";
  readonly header: Buffer;
  readonly footer: Buffer;
  readonly padding;
  readonly paddingFlavour = "eventsource";
  readonly padsPing = false;
  private readonly format: EventStreamFormat;

  constructor(route: Route) {
    this.header = eventStreamComment(route.config.headerTemplate, true);
    this.footer = eventStreamComment(route.config.footerTemplate, false);
    this.padding = route.config.paddingByUserAgent;
    this.format = EventStreamFormat.of(route.config.messageTemplate);
  }

  render(message: Message): Buffer {
    return this.format.render(message);
  }

  /** push-stream pads an event by its data lines alone, not its `id:`/`event:` lines. */
  paddedLength(message: Message, rendered: Buffer): number {
    return rendered.length - this.format.fieldLinesLength(message);
  }

  ping(): Buffer {
    return EVENT_STREAM_PING;
  }
}
