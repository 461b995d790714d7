import { crc32 } from "../core/crc32.js";
import { Message, type Push2Fields } from "../core/message.js";

/**
 * The message log's records. Each is framed as
 *
 *     u32 payload length | u32 CRC-32 of the payload | payload (u8 type, fields…)
 *
 * little-endian, so a reader can tell a whole record from a torn one (the length runs past the
 * file's end) and from a damaged one (the checksum differs). Numbers that may pass 2^32 (ids,
 * seconds, seq, expiry in ms, Infinity) are float64; strings and bytes are a u32 length and the
 * bytes (strings UTF-8).
 */
export const RecordType = {
  /** A stored message, with everything a subscriber or a push2 resume reads. */
  message: 1,
  /** A message that was published but not stored: its id, stamp and mid still count. */
  sequenced: 2,
  /** A channel left the store (deleted or swept): a later message there starts a new channel. */
  drop: 3,
  /** The History epoch in force from here on. */
  epoch: 4,
  /** Snapshot: a channel and its last message id. */
  channel: 5,
  /** Snapshot: the publish clock and the last mid when the snapshot began. */
  clock: 6,
} as const;

export const RECORD_HEADER_BYTES = 8;
/** A length beyond this is damage, not a record (a body is capped far lower by the publisher). */
export const MAX_RECORD_BYTES = 1 << 30;
const MID_BYTES = 13;

const FLAG_PUSH2 = 1;
const FLAG_SENDER = 2;
const FLAG_MID = 4;
/** A message record for delivery only (the workers' stream): published, not kept. Never in a log file. */
const FLAG_UNSTORED = 8;

/**
 * Where records are encoded: one growing buffer that the log writes out and empties. Appending a
 * record allocates nothing unless the buffer must grow.
 */
export class RecordBuffer {
  bytes: Buffer;
  length = 0;
  private start = 0;

  constructor(initialSize = 64 * 1024) {
    this.bytes = Buffer.allocUnsafe(initialSize);
  }

  /** Forgets everything up to `upTo` (written out), keeping what follows. */
  consume(upTo: number): void {
    if (upTo >= this.length) {
      this.length = 0;
      return;
    }
    this.bytes.copy(this.bytes, 0, upTo, this.length);
    this.length -= upTo;
  }

  /** A message with everything a subscriber reads; `stored` false only where a message is handed on, never in the log. */
  message(message: Message, stored = true): void {
    const push2 = message.push2;
    const sender = push2?.sender;
    this.begin(RecordType.message);
    this.u8((push2 ? FLAG_PUSH2 : 0) | (sender ? FLAG_SENDER : 0) | (stored ? 0 : FLAG_UNSTORED));
    this.f64(message.id);
    this.f64(message.time);
    this.u32(message.tag);
    this.f64(message.seq);
    this.f64(message.expiresAt);
    this.string(message.channel);
    this.string(message.eventId);
    this.string(message.eventType);
    this.raw(message.text);
    if (push2) {
      this.mid(push2.mid);
      this.f64(push2.created);
      this.f64(push2.expiry);
      if (sender) {
        this.u32(sender.type);
        this.raw(sender.id);
      }
    }
    this.end();
  }

  sequenced(message: Message): void {
    const mid = message.push2?.mid;
    this.begin(RecordType.sequenced);
    this.u8(mid ? FLAG_MID : 0);
    this.f64(message.id);
    this.f64(message.time);
    this.u32(message.tag);
    this.f64(message.seq);
    this.string(message.channel);
    if (mid) this.mid(mid);
    this.end();
  }

  drop(channel: string): void {
    this.begin(RecordType.drop);
    this.string(channel);
    this.end();
  }

  epoch(epoch: string): void {
    this.begin(RecordType.epoch);
    this.string(epoch);
    this.end();
  }

  channel(id: string, lastMessageId: number): void {
    this.begin(RecordType.channel);
    this.f64(lastMessageId);
    this.string(id);
    this.end();
  }

  clock(time: number, tag: number, seq: number, mid: Buffer | undefined): void {
    this.begin(RecordType.clock);
    this.u8(mid ? FLAG_MID : 0);
    this.f64(time);
    this.u32(tag);
    this.f64(seq);
    if (mid) this.mid(mid);
    this.end();
  }

