/**
 * A hand-written protobuf (proto3) codec for exactly the messages of Bitrix Push server 2.0
 * (BITRIX.md §1.6): the publisher's and client's RequestBatch, the server's ResponseBatch.
 * Decoding skips unknown fields of any wire type and throws ProtobufError on malformed input
 * (truncated varints or lengths, bad wire types, lengths past the end); it never reads outside
 * the buffer. Encoding writes fields in number order and omits proto3 defaults.
 */

export class ProtobufError extends Error {}

export const SENDER_UNKNOWN = 0;
export const SENDER_CLIENT = 1;
export const SENDER_BACKEND = 2;

export interface Sender {
  type: number;
  id: Uint8Array;
}

export interface Receiver {
  id: Uint8Array;
  isPrivate: boolean;
  signature: Uint8Array;
}

export interface IncomingMessage {
  receivers: Receiver[];
  sender: Sender | undefined;
  body: string;
  expiry: number;
  type: string;
}

export interface ChannelId {
  id: Uint8Array;
  isPrivate: boolean;
  signature: Uint8Array;
}

/** One Request: exactly one of its oneof members is set (none when the sender used an unknown one). */
export interface Request {
  incomingMessages?: IncomingMessage[];
  channelStats?: ChannelId[];
  serverStats?: true;
}

export interface OutgoingMessage {
  id: Uint8Array;
  body: string;
  expiry: number;
  /** Unix seconds (fixed32). */
  created: number;
  sender: Sender | undefined;
}

export interface ChannelStats {
  id: Uint8Array;
  isPrivate: boolean;
  isOnline: boolean;
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH = 2;
const WIRE_FIXED32 = 5;

const EMPTY = new Uint8Array(0);
const utf8 = new TextDecoder("utf-8");

/** Reads one message's fields between `pos` and `end`. */
class Reader {
  pos: number;

  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** A varint as a JS number (values above 2^53 lose precision; none of our fields go there). */
  varint(): number {
    let result = 0;
    let multiplier = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtobufError("truncated varint");
      const byte = this.buf[this.pos++]!;
      result += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) return result;
      multiplier *= 128;
    }
    throw new ProtobufError("varint longer than 10 bytes");
  }

  /** A uint32 field: the low 32 bits of the varint, as protobuf does. */
  uint32(): number {
    return this.varint() % 0x1_0000_0000;
  }

  bool(): boolean {
    return this.varint() !== 0;
  }

  fixed32(): number {
    if (this.end - this.pos < 4) throw new ProtobufError("truncated fixed32");
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) + b[p + 3]! * 0x1_000_000;
  }

  /** The bounds of a length-delimited field's payload; moves past it. */
  delimited(): [number, number] {
    const length = this.varint();
    const start = this.pos;
    if (length > this.end - start) throw new ProtobufError("length past the end of the message");
    this.pos = start + length;
    return [start, start + length];
  }

  /** A copy: a sender id is stored with its message, and a view would keep the whole request alive (Buffer's slice is one). */
  bytes(): Uint8Array {
    const [start, end] = this.delimited();
    return Uint8Array.prototype.slice.call(this.buf, start, end);
  }

  string(): string {
    const [start, end] = this.delimited();
    return utf8.decode(this.buf.subarray(start, end));
  }

  sub(): Reader {
    const [start, end] = this.delimited();
    return new Reader(this.buf, start, end);
  }

  /** Field number and wire type of the next field. */
  tag(): [number, number] {
    const key = this.uint32();
    const field = key >>> 3;
    if (field === 0) throw new ProtobufError("field number 0");
    return [field, key & 7];
  }

  /** Skips a field of an unknown number. Groups (wire types 3/4) are refused: proto3 has none. */
  skip(wire: number): void {
    switch (wire) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        if (this.end - this.pos < 8) throw new ProtobufError("truncated fixed64");
        this.pos += 8;
        return;
      case WIRE_LENGTH:
        this.delimited();
        return;
      case WIRE_FIXED32:
        if (this.end - this.pos < 4) throw new ProtobufError("truncated fixed32");
        this.pos += 4;
        return;
      default:
        throw new ProtobufError(`unsupported wire type ${wire}`);
    }
  }
}

function readSender(r: Reader): Sender {
  const sender: Sender = { type: 0, id: EMPTY };
  while (!r.done) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WIRE_VARINT) sender.type = r.uint32();
    else if (field === 2 && wire === WIRE_LENGTH) sender.id = r.bytes();
    else r.skip(wire);
  }
  return sender;
}

/** Receiver and ChannelId share their layout: id=1 bytes, isPrivate=2 bool, signature=3 bytes. */
function readChannelRef(r: Reader): Receiver {
  const ref: Receiver = { id: EMPTY, isPrivate: false, signature: EMPTY };
  while (!r.done) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WIRE_LENGTH) ref.id = r.bytes();
    else if (field === 2 && wire === WIRE_VARINT) ref.isPrivate = r.bool();
    else if (field === 3 && wire === WIRE_LENGTH) ref.signature = r.bytes();
    else r.skip(wire);
  }
  return ref;
}

