import type { Clock } from "../core/clock.js";
import { Message, PublishClock, type Push2Fields } from "../core/message.js";
import { MidClock } from "../core/mid.js";
import type { Channel } from "./channel.js";
import type { PublishOptions } from "./broker.js";

/**
 * Gives published messages their identity: the channel's next id, the (time, tag) stamp and the
 * server-wide seq of the publish clock, the expiry, and for Bitrix push2 the mid. Everything
 * that must keep growing across a restart lives here.
 */
export class Sequencer {
  readonly publishClock: PublishClock;
  readonly mids: MidClock;

  constructor(
    clock: Clock,
    /** Seconds a stored message lives at most (messageTtl). */
    private readonly messageTtl: () => number,
  ) {
    this.publishClock = new PublishClock(clock);
    this.mids = new MidClock(clock.now() / 1000);
  }

  /**
   * Continues above every stamp a previous process may have handed out (the message log's
   * replay): the next message is stamped after the later of the last logged second and now, so
   * a client holding the (time, tag) of a message that was delivered but never logged — the
   * same second as this restart included — still sees the next one as newer.
   */
  continueAfter(last: { time: number; seq: number; mid: Buffer | undefined }, now: number): void {
    const clock = this.publishClock;
    clock.time = Math.max(last.time, Math.floor(now / 1000)) + 1;
    clock.tag = 0;
    clock.seq = Math.max(clock.seq, last.seq);
    if (last.mid) this.mids.continueAbove(last.mid);
  }

  /** The push2 fields of one publish, shared by the messages of every channel it reaches. */
  push2Fields(options: PublishOptions, now: number): Push2Fields | undefined {
    const push2 = options.push2;
    if (!push2) return undefined;
    return { mid: this.mids.next(), sender: push2.sender, created: Math.floor(now / 1000), expiry: push2.expiry };
  }

  /** The next message of `channel`. */
  next(channel: Channel, text: Buffer, options: PublishOptions, now: number, push2: Push2Fields | undefined): Message {
    const stamp = this.publishClock;
    stamp.stamp();
    const maxTtl = this.messageTtl();
    const ttl = options.ttl !== undefined && options.ttl > 0 ? Math.min(options.ttl, maxTtl) : maxTtl;
    return new Message(
      ++channel.lastMessageId, channel.id, stamp.time, stamp.tag, stamp.seq,
      text, options.eventId, options.eventType, now + ttl * 1000, push2,
    );
  }
}