  protected begin(type: number): void {
    this.start = this.length;
    this.reserve(RECORD_HEADER_BYTES + 1);
    this.length += RECORD_HEADER_BYTES;
    this.bytes[this.length++] = type;
  }

  protected end(): void {
    const payload = this.start + RECORD_HEADER_BYTES;
    this.bytes.writeUInt32LE(this.length - payload, this.start);
    this.bytes.writeUInt32LE(crc32(this.bytes, payload, this.length), this.start + 4);
  }

  protected reserve(extra: number): void {
    const needed = this.length + extra;
    if (needed <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < needed) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.bytes.copy(grown, 0, 0, this.length);
    this.bytes = grown;
  }

  protected u8(value: number): void {
    this.reserve(1);
    this.bytes[this.length++] = value;
  }

  protected u32(value: number): void {
    this.reserve(4);
    this.length = this.bytes.writeUInt32LE(value >>> 0, this.length);
  }

  protected f64(value: number): void {
    this.reserve(8);
    this.length = this.bytes.writeDoubleLE(value, this.length);
  }

  protected string(text: string): void {
    const size = Buffer.byteLength(text);
    this.u32(size);
    this.reserve(size);
    this.length += this.bytes.write(text, this.length);
  }

  protected raw(bytes: Uint8Array): void {
    this.u32(bytes.length);
    this.reserve(bytes.length);
    this.bytes.set(bytes, this.length);
    this.length += bytes.length;
  }

  protected mid(mid: Buffer): void {
    this.reserve(MID_BYTES);
    mid.copy(this.bytes, this.length, 0, MID_BYTES);
    this.length += MID_BYTES;
  }
}

/** What reading one record found. */
export type ReadResult = "record" | "end" | "torn" | "corrupt";

/**
 * Reads records out of a chunk of the log, one at a time, into its own fields: no object per
 * record. A stored message's body and push2 fields stay in the chunk until `message()` copies
 * them out, so replay allocates only for messages it keeps. A record cut by the chunk's end is
 * "torn": the caller reads on with more bytes, or at the file's end, cuts it off.
 */
export class RecordReader {
  offset = 0;
  type = 0;
  /** The channel id of a message, sequenced, drop or channel record; the epoch of an epoch record. */
  text = "";
  /** Message and sequenced records: the message's fields. */
  id = 0;
  time = 0;
  tag = 0;
  seq = 0;
  expiresAt = 0;
  eventId = "";
  eventType = "";
  /** lastMessageId of a channel record. */
  number = 0;
  /** The mid of a message (push2), sequenced or clock record, when it has one; a copy. */
  mid: Buffer | undefined;
  protected bytes: Buffer = Buffer.alloc(0);
  protected end = 0;
  protected at = 0;
  private flags = 0;
  private bodyAt = 0;
  /** A message record: whether it is to be kept (false only in the workers' stream). */
  get stored(): boolean {
    return (this.flags & FLAG_UNSTORED) === 0;
  }

  private bodySize = 0;
  private push2At = 0;

  reset(bytes: Buffer, length = bytes.length): void {
    this.bytes = bytes;
    this.end = length;
    this.offset = 0;
  }

  /** Reads the record at `offset`; on "record" the fields are set and `offset` moves past it. */
  next(): ReadResult {
    const { bytes, offset } = this;
    if (offset === this.end) return "end";
    if (this.end - offset < RECORD_HEADER_BYTES) return "torn";
    const size = bytes.readUInt32LE(offset);
    if (size === 0 || size > MAX_RECORD_BYTES) return "corrupt";
    const payload = offset + RECORD_HEADER_BYTES;
    if (payload + size > this.end) return "torn";
    if (crc32(bytes, payload, payload + size) !== bytes.readUInt32LE(offset + 4)) return "corrupt";
    this.at = payload;
    try {
      if (!this.decode(payload + size)) return "corrupt";
    } catch {
      return "corrupt"; // a field ran past the record: a checksum collision on damage
    }
    this.offset = payload + size;
    return "record";
  }

