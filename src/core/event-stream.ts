import type { Message } from "./message.js";
import { Template } from "./template.js";

/**
 * The EventSource (text/event-stream) rendering of push-stream (PROTOCOL.md §8.5): each line of
 * the message text becomes a `data:` line through the location's template, with `id:`/`event:`
 * lines from Event-Id/Event-Type and a blank line ending the event. One format per template,
 * rendered once per message and shared by every EventSource subscriber using it.
 */

const DATA_PREFIX = "data: ";
const COMMENT_PREFIX = ": ";
const LINE_BREAK = /\r\n|\r|\n/;
const NEWLINE = Buffer.from("\n");
const EMPTY = Buffer.alloc(0);

/** The SSE comment push-stream sends as a ping. */
export const EVENT_STREAM_PING = Buffer.from(": -1\n");

const formats = new Map<string, EventStreamFormat>();

export class EventStreamFormat {
  /** The per-line template: the user template wrapped as `data: <template>\n`. */
  private readonly line: Template;
  readonly renderUncached: (message: Message) => Buffer;

  /** The one format for this message template. */
  static of(messageTemplate: string): EventStreamFormat {
    let format = formats.get(messageTemplate);
    if (!format) formats.set(messageTemplate, (format = new EventStreamFormat(messageTemplate)));
    return format;
  }

  private constructor(messageTemplate: string) {
    // A template already written as a data line is used as it is (push-stream does the same).
    this.line = new Template(messageTemplate.startsWith(DATA_PREFIX) ? messageTemplate : `${DATA_PREFIX}${messageTemplate}\n`);
    this.renderUncached = (message) => this.renderEvent(message);
  }

  /** The message as one SSE event, rendered once and shared. */
  render(message: Message): Buffer {
    return message.rendered(this, this.renderUncached);
  }

  /** Bytes of the `id:` and `event:` lines that start the message's event. */
  fieldLinesLength(message: Message): number {
    let length = 0;
    if (message.eventId) length += Buffer.byteLength(message.eventId) + 5; // "id: " + "\n"
    if (message.eventType) length += Buffer.byteLength(message.eventType) + 8; // "event: " + "\n"
    return length;
  }

  private renderEvent(message: Message): Buffer {
    const parts: Buffer[] = [];
    if (message.eventId) parts.push(Buffer.from(`id: ${message.eventId}\n`));
    if (message.eventType) parts.push(Buffer.from(`event: ${message.eventType}\n`));
    const lines = textLines(message.text);
    // An empty text still makes one (empty) data line: a browser drops an event without one.
    if (lines.length === 0) lines.push(EMPTY);
    for (const line of lines) parts.push(this.line.renderText(message, line));
    parts.push(NEWLINE);
    return Buffer.concat(parts);
  }
}

/**
 * A header or footer template as SSE comment lines (`: <line>\n` per non-empty line). A template
 * that already starts with `: ` is used verbatim; an empty header becomes `: \n`.
 */
export function eventStreamComment(template: string, isHeader: boolean): Buffer {
  if (template.startsWith(COMMENT_PREFIX)) return Buffer.from(template);
  if (template.length === 0) return Buffer.from(isHeader ? ": \n" : "");
  // A template of line breaks alone has no line to send (push-stream sends nothing either).
  const lines = template.split(LINE_BREAK).filter((line) => line.length > 0);
  return Buffer.from(lines.map((line) => `${COMMENT_PREFIX}${line}\n`).join(""));
}

/** The lines of a message text split on CR, LF or CRLF, empty lines dropped. */
function textLines(text: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= text.length; i++) {
    const byte = i < text.length ? text[i] : 0x0a;
    if (byte !== 0x0a && byte !== 0x0d) continue;
    // CRLF needs no case of its own: the empty line between CR and LF is dropped like any other.
    if (i > start) lines.push(text.subarray(start, i));
    start = i + 1;
  }
  return lines;
}