function readIncomingMessage(r: Reader): IncomingMessage {
  const message: IncomingMessage = { receivers: [], sender: undefined, body: "", expiry: 0, type: "" };
  while (!r.done) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WIRE_LENGTH) message.receivers.push(readChannelRef(r.sub()));
    else if (field === 2 && wire === WIRE_LENGTH) message.sender = readSender(r.sub());
    else if (field === 3 && wire === WIRE_LENGTH) message.body = r.string();
    else if (field === 4 && wire === WIRE_VARINT) message.expiry = r.uint32();
    else if (field === 5 && wire === WIRE_LENGTH) message.type = r.string();
    else r.skip(wire);
  }
  return message;
}

/** messages=1 (IncomingMessagesRequest) or channels=1 (ChannelStatsRequest): a repeated sub-message. */
function readRepeated<T>(r: Reader, read: (r: Reader) => T): T[] {
  const items: T[] = [];
  while (!r.done) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WIRE_LENGTH) items.push(read(r.sub()));
    else r.skip(wire);
  }
  return items;
}

function readRequest(r: Reader): Request {
  const request: Request = {};
  while (!r.done) {
    const [field, wire] = r.tag();
    // A oneof: the last member on the wire wins, as protobuf specifies.
    if (field === 1 && wire === WIRE_LENGTH) {
      const messages = readRepeated(r.sub(), readIncomingMessage);
      delete request.channelStats;
      delete request.serverStats;
      request.incomingMessages = messages;
    } else if (field === 2 && wire === WIRE_LENGTH) {
      const channels = readRepeated(r.sub(), readChannelRef);
      delete request.incomingMessages;
      delete request.serverStats;
      request.channelStats = channels;
    } else if (field === 3 && wire === WIRE_LENGTH) {
      readRepeated(r.sub(), () => undefined); // ServerStatsRequest has no fields; skip any
      delete request.incomingMessages;
      delete request.channelStats;
      request.serverStats = true;
    } else r.skip(wire);
  }
  return request;
}

/** Decodes a RequestBatch; throws ProtobufError on malformed input. */
export function decodeRequestBatch(buf: Uint8Array): Request[] {
  return readRepeated(new Reader(buf, 0, buf.length), readRequest);
}

function readOutgoingMessage(r: Reader): OutgoingMessage {
  const message: OutgoingMessage = { id: EMPTY, body: "", expiry: 0, created: 0, sender: undefined };
  while (!r.done) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WIRE_LENGTH) message.id = r.bytes();
    else if (field === 2 && wire === WIRE_LENGTH) message.body = r.string();
    else if (field === 3 && wire === WIRE_VARINT) message.expiry = r.uint32();
    else if (field === 4 && wire === WIRE_FIXED32) message.created = r.fixed32();
    else if (field === 5 && wire === WIRE_LENGTH) message.sender = readSender(r.sub());
    else r.skip(wire);
  }
  return message;
}

/** Decodes one encoded OutgoingMessage (what the store keeps as a message's bytes). */
export function decodeOutgoingMessage(buf: Uint8Array): OutgoingMessage {
  return readOutgoingMessage(new Reader(buf, 0, buf.length));
}

export interface DecodedResponse {
  outgoingMessages?: OutgoingMessage[];
  channelStats?: ChannelStats[];
  serverStats?: string;
  json?: string;
}

function readChannelStats(r: Reader): ChannelStats {
  const stats: ChannelStats = { id: EMPTY, isPrivate: false, isOnline: false };
  while (!r.done) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WIRE_LENGTH) stats.id = r.bytes();
    else if (field === 2 && wire === WIRE_VARINT) stats.isPrivate = r.bool();
    else if (field === 3 && wire === WIRE_VARINT) stats.isOnline = r.bool();
    else r.skip(wire);
  }
  return stats;
}

function readJson(r: Reader): string {
  let json = "";
  while (!r.done) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WIRE_LENGTH) json = r.string();
    else r.skip(wire);
  }
  return json;
}

/** Decodes a ResponseBatch (tests and tools read the server's answers with it). */
export function decodeResponseBatch(buf: Uint8Array): DecodedResponse[] {
  return readRepeated(new Reader(buf, 0, buf.length), (r) => {
    const response: DecodedResponse = {};
    while (!r.done) {
      const [field, wire] = r.tag();
      if (field === 1 && wire === WIRE_LENGTH) response.outgoingMessages = readRepeated(r.sub(), readOutgoingMessage);
      else if (field === 2 && wire === WIRE_LENGTH) response.channelStats = readRepeated(r.sub(), readChannelStats);
      else if (field === 3 && wire === WIRE_LENGTH) response.serverStats = readJson(r.sub());
      else if (field === 4 && wire === WIRE_LENGTH) response.json = r.string();
      else r.skip(wire);
    }
    return response;
  });
}

// ---------------------------------------------------------------------------------------------
// Encoding: small byte builders; nested messages are built first and embedded with their length.

/** Bytes of a message being built, in one growing buffer. */
export class Writer {
  private buf = Buffer.allocUnsafe(64);
  length = 0;

