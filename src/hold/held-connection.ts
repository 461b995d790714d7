import type { Held, PushContext } from "../context.js";
import type { Message } from "../core/message.js";
import type { WheelEntry } from "../core/timer-wheel.js";
import type { Channel, ChannelSubscriber } from "../store/channel.js";

const NEW = 0;
const HOLDING = 1;
const RELEASED = 2;

/**
 * A connection the server holds open on channels — a waiting long-poll, a stream, a WebSocket,
 * in either protocol. From `join()` to its one `release()` it is on its channels (the hub), in
 * the held set (shutdown, /metrics) and, once it schedules itself, on the timer wheel.
 */
export abstract class HeldConnection implements ChannelSubscriber, WheelEntry, Held {
  wheelDeadline = 0;
  wheelNext: WheelEntry | null = null;
  wheelPrev: WheelEntry | null = null;
  wheelSlot = -1;
  abstract readonly mode: string;
  private phase = NEW;

  constructor(
    readonly ctx: PushContext,
    readonly channels: Channel[],
  ) {}

  /** Joined and not yet released: messages are welcome. */
  get holding(): boolean {
    return this.phase === HOLDING;
  }

  abstract onMessage(channel: Channel, message: Message): void;
  abstract onChannelDeleted(channel: Channel, message: Message): void;
  abstract onWheelExpire(): void;
  abstract shutdown(): void;
  abstract abort(): void;

  /** Subscribes to every channel and enters the held set. */
  protected join(): void {
    this.phase = HOLDING;
    const { hub, held } = this.ctx;
    for (const channel of this.channels) hub.subscribe(channel, this);
    held.add(this);
  }

  /** Leaves one channel (it was deleted) and stays on the others. */
  protected leaveChannel(channel: Channel): void {
    const index = this.channels.indexOf(channel);
    if (index >= 0) this.channels.splice(index, 1);
    this.ctx.hub.unsubscribe(channel, this);
  }

  /**
   * Leaves every channel, the wheel and the held set, then runs `released()`. Once: false when
   * the connection never joined or was already released.
   */
  protected release(): boolean {
    if (this.phase !== HOLDING) return false;
    this.phase = RELEASED;
    const { hub, wheel, held } = this.ctx;
    for (const channel of this.channels) hub.unsubscribe(channel, this);
    wheel.cancel(this);
    held.delete(this);
    this.released();
    return true;
  }

  /** What a protocol undoes besides (its counters, its reply's watch). */
  protected released(): void {}
}
