import type { Channel } from "../core/channel.js";
import type { Message } from "../core/message.js";
import { Refusal } from "../core/refusal.js";
import type { PushContext } from "../http/context.js";
import { MidClock, MID_LENGTH } from "./mid.js";
import { encodeOutgoingMessage, type Sender } from "./protobuf.js";
import { ChannelSigner } from "./signature.js";

/** Stored-message replay limits of Push server 2.0 (BITRIX.md §5): per channel, then overall. */
export const RESUME_PER_CHANNEL = 100;
export const RESUME_TOTAL = 200;

/** Store key of a channel: a private id is itself, a public id gets this prefix. */
const PUBLIC_PREFIX = "public:";

export function channelKey(hexId: string, isPrivate: boolean): string {
  return isPrivate ? hexId : PUBLIC_PREFIX + hexId;
}

/** The hex id and kind of a store key. */
export function splitChannelKey(key: string): { hexId: string; isPrivate: boolean } {
  return key.startsWith(PUBLIC_PREFIX) ? { hexId: key.slice(PUBLIC_PREFIX.length), isPrivate: false } : { hexId: key, isPrivate: true };
}

/** The mid of a stored message: its bytes are an OutgoingMessage that starts with field 1 (13 bytes). */
export function messageMid(message: Message): Buffer {
  return message.text.subarray(2, 2 + MID_LENGTH);
}

/** What is published: one body to several channels, one mid. */
export interface Publication {
  body: string;
  /** Seconds to keep it; 0 = delivered to connected subscribers only, never stored (as Bitrix does). */
  expiry: number;
  type: string;
  sender: Sender | undefined;
}

/**
 * The Push server 2.0 state of one pushwire, beside the shared ChannelStore: message ids, the
 * signer, presence (when each channel last had a subscriber) and connection counters for
 * /server-stat/. One per store; the protocol's handlers find it with `push2Of(ctx)`.
 */
export class Push2Hub {
  readonly mids: MidClock;
  readonly startedAt: number;
  /** ms when a channel's last push2 subscriber left, for the online grace (onlineTtl). */
  private readonly lastSeen = new Map<string, number>();
  private touches = 0;
  websockets = 0;
  pollings = 0;
  /** Messages published through the protocol since start, and by path. */
  publishedFromBackend = 0;
  publishedFromClients = 0;

  constructor(readonly ctx: PushContext) {
    this.startedAt = ctx.clock.now();
    this.mids = new MidClock(this.startedAt / 1000);
  }

  get signer(): ChannelSigner {
    const { securityKey, securityAlgo } = this.ctx.http;
    if (this.signerCache?.key !== securityKey || this.signerCache.algo !== securityAlgo) this.signerCache = new ChannelSigner(securityKey, securityAlgo);
    return this.signerCache;
  }

  private signerCache: ChannelSigner | undefined;

  /**
   * Publishes one message to channels (store keys): one mid, one encoded OutgoingMessage shared
   * by every channel and every subscriber. Channels the store cannot create (its cap) are
   * skipped; the count of channels reached is returned.
   */
  publish(keys: readonly string[], publication: Publication): number {
    const { store, clock, log } = this.ctx;
    const text = encodeOutgoingMessage({
      id: this.mids.next(),
      body: publication.body,
      expiry: publication.expiry,
      created: Math.floor(clock.now() / 1000),
      sender: publication.sender,
    });
    const options = { eventId: "", eventType: publication.type, store: publication.expiry > 0, ttl: publication.expiry };
    let reached = 0;
    for (const key of keys) {
      const channel = store.obtain(key);
      if (channel instanceof Refusal) continue;
      try {
        store.publish(channel, text, options);
        reached++;
      } catch (error) {
        log.error(`bitrix-push2 publish to ${key}: ${(error as Error).stack ?? error}`);
      }
    }
    return reached;
  }

  /** Stored messages newer than `mid` on these channels: the newest 100 per channel, the newest 200 overall, oldest first. */
  resume(channels: readonly Channel[], mid: Buffer): Message[] {
    const { store } = this.ctx;
    const found: Message[] = [];
    const seen = new Set<Buffer>();
    for (const channel of channels) {
      if (!store.hasStoredMessages(channel)) continue; // also drops expired ones
      const ring = channel.messages;
      let taken = 0;
      for (let i = ring.length - 1; i >= 0 && taken < RESUME_PER_CHANNEL; i--) {
        const message = ring.at(i)!;
        if (messageMid(message).compare(mid) <= 0) break;
        taken++;
        if (seen.has(message.text)) continue; // one message to several of the client's channels
        seen.add(message.text);
        found.push(message);
      }
    }
    found.sort((a, b) => a.seq - b.seq);
    return found.length > RESUME_TOTAL ? found.slice(found.length - RESUME_TOTAL) : found;
  }

  /** A push2 subscriber left these channels (or answered a ping): they stay online for onlineTtl. */
  seen(channels: readonly Channel[]): void {
    const now = this.ctx.clock.now();
    for (const channel of channels) this.lastSeen.set(channel.id, now);
    if (++this.touches % 1024 === 0) this.prune(now);
  }

  /** Online: a subscriber now, or one within the last onlineTtl seconds. */
  isOnline(key: string): boolean {
    if ((this.ctx.store.find(key)?.subscribers.size ?? 0) > 0) return true;
    const last = this.lastSeen.get(key);
    return last !== undefined && this.ctx.clock.now() < last + this.ctx.http.onlineTtl * 1000;
  }

  private prune(now: number): void {
    const ttl = this.ctx.http.onlineTtl * 1000;
    for (const [key, last] of this.lastSeen) if (now >= last + ttl) this.lastSeen.delete(key);
  }
}

const hubs = new WeakMap<PushContext, Push2Hub>();

/** The hub of a running pushwire, made on first use. */
export function push2Of(ctx: PushContext): Push2Hub {
  let hub = hubs.get(ctx);
  if (!hub) hubs.set(ctx, (hub = new Push2Hub(ctx)));
  return hub;
}
