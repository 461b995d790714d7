import type { Clock } from "./clock.js";

/** Ids of the pseudo-messages push-stream renders through the subscriber template. */
export const PING_MESSAGE_ID = -1;
export const DELETED_MESSAGE_ID = -2;
export const TIMEOUT_MESSAGE_ID = -3;

/**
 * What Bitrix Push server 2.0 keeps with a message besides its body (BITRIX.md §5): the message
 * id (`mid`, assigned when the message is sequenced, one for every channel of one publish), the
 * sender, and the creation second and expiry that go out in its OutgoingMessage.
 */
export interface Push2Fields {
  /** 13 bytes: the start second and a counter (core/mid.ts). */
  readonly mid: Buffer;
  /** Who published it (Push server 2.0's Sender: type and id), when known. */
  readonly sender: { readonly type: number; readonly id: Uint8Array } | undefined;
  /** Unix seconds of the publish. */
  readonly created: number;
  /** Seconds the message is kept; 0 = delivered to connected subscribers only. */
  readonly expiry: number;
}

/**
 * One published message. Its identity is the push-stream triple: a per-channel id (1, 2, 3…),
 * the publish second and the server-wide same-second tag. `seq` is a server-wide counter that
 * orders every publish, so replies spanning several channels can be sorted cheaply. A message
 * published through Bitrix Push server 2.0 also carries its `push2` fields.
 */
export class Message {
  /** Rendered bytes for the first template that asked, then for others in `moreRenders`. */
  renderTemplate: object | undefined = undefined;
  renderBytes: Buffer | undefined = undefined;
  moreRenders: Map<object, Buffer> | undefined = undefined;

  constructor(
    readonly id: number,
    readonly channel: string,
    /** Publish time in whole seconds since the epoch. */
    readonly time: number,
    readonly tag: number,
    readonly seq: number,
    readonly text: Buffer,
    readonly eventId: string,
    readonly eventType: string,
    /** Milliseconds since the epoch after which the message is gone; Infinity for never. */
    readonly expiresAt: number,
    readonly push2: Push2Fields | undefined = undefined,
  ) {}

  /** Returns the bytes cached for `template`, rendering them once with `render`. */
  rendered(template: object, render: (message: Message) => Buffer): Buffer {
    if (this.renderTemplate === template) return this.renderBytes!;
    if (this.renderTemplate === undefined) {
      this.renderTemplate = template;
      return (this.renderBytes = render(this));
    }
    let bytes = this.moreRenders?.get(template);
    if (bytes === undefined) {
      bytes = render(this);
      (this.moreRenders ??= new Map()).set(template, bytes);
    }
    return bytes;
  }
}

/**
 * The bytes in an allocation of their own, for a body that is kept: a view into a larger buffer (a
 * socket read, an 8 KB pool slab shared with other small Buffers) would keep all of that alive as
 * long as the body is stored, beyond what sharedMemorySize counts. Bytes that already own their
 * allocation are returned as they are.
 */
export function ownBytes(bytes: Buffer): Buffer {
  if (bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length) return bytes;
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(copy);
  return copy;
}

/** A pseudo-message (ping, channel deleted, timed out): tag 0, time 0. */
export function specialMessage(id: number, channel: string, text: string): Message {
  return new Message(id, channel, 0, 0, 0, Buffer.from(text), "", "", Infinity);
}

/**
 * Hands out (time, tag) stamps: the tag counts publishes within one second, server-wide.
 * The time never steps back: if the wall clock does, stamps stay in the last second seen and
 * the tag keeps counting, so a new message always sorts after every older one.
 */
export class PublishClock {
  /** The last stamp handed out. */
  time = 0;
  tag = 0;
  seq = 0;

  constructor(private readonly clock: Clock) {}

  stamp(): void {
    const second = Math.floor(this.clock.now() / 1000);
    if (second > this.time) {
      this.time = second;
      this.tag = 1;
    } else {
      this.tag++;
    }
    this.seq++;
  }
}
