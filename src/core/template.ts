import { escapeJsonString } from "./escape.js";
import { formatHttpDate } from "./http-date.js";
import type { Message } from "./message.js";

/**
 * A push-stream message template: literal text with `~id~`, `~channel~`, `~text~`, `~size~`,
 * `~tag~`, `~time~`, `~event-id~`, `~event-type~` (case-insensitive). Compiled once; rendered in a
 * single pass, so token-like text inside a value is never expanded again.
 *
 * A `~channel~` between double quotes of the template (a JSON or JavaScript string, as in Bitrix's
 * `"channel":"~channel~"`) gets `"` and `\` escaped JSON-style, so a channel id can never break the
 * client's parse; elsewhere, and every other value, is inserted as it is (push-stream escapes
 * nothing). Escaping rather than refusing `"` and `\`: those ids stay usable as in push-stream and
 * are escaped in statistics too; it costs one regex test per message and template (the render is
 * shared by every subscriber), and ordinary ids come out byte for byte.
 */

type Token = "id" | "channel" | "text" | "size" | "tag" | "time" | "event-id" | "event-type";
const TOKEN_PATTERN = /~(id|channel|text|size|tag|time|event-id|event-type)~/gi;

const compiled = new Map<string, Template>();

export class Template {
  /** Literal parts (as bytes) interleaved with tokens: lit, tok, lit, tok, …, lit. */
  private readonly literals: Buffer[];
  private readonly tokens: Token[];
  /** Per token: it stands inside a double-quoted string of the template. */
  private readonly quoted: boolean[];
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
    this.quoted = [];
    let last = 0;
    let inString = false;
    for (const match of source.matchAll(TOKEN_PATTERN)) {
      const literal = source.slice(last, match.index);
      inString = endsInString(literal, inString);
      this.literals.push(Buffer.from(literal));
      this.tokens.push(match[1]!.toLowerCase() as Token);
      this.quoted.push(inString);
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
      parts.push(tokenValue(this.tokens[i]!, message, text, this.quoted[i]!));
    }
    parts.push(this.literals[this.tokens.length]!);
    return Buffer.concat(parts);
  }
}

/** `\` and the character it escapes. */
const ESCAPED_CHARACTER = /\\[\s\S]/g;
const NOT_A_QUOTE = /[^"]/g;

/** Whether a string open before `literal` (`inString`) is open after it: each `"` not escaped by `\` opens or closes one. */
function endsInString(literal: string, inString: boolean): boolean {
  const quotes = literal.replace(ESCAPED_CHARACTER, "").replace(NOT_A_QUOTE, "").length;
  return quotes % 2 === 1 ? !inString : inString;
}

function tokenValue(token: Token, message: Message, text: Buffer, quoted: boolean): Buffer {
  switch (token) {
    case "text":
      return text;
    case "id":
      return Buffer.from(String(message.id));
    case "channel":
      return Buffer.from(quoted ? escapeJsonString(message.channel) : message.channel);
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
