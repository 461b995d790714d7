import { Refusal } from "../core/refusal.js";
import { RecordBuffer, RecordReader } from "../persist/record.js";
import type { PublishOptions } from "../store/broker.js";

/**
 * What the primary and its workers say to each other over one unix socket per worker: the message
 * log's records (a message to keep or only to deliver, a channel dropped, a snapshot's channels)
 * plus the frames below, all with the log's framing (length, CRC-32, type). The primary's stream
 * to a worker is one order: a publish's messages come before its acknowledgement, so a worker
 * answers its publisher only once its own copy holds them.
 */
export const FrameType = {
  /** worker → primary: publish a body to channels (the publisher's request, not yet sequenced). */
  publish: 64,
  /** worker → primary: delete a channel. */
  remove: 65,
  /** primary → worker: request n is done (durable as History promises), or refused. */
  ack: 66,
  /**
   * worker → primary: how many subscribers this worker holds on a channel now; primary → worker:
   * how many the other workers hold there.
   */
  subscribers: 67,
  /** primary → worker: the snapshot is complete; the live stream follows. */
  ready: 68,
  /** primary → every worker: a channel was deleted, with the text its subscribers get. */
  deleted: 69,
  /** worker → primary: which worker this socket is (its first frame). */
  hello: 70,
  /**
   * worker → primary → every other worker: worker n's readings (JSON, once a second), so each
   * worker's statistics and /metrics speak for the machine; empty: worker n is gone. Number
   * PRIMARY_REPORT: the primary's own message-log figures (JSON, once a second, with a log).
   */
  report: 71,
} as const;

/** The report number of the primary's own figures (workers are 1…N). */
export const PRIMARY_REPORT = 0;

const FIRST_FRAME_TYPE = 64;
const FLAG_STORE = 1;
const FLAG_TTL = 2;
const FLAG_PUSH2 = 4;
const FLAG_SENDER = 8;

/** Encodes records and frames into one growing buffer (see RecordBuffer). */
export class FrameBuffer extends RecordBuffer {
  publish(request: number, channels: readonly string[], body: Buffer, options: PublishOptions): void {
    const push2 = options.push2;
    const sender = push2?.sender;
    this.begin(FrameType.publish);
    this.u32(request);
    this.u8((options.store ? FLAG_STORE : 0) | (options.ttl !== undefined ? FLAG_TTL : 0) | (push2 ? FLAG_PUSH2 : 0) | (sender ? FLAG_SENDER : 0));
    this.f64(options.ttl ?? 0);
    this.string(options.eventId);
    this.string(options.eventType);
    this.u32(channels.length);
    for (const channel of channels) this.string(channel);
    this.raw(body);
    if (push2) {
      this.f64(push2.expiry);
      if (sender) {
        this.u32(sender.type);
        this.raw(sender.id);
      }
    }
    this.end();
  }

  remove(request: number, channel: string, text: string | undefined): void {
    this.begin(FrameType.remove);
    this.u32(request);
    this.string(channel);
    this.u8(text === undefined ? 0 : 1);
    this.string(text ?? "");
    this.end();
  }

  deleted(channel: string, text: string | undefined): void {
    this.begin(FrameType.deleted);
    this.string(channel);
    this.u8(text === undefined ? 0 : 1);
    this.string(text ?? "");
    this.end();
  }

  ack(request: number, failure: Refusal | undefined): void {
    this.begin(FrameType.ack);
    this.u32(request);
    this.u32(failure?.status ?? 0);
    this.string(failure?.explain ?? "");
    this.end();
  }

  subscribers(channel: string, count: number): void {
    this.begin(FrameType.subscribers);
    this.u32(count);
    this.string(channel);
    this.end();
  }

  hello(worker: number): void {
    this.begin(FrameType.hello);
    this.u32(worker);
    this.end();
  }

  report(worker: number, json: string): void {
    this.begin(FrameType.report);
    this.u32(worker);
    this.string(json);
    this.end();
  }

  ready(): void {
    this.begin(FrameType.ready);
    this.end();
  }

  /** The bytes encoded so far, in an allocation of their own, and the buffer emptied. */
  take(): Buffer {
    const bytes = Buffer.from(this.bytes.subarray(0, this.length));
    this.length = 0;
    return bytes;
  }
}

/**
 * Reads records and frames. A frame's fields: `request`, `number` (subscribers, worker),
 * `text` (the channel of remove/deleted/subscribers), `channels`, `body`, `options`, `failure`,
 * `deletedText`. A publish's body is copied out (it outlives the chunk).
 */
export class FrameReader extends RecordReader {
  request = 0;
  channels: string[] = [];
  body: Buffer = Buffer.alloc(0);
  options: PublishOptions = { eventId: "", eventType: "", store: false };
  failure: Refusal | undefined;
  deletedText: string | undefined;

  protected override decode(end: number): boolean {
    const type = this.bytes[this.at]!;
    if (type < FIRST_FRAME_TYPE) return super.decode(end);
    this.at++;
    this.type = type;
    switch (type) {
      case FrameType.publish: {
        this.request = this.u32();
        const flags = this.u8();
        const ttl = this.f64();
        const eventId = this.string();
        const eventType = this.string();
        const count = this.u32();
        const channels: string[] = [];
        for (let i = 0; i < count; i++) channels.push(this.string());
        this.channels = channels;
        const size = this.u32();
        this.need(size);
        this.body = this.copy(this.at, size);
        this.at += size;
        let push2: PublishOptions["push2"];
        if (flags & FLAG_PUSH2) {
          const expiry = this.f64();
          let sender;
          if (flags & FLAG_SENDER) {
            const senderType = this.u32();
            const idSize = this.u32();
            this.need(idSize);
            sender = { type: senderType, id: new Uint8Array(this.copy(this.at, idSize)) };
            this.at += idSize;
          }
          push2 = { expiry, sender };
        }
        this.options = { eventId, eventType, store: (flags & FLAG_STORE) !== 0, ttl: flags & FLAG_TTL ? ttl : undefined, push2 };
        break;
      }
      case FrameType.remove:
        this.request = this.u32();
        this.text = this.string();
        this.deletedText = this.optionalString();
        break;
      case FrameType.deleted:
        this.text = this.string();
        this.deletedText = this.optionalString();
        break;
      case FrameType.ack: {
        this.request = this.u32();
        const status = this.u32();
        const explain = this.string();
        this.failure = status === 0 ? undefined : new Refusal(status, explain);
        break;
      }
      case FrameType.subscribers:
        this.number = this.u32();
        this.text = this.string();
        break;
      case FrameType.hello:
        this.number = this.u32();
        break;
      case FrameType.report:
        this.number = this.u32();
        this.text = this.string();
        break;
      case FrameType.ready:
        break;
      default:
        return false;
    }
    return this.at === end;
  }

  private optionalString(): string | undefined {
    const present = this.u8();
    const text = this.string();
    return present ? text : undefined;
  }
}
