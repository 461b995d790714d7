import { formatHttpDate } from "./http-date.js";
import type { Message } from "./message.js";

/**
 * A push-stream message template: literal text with `~id~`, `~channel~`, `~text~`, `~size~`,
 * `~tag~`, `~time~`, `~event-id~`, `~event-type~` (case-insensitive). Compiled once; rendered in a
 * single pass, so token-like text inside a value is never expanded again. Nothing is escaped.
 */

type Token = "id" | "channel" | "text" | "size" | "tag" | "time" | "event-id" | "event-type";
const TOKEN_PATTERN = /~(id|channel|text|size|tag|time|event-id|event-type)~/gi;

const compiled = new Map<string, Template>();

export class Template {
  /** Literal parts (as bytes) interleaved with tokens: lit, tok, lit, tok, …, lit. */
  private readonly literals: Buffer[];
  private readonly tokens: Token[];
  /** Bound once so the message render cache can call it without a closure per message. */
  readonly renderUncached: (message: Message) => Buffer;

  /**
   * The one Template for this text: locations sharing a template share the rendered bytes of
   * every message, too.
   */
  static of(source: string): Template {
    let template = compiled.get(source);
    if (!template) compiled.set(source, (template = new Template(source)));
    return template;
  }

  constructor(readonly source: string) {
    this.literals = [];
    this.tokens = [];
    let last = 0;
    for (const match of source.matchAll(TOKEN_PATTERN)) {
      this.literals.push(Buffer.from(source.slice(last, match.index)));
      this.tokens.push(match[1]!.toLowerCase() as Token);
      last = match.index! + match[0].length;
    }
    this.literals.push(Buffer.from(source.slice(last)));
    this.renderUncached = (message) => this.renderText(message, message.text);
  }

  get isEmpty(): boolean {
    return this.source.length === 0;
  }

  /** The message's bytes in this template, rendered once and shared by every subscriber. */
  render(message: Message): Buffer {
    return message.rendered(this, this.renderUncached);
  }

  /** Renders with `text` in place of the message body (EventSource renders line by line). */
  renderText(message: Message, text: Buffer): Buffer {
    if (this.tokens.length === 0) return this.literals[0]!;
    const parts: Buffer[] = [];
    for (let i = 0; i < this.tokens.length; i++) {
      parts.push(this.literals[i]!);
      parts.push(tokenValue(this.tokens[i]!, message, text));
    }
    parts.push(this.literals[this.tokens.length]!);
    return Buffer.concat(parts);
  }
}

function tokenValue(token: Token, message: Message, text: Buffer): Buffer {
  switch (token) {
    case "text":
      return text;
    case "id":
      return Buffer.from(String(message.id));
    case "channel":
      return Buffer.from(message.channel);
    case "size":
      return Buffer.from(String(text.length));
    case "tag":
      return Buffer.from(String(message.tag));
    case "time":
      return Buffer.from(formatHttpDate(message.time));
    case "event-id":
      return Buffer.from(message.eventId);
    case "event-type":
      return Buffer.from(message.eventType);
  }
}
