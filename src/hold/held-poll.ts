import type { PushContext } from "../context.js";
import type { PushReply } from "../http/exchange.js";
import type { Channel } from "../store/channel.js";
import { HeldConnection } from "./held-connection.js";

/**
 * A held request that ends with one answer — a long-poll, in either protocol. Its reply is watched
 * from the hold to the release: a client that leaves releases it, shutdown answers it as the hold
 * time would.
 */
export abstract class HeldPoll extends HeldConnection {
  constructor(
    ctx: PushContext,
    channels: Channel[],
    private reply: PushReply | null,
  ) {
    super(ctx, channels);
  }

  /** Joins the channels, holds until `deadline` (ms; undefined: no deadline) and watches the client. */
  protected holdUntil(deadline: number | undefined): void {
    this.join();
    if (deadline !== undefined) this.ctx.wheel.schedule(this, deadline);
    this.reply!.hold(this);
  }

  shutdown(): void {
    this.onWheelExpire();
  }

  abort(): void {
    this.release();
  }

  /** Releases the hold; the reply when it can still be answered, else null. */
  protected answerable(): PushReply | null {
    const reply = this.reply;
    return reply && this.release() && !reply.done ? reply : null;
  }

  protected override released(): void {
    this.reply!.hold(null);
    this.reply = null;
  }
}
