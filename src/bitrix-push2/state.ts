import type { PushContext } from "../context.js";
import type { Message } from "../core/message.js";
import { Refusal } from "../core/refusal.js";
import type { Channel } from "../store/channel.js";
import type { Sender } from "./protobuf.js";
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

/** What is published: one body to several channels, one mid. */
export interface Publication {
  body: string;
  /** Seconds to keep it; 0 = delivered to connected subscribers only, never stored (as Bitrix does). */
  expiry: number;
  type: string;
  sender: Sender | undefined;
}

/**
 * The Push server 2.0 state of one pushwire, beside the shared store: the signer, presence (when
 * each channel last had a subscriber) and the connection and publish counters of /server-stat.
 * One per running pushwire; the protocol's handlers find it with `push2Of(ctx)`. Messages are
 * sequenced (their mid too), stored and delivered by the store's Broker and History.
 */
export class Push2State {
  readonly startedAt: number;
  /** ms when a channel's last push2 subscriber left, for the online grace (onlineTtl). */
  private readonly lastSeen = new Map<string, number>();
  private touches = 0;
  websockets = 0;
  pollings = 0;
  /** Messages published through the protocol since start, and by path. */
  publishedFromBackend = 0;
  publishedFromClients = 0;
  private signerCache: ChannelSigner | undefined;

  constructor(readonly ctx: PushContext) {
    this.startedAt = ctx.clock.now();
  }

  get signer(): ChannelSigner {
    const { securityKey, securityAlgo } = this.ctx.http;
    if (this.signerCache?.key !== securityKey || this.signerCache.algo !== securityAlgo) this.signerCache = new ChannelSigner(securityKey, securityAlgo);
    return this.signerCache;
  }

  /**
   * Publishes one message to channels (store keys) through the broker: one mid for all of them,
   * one OutgoingMessage rendering shared by every subscriber. Channels the store cannot create
   * (its cap) are skipped; the count of channels reached is returned.
   */
  publish(keys: readonly string[], publication: Publication): number {
    const { store, broker, log } = this.ctx;
    if (broker.unavailable) return 0; // the message log cannot write; the publishers answered the refusal
    const channels: Channel[] = [];
    for (const key of keys) {
      const channel = store.obtain(key);
      if (!(channel instanceof Refusal)) channels.push(channel);
    }
    if (channels.length === 0) return 0;
    try {
      broker.publish(channels, Buffer.from(publication.body), {
        eventId: "",
        eventType: publication.type,
        store: publication.expiry > 0,
        ttl: publication.expiry,
        push2: { sender: publication.sender, expiry: publication.expiry },
      });
    } catch (error) {
      log.error(`bitrix-push2 publish to ${channels.map((c) => c.id).join("/")}: ${(error as Error).stack ?? error}`);
    }
    return channels.length;
  }

  /** Stored messages newer than `mid` on these channels: the newest 100 per channel, the newest 200 overall, oldest first. */
  resume(channels: readonly Channel[], mid: Buffer): Message[] {
    const { history } = this.ctx;
    const found: Message[] = [];
    const seen = new Set<string>();
    for (const channel of channels) {
      const stored = history.read(channel);
      let taken = 0;
      for (let i = stored.length - 1; i >= 0 && taken < RESUME_PER_CHANNEL; i--) {
        const message = stored.at(i)!;
        const push2 = message.push2;
        if (!push2) continue; // published through push-stream: not a Push server 2.0 message
        if (push2.mid.compare(mid) <= 0) break;
        taken++;
        const key = push2.mid.toString("latin1");
        if (seen.has(key)) continue; // one message to several of the client's channels
        seen.add(key);
        found.push(message);
      }
    }
    found.sort((a, b) => a.seq - b.seq);
    return found.length > RESUME_TOTAL ? found.slice(found.length - RESUME_TOTAL) : found;
  }

  /** The newest stored mid on these channels, undefined when none: what a long-poll timeout reports. */
  newestMid(channels: readonly Channel[]): Buffer | undefined {
    const { history } = this.ctx;
    let newest: Buffer | undefined;
    for (const channel of channels) {
      const stored = history.read(channel);
      for (let i = stored.length - 1; i >= 0; i--) {
        const mid = stored.at(i)!.push2?.mid;
        if (!mid) continue;
        if (!newest || mid.compare(newest) > 0) newest = mid;
        break;
      }
    }
    return newest;
  }

  /** A push2 subscriber left these channels (or answered a ping): they stay online for onlineTtl. */
  seen(channels: readonly Channel[]): void {
    const now = this.ctx.clock.now();
    for (const channel of channels) this.lastSeen.set(channel.id, now);
    if (++this.touches % 1024 === 0) this.prune(now);
  }

  /** Online: a subscriber now, or one within the last onlineTtl seconds. */
  isOnline(key: string): boolean {
    if ((this.ctx.store.find(key)?.subscriberCount ?? 0) > 0) return true;
    const last = this.lastSeen.get(key);
    return last !== undefined && this.ctx.clock.now() < last + this.ctx.http.onlineTtl * 1000;
  }

  /**
   * Push server 2.0's `/server-stat/` JSON (BITRIX.md §5): an array with one object per process.
   * pushwire is one process, so the array has one object: the same field names, filled from the
   * store and the push2 counters.
   */
  serverStatJson(): string {
    const { store, history, broker, clock, http } = this.ctx;
    return JSON.stringify([{
      pid: process.pid,
      date: new Date(clock.now()).toISOString(),
      processUniqueId: `pushwire-${process.pid}`,
      startDate: new Date(this.startedAt).toISOString(),
      uptime: Math.floor((clock.now() - this.startedAt) / 1000),
      clusterMode: false,
      channels: store.channelCount,
      storedMessages: history.storedMessages,
      websockets: this.websockets,
      pollings: this.pollings,
      publishedMessages: broker.publishedMessages,
      messagesFromBackend: this.publishedFromBackend,
      messagesFromClients: this.publishedFromClients,
      limits: {
        maxConnPerChannel: http.maxConnPerChannel,
        maxMessagesPerChannel: http.maxMessagesStoredPerChannel,
        messageTTL: http.messageTtl,
        onlineTTL: http.onlineTtl,
      },
    }]);
  }

  private prune(now: number): void {
    const ttl = this.ctx.http.onlineTtl * 1000;
    for (const [key, last] of this.lastSeen) if (now >= last + ttl) this.lastSeen.delete(key);
  }
}

const states = new WeakMap<PushContext, Push2State>();

/** The Push server 2.0 state of a running pushwire, made on first use. */
export function push2Of(ctx: PushContext): Push2State {
  let state = states.get(ctx);
  if (!state) states.set(ctx, (state = new Push2State(ctx)));
  return state;
}