  private room(bytes: number): void {
    if (this.length + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + bytes));
    this.buf.copy(grown, 0, 0, this.length);
    this.buf = grown;
  }

  varint(value: number): this {
    this.room(10);
    let v = value;
    while (v >= 0x80) {
      this.buf[this.length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.length++] = v;
    return this;
  }

  private key(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  raw(bytes: Uint8Array): this {
    this.room(bytes.length);
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
    return this;
  }

  /** A length-delimited field (bytes, string or an encoded sub-message); empty ones are omitted unless `always`. */
  bytesField(field: number, bytes: Uint8Array, always = false): this {
    if (bytes.length === 0 && !always) return this;
    this.key(field, WIRE_LENGTH);
    this.varint(bytes.length);
    return this.raw(bytes);
  }

  stringField(field: number, value: string): this {
    if (value === "") return this;
    const size = Buffer.byteLength(value, "utf8");
    this.key(field, WIRE_LENGTH);
    this.varint(size);
    this.room(size);
    this.length += this.buf.write(value, this.length, size, "utf8");
    return this;
  }

  uint32Field(field: number, value: number): this {
    if (value === 0) return this;
    this.key(field, WIRE_VARINT);
    return this.varint(value >>> 0);
  }

  boolField(field: number, value: boolean): this {
    if (!value) return this;
    this.key(field, WIRE_VARINT);
    return this.varint(1);
  }

  fixed32Field(field: number, value: number): this {
    if (value === 0) return this;
    this.key(field, WIRE_FIXED32);
    this.room(4);
    this.buf.writeUInt32LE(value >>> 0, this.length);
    this.length += 4;
    return this;
  }

  /** The bytes, copied out (the writer's buffer is larger than them). */
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.length));
  }
}

function encodeSender(sender: Sender): Buffer {
  return new Writer().uint32Field(1, sender.type).bytesField(2, sender.id).finish();
}

/**
 * One OutgoingMessage. The sender is always written, even when empty: the SDK reads
 * `message.sender.type` without a check, so a message without one would break its whole batch.
 */
export function encodeOutgoingMessage(message: OutgoingMessage): Buffer {
  return new Writer()
    .bytesField(1, message.id)
    .stringField(2, message.body)
    .uint32Field(3, message.expiry)
    .fixed32Field(4, message.created)
    .bytesField(5, encodeSender(message.sender ?? { type: 0, id: EMPTY }), true)
    .finish();
}

/** A ResponseBatch with one outgoingMessages response carrying already-encoded OutgoingMessages. */
export function encodeOutgoingBatch(encodedMessages: readonly Uint8Array[]): Buffer {
  const inner = new Writer();
  for (const message of encodedMessages) inner.bytesField(1, message, true);
  const response = new Writer().bytesField(1, inner.finish(), true).finish();
  return new Writer().bytesField(1, response, true).finish();
}

/** One Response of a batch, encoded: what the publisher answers for channelStats and serverStats. */
export function encodeChannelStatsResponse(channels: readonly ChannelStats[]): Buffer {
  const inner = new Writer();
  for (const c of channels) {
    inner.bytesField(1, new Writer().bytesField(1, c.id).boolField(2, c.isPrivate).boolField(3, c.isOnline).finish(), true);
  }
  return new Writer().bytesField(2, inner.finish(), true).finish();
}

export function encodeServerStatsResponse(json: string): Buffer {
  return new Writer().bytesField(3, new Writer().stringField(1, json).finish(), true).finish();
}

/** A ResponseBatch of already-encoded Responses. */
export function encodeResponseBatch(responses: readonly Uint8Array[]): Buffer {
  const w = new Writer();
  for (const response of responses) w.bytesField(1, response, true);
  return w.finish();
}

function encodeChannelRef(ref: Receiver): Buffer {
  return new Writer().bytesField(1, ref.id).boolField(2, ref.isPrivate).bytesField(3, ref.signature).finish();
}

/** Encodes a RequestBatch: what Bitrix's PHP (and the SDK's client publishing) sends. Tests use it. */
export function encodeRequestBatch(requests: readonly Request[]): Buffer {
  const batch = new Writer();
  for (const request of requests) {
    const w = new Writer();
    if (request.incomingMessages) {
      const inner = new Writer();
      for (const m of request.incomingMessages) {
        const mw = new Writer();
        for (const receiver of m.receivers) mw.bytesField(1, encodeChannelRef(receiver), true);
        if (m.sender) mw.bytesField(2, encodeSender(m.sender), true);
        mw.stringField(3, m.body).uint32Field(4, m.expiry).stringField(5, m.type);
        inner.bytesField(1, mw.finish(), true);
      }
      w.bytesField(1, inner.finish(), true);
    } else if (request.channelStats) {
      const inner = new Writer();
      for (const c of request.channelStats) inner.bytesField(1, encodeChannelRef(c), true);
      w.bytesField(2, inner.finish(), true);
    } else if (request.serverStats) {
      w.bytesField(3, EMPTY, true);
    }
    batch.bytesField(1, w.finish(), true);
  }
  return batch.finish();
}