  /**
   * The message of the current `message` record (a `sequenced` one: without body), its body and
   * push2 fields copied into allocations of their own; `channel` is the id string to share
   * (the channel record's), the record's own by default.
   */
  message(channel = this.text): Message {
    if (this.type === RecordType.sequenced) {
      const push2 = this.mid ? { mid: this.mid, sender: undefined, created: 0, expiry: 0 } : undefined;
      return new Message(this.id, channel, this.time, this.tag, this.seq, EMPTY, "", "", 0, push2);
    }
    const text = this.copy(this.bodyAt, this.bodySize);
    let push2: Push2Fields | undefined;
    if (this.flags & FLAG_PUSH2) {
      this.at = this.push2At + MID_BYTES;
      const mid = this.mid!;
      const created = this.f64();
      const expiry = this.f64();
      let sender;
      if (this.flags & FLAG_SENDER) {
        const type = this.u32();
        const size = this.u32();
        sender = { type, id: new Uint8Array(this.copy(this.at, size)) };
      }
      push2 = { mid, sender, created, expiry };
    }
    return new Message(this.id, channel, this.time, this.tag, this.seq, text, this.eventId, this.eventType, this.expiresAt, push2);
  }

  protected decode(end: number): boolean {
    this.type = this.u8();
    this.mid = undefined;
    switch (this.type) {
      case RecordType.message: {
        this.flags = this.u8();
        this.id = this.f64();
        this.time = this.f64();
        this.tag = this.u32();
        this.seq = this.f64();
        this.expiresAt = this.f64();
        this.text = this.string();
        this.eventId = this.string();
        this.eventType = this.string();
        this.bodySize = this.u32();
        this.need(this.bodySize);
        this.bodyAt = this.at;
        this.at += this.bodySize;
        if (this.flags & FLAG_PUSH2) {
          this.push2At = this.at;
          this.need(MID_BYTES + 16);
          this.mid = this.copy(this.at, MID_BYTES);
          this.at += MID_BYTES + 16;
          if (this.flags & FLAG_SENDER) {
            this.u32();
            const size = this.u32();
            this.need(size);
            this.at += size;
          }
        }
        break;
      }
      case RecordType.sequenced: {
        const flags = this.u8();
        this.id = this.f64();
        this.time = this.f64();
        this.tag = this.u32();
        this.seq = this.f64();
        this.text = this.string();
        if (flags & FLAG_MID) {
          this.need(MID_BYTES);
          this.mid = this.copy(this.at, MID_BYTES);
          this.at += MID_BYTES;
        }
        break;
      }
      case RecordType.drop:
      case RecordType.epoch:
        this.text = this.string();
        break;
      case RecordType.channel:
        this.number = this.f64();
        this.text = this.string();
        break;
      case RecordType.clock: {
        const flags = this.u8();
        this.time = this.f64();
        this.tag = this.u32();
        this.seq = this.f64();
        if (flags & FLAG_MID) {
          this.need(MID_BYTES);
          this.mid = this.copy(this.at, MID_BYTES);
          this.at += MID_BYTES;
        }
        break;
      }
      default:
        return false;
    }
    return this.at === end;
  }

  protected need(size: number): void {
    if (this.at + size > this.end || size < 0) throw new RangeError("field beyond record");
  }

  protected u8(): number {
    this.need(1);
    return this.bytes[this.at++]!;
  }

  protected u32(): number {
    this.need(4);
    const value = this.bytes.readUInt32LE(this.at);
    this.at += 4;
    return value;
  }

  protected f64(): number {
    this.need(8);
    const value = this.bytes.readDoubleLE(this.at);
    this.at += 8;
    return value;
  }

  protected string(): string {
    const size = this.u32();
    if (size === 0) return ""; // event id and type, mostly
    this.need(size);
    const text = this.bytes.toString("utf8", this.at, this.at + size);
    this.at += size;
    return text;
  }

  /** Bytes in an allocation of their own: a stored body must not keep the read chunk alive. */
  protected copy(at: number, size: number): Buffer {
    const bytes = Buffer.allocUnsafeSlow(size);
    this.bytes.copy(bytes, 0, at, at + size);
    return bytes;
  }
}

const EMPTY = Buffer.alloc(0);
