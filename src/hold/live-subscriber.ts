import type { SubscriberMode } from "../config/schema.js";
import type { Message } from "../core/message.js";
import type { Route } from "../routing/route.js";
import type { Channel } from "../store/channel.js";
import { HeldConnection } from "./held-connection.js";

/** Why a live connection ends; the transports say goodbye differently for each. */
export type EndReason = "ttl" | "deleted" | "shutdown";

/**
 * What streaming, EventSource and WebSocket subscribers share: a connection that stays open on
 * several channels, gets every message, a ping after `pingMessageInterval` of silence, and ends on
 * `subscriberConnectionTtl`, shutdown, or when its last channel is deleted (PROTOCOL.md §8, §9).
 *
 * One wheel entry serves both timers: the entry is due at the earlier of the next ping and the
 * end of life. A message does not touch the wheel; it only moves `lastWrite`, and a ping deadline
 * that finds recent traffic is simply pushed back.
 */
export abstract class LiveSubscriber extends HeldConnection {
  abstract override readonly mode: SubscriberMode;
  /** When the connection last sent something (ms). */
  private lastWrite: number;
  private readonly endOfLife: number;

  constructor(
    readonly route: Route,
    channels: Channel[],
  ) {
    super(route.ctx, channels);
    const now = route.ctx.clock.now();
    this.lastWrite = now;
    const ttl = route.config.subscriberConnectionTtl;
    this.endOfLife = ttl === undefined ? Infinity : now + ttl * 1000;
  }

  /** Writes one message (catch-up, live, or the id -2 of a deleted channel); returns the bytes written. */
  protected abstract writeMessage(message: Message): number;
  /** Writes a ping; returns the bytes written. */
  protected abstract writePing(): number;
  /** Writes the goodbye (footer, close frame) and ends the connection. */
  protected abstract writeEnd(reason: EndReason): void;
  /** Bytes written but not yet taken by the client. */
  protected abstract get backlog(): number;
  protected abstract get remoteAddress(): string | undefined;
  /** Cuts the connection without a goodbye. */
  protected abstract destroy(): void;

  /** Joins the channels, the held set and the wheel; the connection is live from here on. */
  protected register(): void {
    this.join();
    this.scheduleNext();
  }

  /** Sends catch-up messages before going live. */
  protected replay(messages: readonly Message[]): void {
    for (const message of messages) this.writeMessage(message);
    this.ctx.metrics.deliveredMessages += messages.length;
  }

  onMessage(_channel: Channel, message: Message): void {
    if (!this.holding) return;
    const written = this.writeMessage(message);
    this.ctx.metrics.deliveredMessages++;
    this.wrote(written);
  }

  onChannelDeleted(channel: Channel, message: Message): void {
    if (!this.holding) return;
    this.leaveChannel(channel);
    this.wrote(this.writeMessage(message));
    if (this.channels.length === 0) this.end("deleted");
  }

  onWheelExpire(): void {
    if (!this.holding) return;
    const now = this.ctx.clock.now();
    if (now >= this.endOfLife) return this.end("ttl");
    if (now >= this.lastWrite + this.pingInterval) this.wrote(this.writePing(), now);
    this.scheduleNext();
  }

  shutdown(): void {
    this.end("shutdown");
  }

  /** The client went away: leave quietly. */
  abort(): void {
    this.release();
  }

  protected end(reason: EndReason): void {
    if (this.release()) this.writeEnd(reason);
  }

  /**
   * After a write: a client that stopped reading is dropped once what it left unread, before this
   * write, passes the limit (so one large message alone never drops a reader that keeps up).
   * Catch-up is not counted: a reconnecting client may legitimately be sent a lot at once.
   */
  private wrote(written: number, now = this.ctx.clock.now()): void {
    this.lastWrite = now;
    if (!this.holding) return;
    const limit = this.route.config.subscriberMaxBacklog;
    const backlog = this.backlog;
    if (backlog - written > limit) {
      this.ctx.log.warn(`${this.mode} subscriber ${this.remoteAddress ?? "?"} dropped: ${backlog} bytes not read (subscriberMaxBacklog ${limit})`);
      this.release();
      this.destroy();
    }
  }

  private get pingInterval(): number {
    const seconds = this.route.config.pingMessageInterval;
    return seconds === undefined ? Infinity : seconds * 1000;
  }

  private scheduleNext(): void {
    const next = Math.min(this.endOfLife, this.lastWrite + this.pingInterval);
    if (next !== Infinity) this.ctx.wheel.schedule(this, next);
  }
}
