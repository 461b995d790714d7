import { Message, ownBytes, type Push2Fields } from "../core/message.js";

/**
 * The entries the Redis scripts write (redis/scripts.ts): a kind letter, then fields as
 * `<byte length>:<bytes>`. A published message ("m") or a channel deletion ("d"), each with the
 * server-wide seq that orders it. Pure: bytes in, values out.
 */
export type Entry = MessageEntry | DeletionEntry;

export interface MessageEntry {
  kind: "m";
  seq: number;
  stored: boolean;
  message: Message;
}

export interface DeletionEntry {
  kind: "d";
  seq: number;
  channel: string;
  /** The text its subscribers receive; empty: the configured default. */
  text: string;
}

/** The bytes are not entries (a foreign publisher on the channel, a different pushwire version). */
export class EntryFormatError extends Error {}

/** Reads consecutive length-prefixed fields. */
class FieldReader {
  offset = 0;
  constructor(private readonly bytes: Buffer) {}

  get done(): boolean {
    return this.offset >= this.bytes.length;
  }

  kind(): string {
    return String.fromCharCode(this.bytes[this.offset++]!);
  }

  field(): Buffer {
    const colon = this.bytes.indexOf(58, this.offset); // ':'
    if (colon < 0 || colon - this.offset > 10) throw new EntryFormatError("a field without its length");
    const length = Number(this.bytes.toString("latin1", this.offset, colon));
    const start = colon + 1;
    if (!Number.isInteger(length) || start + length > this.bytes.length) throw new EntryFormatError("a field longer than the entry");
    this.offset = start + length;
    return this.bytes.subarray(start, this.offset);
  }

  text(): string {
    return this.field().toString("utf8");
  }

  number(): number {
    const value = Number(this.field().toString("latin1"));
    if (!Number.isFinite(value)) throw new EntryFormatError("a number field that is not a number");
    return value;
  }
}

/**
 * Every entry in `bytes`. A stored message's body gets an allocation of its own (the entries'
 * buffer may be a large reply); one that only passes through stays a view.
 */
export function decodeEntries(bytes: Buffer): Entry[] {
  const reader = new FieldReader(bytes);
  const entries: Entry[] = [];
  while (!reader.done) {
    const kind = reader.kind();
    if (kind === "m") entries.push(readMessage(reader));
    else if (kind === "d") entries.push({ kind: "d", channel: reader.text(), seq: reader.number(), text: reader.text() });
    else throw new EntryFormatError(`an entry of unknown kind ${JSON.stringify(kind)}`);
  }
  return entries;
}

function readMessage(reader: FieldReader): MessageEntry {
  const channel = reader.text();
  const id = reader.number();
  const time = reader.number();
  const tag = reader.number();
  const seq = reader.number();
  const expiresAt = reader.number();
  const stored = reader.text() === "1";
  const eventId = reader.text();
  const eventType = reader.text();
  const mid = reader.field();
  const senderType = reader.text();
  const senderId = reader.field();
  const created = reader.number();
  const expiry = reader.number();
  const body = reader.field();
  let push2: Push2Fields | undefined;
  if (mid.length > 0) {
    push2 = {
      mid: Buffer.from(mid.toString("latin1"), "hex"),
      sender: senderType === "" ? undefined : { type: Number(senderType), id: Buffer.from(senderId) },
      created,
      expiry,
    };
  }
  const text = stored ? ownBytes(body) : body;
  return { kind: "m", seq, stored, message: new Message(id, channel, time, tag, seq, text, eventId, eventType, expiresAt, push2) };
}
