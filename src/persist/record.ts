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

  message(message: Message): void {
    const push2 = message.push2;
    const sender = push2?.sender;
    this.begin(RecordType.message);
    this.u8((push2 ? FLAG_PUSH2 : 0) | (sender ? FLAG_SENDER : 0));
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

  private begin(type: number): void {
    this.start = this.length;
    this.reserve(RECORD_HEADER_BYTES + 1);
    this.length += RECORD_HEADER_BYTES;
    this.bytes[this.length++] = type;
  }

  private end(): void {
    const payload = this.start + RECORD_HEADER_BYTES;
    this.bytes.writeUInt32LE(this.length - payload, this.start);
    this.bytes.writeUInt32LE(crc32(this.bytes, payload, this.length), this.start + 4);
  }

  private reserve(extra: number): void {
    const needed = this.length + extra;
    if (needed <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < needed) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.bytes.copy(grown, 0, 0, this.length);
    this.bytes = grown;
  }

  private u8(value: number): void {
    this.reserve(1);
    this.bytes[this.length++] = value;
  }

  private u32(value: number): void {
    this.reserve(4);
    this.length = this.bytes.writeUInt32LE(value >>> 0, this.length);
  }

  private f64(value: number): void {
    this.reserve(8);
    this.length = this.bytes.writeDoubleLE(value, this.length);
  }

  private string(text: string): void {
    const size = Buffer.byteLength(text);
    this.u32(size);
    this.reserve(size);
    this.length += this.bytes.write(text, this.length);
  }

  private raw(bytes: Uint8Array): void {
    this.u32(bytes.length);
    this.reserve(bytes.length);
    this.bytes.set(bytes, this.length);
    this.length += bytes.length;
  }

  private mid(mid: Buffer): void {
    this.reserve(MID_BYTES);
    mid.copy(this.bytes, this.length, 0, MID_BYTES);
    this.length += MID_BYTES;
  }
}

/** What reading one record found. */
export type ReadResult = "record" | "end" | "torn" | "corrupt";

/**
 * Reads records out of a chunk of the log, one at a time, into its own fields (no object per
 * record but the Message of a stored one). A record cut by the chunk's end is "torn": the caller
 * reads on with more bytes, or at the file's end, cuts it off.
 */
export class RecordReader {
  offset = 0;
  type = 0;
  /** The message of a `message` record; for `sequenced`, one without body (id, stamp, mid). */
  message: Message | undefined;
  /** The channel id of a drop or channel record, the epoch of an epoch record. */
  text = "";
  /** lastMessageId of a channel record; the clock's fields of a clock record. */
  number = 0;
  time = 0;
  tag = 0;
  seq = 0;
  mid: Buffer | undefined;
  private bytes: Buffer = Buffer.alloc(0);
  private end = 0;
  private at = 0;

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

  private decode(end: number): boolean {
    this.type = this.u8();
    this.message = undefined;
    this.mid = undefined;
    switch (this.type) {
      case RecordType.message: {
        const flags = this.u8();
        const id = this.f64();
        const time = this.f64();
        const tag = this.u32();
        const seq = this.f64();
        const expiresAt = this.f64();
        const channel = this.string();
        const eventId = this.string();
        const eventType = this.string();
        const text = this.copy(this.u32());
        let push2: Push2Fields | undefined;
        if (flags & FLAG_PUSH2) {
          const mid = this.copy(MID_BYTES);
          const created = this.f64();
          const expiry = this.f64();
          const sender = flags & FLAG_SENDER ? { type: this.u32(), id: new Uint8Array(this.copy(this.u32())) } : undefined;
          push2 = { mid, sender, created, expiry };
        }
        this.message = new Message(id, channel, time, tag, seq, text, eventId, eventType, expiresAt, push2);
        break;
      }
      case RecordType.sequenced: {
        const flags = this.u8();
        const id = this.f64();
        const time = this.f64();
        const tag = this.u32();
        const seq = this.f64();
        const channel = this.string();
        const push2 = flags & FLAG_MID ? { mid: this.copy(MID_BYTES), sender: undefined, created: 0, expiry: 0 } : undefined;
        this.message = new Message(id, channel, time, tag, seq, EMPTY, "", "", 0, push2);
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
        if (flags & FLAG_MID) this.mid = this.copy(MID_BYTES);
        break;
      }
      default:
        return false;
    }
    return this.at === end;
  }

  private need(size: number): void {
    if (this.at + size > this.bytes.length || size < 0) throw new RangeError("field beyond record");
  }

  private u8(): number {
    this.need(1);
    return this.bytes[this.at++]!;
  }

  private u32(): number {
    this.need(4);
    const value = this.bytes.readUInt32LE(this.at);
    this.at += 4;
    return value;
  }

  private f64(): number {
    this.need(8);
    const value = this.bytes.readDoubleLE(this.at);
    this.at += 8;
    return value;
  }

  private string(): string {
    const size = this.u32();
    if (size === 0) return ""; // event id and type, mostly
    this.need(size);
    const text = this.bytes.toString("utf8", this.at, this.at + size);
    this.at += size;
    return text;
  }

  /** Bytes in an allocation of their own: a stored body must not keep the read chunk alive. */
  private copy(size: number): Buffer {
    this.need(size);
    const bytes = Buffer.allocUnsafeSlow(size);
    this.bytes.copy(bytes, 0, this.at, this.at + size);
    this.at += size;
    return bytes;
  }
}

const EMPTY = Buffer.alloc(0);
