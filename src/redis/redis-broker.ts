import type { Clock } from "../core/clock.js";
import type { Message } from "../core/message.js";
import { midText } from "../core/mid.js";
import { Refusal } from "../core/refusal.js";
import type { Logger } from "../log.js";
import type { BrokerListener, PublishOptions, SharedBrokerReading } from "../store/broker.js";
import type { Channel } from "../store/channel.js";
import type { ChannelStore, StoreLimits } from "../store/channel-store.js";
import type { History } from "../store/history.js";
import type { Hub } from "../store/hub.js";
import { LocalBroker } from "../store/local-broker.js";
import { decodeEntries, type Entry } from "./entries.js";
import { redisAddress, type RedisAddress, type RedisBrokerConfig } from "../config/redis.js";
import type { BrokerFactory } from "../store/channels.js";
import { RedisConnection, RedisReplyError } from "./redis-connection.js";
import type { RespReply } from "./resp.js";
import { scripts, type Script } from "./scripts.js";

export interface RedisBrokerSettings {
  address: RedisAddress;
  /** Every key and the pub/sub channel start with it ("pushwire:"), so nodes of one site share them. */
  keyPrefix: string;
  /** A Redis command unanswered this long: the connection is dropped, publishes answered 503. */
  commandTimeoutMs: number;
  /** How long `start` waits for Redis before the node serves without it (publishes refused meanwhile). */
  startTimeoutMs: number;
  /** Replicas that must confirm a publish (WAIT) before it is answered; 0: the master's word is enough. */
  waitReplicas: number;
  waitTimeoutMs: number;
}

/** A publish or deletion waiting until this node applied what it sequenced (its entry came back). */
interface Waiter {
  seq: number;
  resolve(failure: Refusal | undefined): void;
}

/** How often a node trims Redis's list of channels of those whose streams expired. */
const CHANNELS_TRIM_EVERY_MS = 60_000;

/** Pause before a failed catch-up is tried again. */
const RESYNC_PAUSE_MS = 500;

/**
 * The broker of a node that shares its channels with other nodes through Redis (modelled on
 * centrifuge's Redis broker): a publish runs one Lua script that sequences it (id, time, tag,
 * seq, mid: one order for every node), appends it to the channel's stream and publishes it;
 * every node — this one too — applies what comes back on its subscription, in that order, to
 * its own copy of every channel (the memory rings, or the message log, under `history`), so
 * subscribers read History synchronously as in one process.
 *
 * When the subscription is (re)established the node reads every channel's stream in one atomic
 * script and takes what it missed, handing messages newer than its copy to its subscribers;
 * entries that arrive meanwhile wait and follow in order. While the command connection is down
 * publishes are refused (503); held subscribers stay held.
 */
export class RedisBroker extends LocalBroker {
  listener: BrokerListener | undefined;
  /** Catch-ups done (the first load included), and the messages the later ones took: published while this node was away. */
  catchUps = 0;
  caughtUpMessages = 0;
  private readonly commands: RedisConnection;
  private readonly subscriber: RedisConnection;
  /** down: not subscribed; syncing: subscribed, reading the snapshot; live: applying entries as they come. */
  private state: "down" | "syncing" | "live" = "down";
  private subscribed = false;
  private queued: Buffer[] = [];
  /** The seq of the last entry this node applied. */
  private appliedSeq = 0;
  /** Redis's epoch as last seen; another one means Redis lost its data. */
  private epoch: string | undefined;
  /** The newest stamp and mid this node has seen: floors for the scripts. */
  private lastTime = 0;
  private lastTag = 0;
  private lastMid = "";
  private waiters: Waiter[] = [];
  private lastRequest: Promise<Refusal | undefined> = Promise.resolve(undefined);
  private resync: NodeJS.Timeout | undefined;
  private channelsTrimmedAt = 0;
  private started: (() => void) | undefined;
  private readonly messagesChannel: string;
  private readonly down: Refusal;

  constructor(
    store: ChannelStore,
    history: History,
    hub: Hub,
    limits: StoreLimits,
    clock: Clock,
    private readonly settings: RedisBrokerSettings,
    private readonly log: Logger,
  ) {
    super(store, history, hub, limits, clock);
    const { address } = settings;
    // WAIT blocks its connection up to waitTimeout by design: that is not a stuck Redis.
    const commandTimeoutMs = settings.commandTimeoutMs + (settings.waitReplicas > 0 ? settings.waitTimeoutMs : 0);
    const where = `${address.sentinel ? `master "${address.sentinel.name}" via Sentinel, last at ` : ""}${address.host}:${address.port}`;
    this.down = new Refusal(503, `Redis (${where}) is unreachable; the message was not published.`);
    this.messagesChannel = `${settings.keyPrefix}messages`;
    this.commands = new RedisConnection({ ...address }, {
      name: "commands",
      mode: "commands",
      commandTimeoutMs,
      onReady: () => this.commandsReady(),
      onDown: (error) => log.error(`redis: commands connection lost (${error.message}); publishes are answered 503 until it is back`),
    });
    this.subscriber = new RedisConnection({ ...address }, {
      name: "subscriber",
      mode: "subscriber",
      onSubscribed: (channel) => channel === this.messagesChannel && this.subscribedNow(),
      onMessage: (_channel, payload) => this.received(payload),
      onDown: (error) => this.subscriptionLost(error),
    });
    this.subscriber.subscribe([this.messagesChannel]);
  }

  /** Resolves once the first catch-up is done, or after startTimeoutMs (logged: the node serves, publishes refused until Redis answers). */
  start(): Promise<void> {
    if (this.state === "live") return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.started = undefined;
        this.log.error(`redis: not reachable within ${this.settings.startTimeoutMs} ms; serving without it (publishes answered 503) and connecting in the background`);
        resolve();
      }, this.settings.startTimeoutMs);
      this.started = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  close(): void {
    clearTimeout(this.resync);
    this.commands.close();
    this.subscriber.close();
    this.flushWaiters();
  }

  /** Whether both connections are up and this node is caught up. */
  get live(): boolean {
    return this.state === "live" && this.commands.state === "ready";
  }

  get shared(): SharedBrokerReading {
    return this;
  }

  override get unavailable(): Refusal | undefined {
    return this.commands.state === "ready" ? super.unavailable : this.down;
  }

  override publish(channels: readonly Channel[], body: Buffer, options: PublishOptions): Message[] {
    // The events channel reports this node's own subscribers: it stays local.
    if (channels.length === 0 || channels[0]!.forEvents) return super.publish(channels, body, options);
    const maxTtl = this.limits.messageTtl;
    const ttl = options.ttl !== undefined && options.ttl > 0 ? Math.min(options.ttl, maxTtl) : maxTtl;
    const push2 = options.push2;
    const args: Array<string | number | Buffer> = [
      this.settings.keyPrefix, options.store ? 1 : 0, ttl * 1000, maxTtl * 1000, this.limits.maxMessagesStoredPerChannel,
      (maxTtl + this.limits.channelInactivityTime) * 1000, options.eventId, options.eventType,
      push2 ? 1 : 0, push2?.sender ? push2.sender.type : "", push2?.sender ? Buffer.from(push2.sender.id) : "", push2?.expiry ?? 0,
      this.lastTime, this.lastTag, this.appliedSeq, this.lastMid, body,
    ];
    for (const channel of channels) args.push(channel.id, channel.lastMessageId);
    this.lastRequest = this.run(scripts.publish, args);
    return [];
  }

  override delete(channel: Channel, text?: string): void {
    if (channel.forEvents) return super.delete(channel, text);
    if (channel.deleted) return;
    this.lastRequest = this.run(scripts.delete, [this.settings.keyPrefix, channel.id, text ?? "", this.appliedSeq]);
  }

  override whenDurable<T>(then: (arg: T, failure: Refusal | undefined) => void, arg: T): void {
    // Replies come in order, so the last request settles after every earlier one.
    void this.lastRequest.then((failure) => {
      if (failure) return then(arg, failure);
      super.whenDurable(then, arg); // the message log under this node's copy, when there is one
    });
  }

  /**
   * The local sweep, and every minute the trim of Redis's list of channels with stored messages
   * (kept out of the publish script, where it cost each publish a command).
   */
  override sweep(): void {
    super.sweep();
    const now = this.clock.now();
    if (now - this.channelsTrimmedAt < CHANNELS_TRIM_EVERY_MS || this.commands.state !== "ready") return;
    this.channelsTrimmedAt = now;
    this.commands.command(["ZREMRANGEBYSCORE", `${this.settings.keyPrefix}channels`, "-inf", Math.floor(now)]).catch(() => undefined);
  }

  /** Runs a script; settles once this node applied the entry it sequenced (or with the refusal a publisher answers). */
  private run(script: Script, args: Array<string | number | Buffer>): Promise<Refusal | undefined> {
    if (this.commands.state !== "ready") return Promise.resolve(this.down);
    const ran = this.evaluate(script, args);
    const { waitReplicas, waitTimeoutMs } = this.settings;
    if (waitReplicas === 0) return ran.then(this.applied, this.notTaken);
    // Pipelined right behind the script: WAIT counts the replicas that have everything this connection wrote.
    const confirmed = this.commands.command(["WAIT", waitReplicas, Math.max(1, Math.round(waitTimeoutMs))]);
    return Promise.all([ran, confirmed]).then(([reply, replicas]) => {
      if ((replicas as number) < waitReplicas) {
        return new Refusal(503, `Redis replicated the message to ${replicas} of ${waitReplicas} replicas in ${waitTimeoutMs} ms; it may be lost in a failover.`);
      }
      return this.appliedUpTo(reply);
    }, this.notTaken);
  }

  private readonly applied = (reply: RespReply): Promise<Refusal | undefined> | undefined => this.appliedUpTo(reply);
  private readonly notTaken = (error: Error): Refusal => new Refusal(503, `Redis did not take the message: ${error.message}`);

  /** EVALSHA, or the whole script when Redis's cache was emptied (SCRIPT FLUSH: nothing ran, so sending it whole is safe). */
  private evaluate(script: Script, args: Array<string | number | Buffer>): Promise<RespReply> {
    return this.commands.command(["EVALSHA", script.sha, 0, ...args]).catch((error: unknown) => {
      if (error instanceof RedisReplyError && error.reply.code === "NOSCRIPT") return this.commands.command(["EVAL", script.text, 0, ...args]);
      throw error;
    });
  }

  /** Settles once the entry with the reply's seq was applied here, or at once when the subscription is down (Redis has it; the catch-up brings it). */
  private appliedUpTo(reply: RespReply): Promise<Refusal | undefined> | undefined {
    const [seqBytes, epochBytes] = reply as [Buffer, Buffer];
    const seq = Number(seqBytes.toString("latin1"));
    const epoch = epochBytes.toString("latin1");
    if (this.epoch !== undefined && epoch !== this.epoch) return undefined; // Redis lost its data: the seq restarted
    if (this.state === "down" || (this.state === "live" && this.appliedSeq >= seq)) return undefined;
    return new Promise((resolve) => this.waiters.push({ seq, resolve }));
  }

  private resolveWaiters(): void {
    let done = 0;
    while (done < this.waiters.length && this.waiters[done]!.seq <= this.appliedSeq) this.waiters[done++]!.resolve(undefined);
    if (done > 0) this.waiters.splice(0, done);
  }

  private flushWaiters(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const waiter of waiting) waiter.resolve(undefined);
  }

  private commandsReady(): void {
    // Sent first on the fresh connection, so every EVALSHA after it finds its script.
    for (const script of Object.values(scripts)) this.commands.command(["SCRIPT", "LOAD", script.text]).catch(() => undefined);
    this.log.info(`redis: commands connection ready at ${this.commands.address.host}:${this.commands.address.port}`);
    if (this.subscribed && this.state === "down") this.catchUp();
  }

  private subscribedNow(): void {
    this.subscribed = true;
    this.catchUp();
  }

  private subscriptionLost(error: Error): void {
    this.subscribed = false;
    this.state = "down";
    this.queued = [];
    clearTimeout(this.resync);
    this.flushWaiters();
    this.log.error(`redis: subscription lost (${error.message}); held subscribers stay, and catch up when it is back`);
  }

  /** Reads every channel's stream at one instant and takes what this node lacks; entries arriving meanwhile wait. */
  private catchUp(): void {
    clearTimeout(this.resync);
    this.state = "syncing";
    this.queued = [];
    if (this.commands.state !== "ready") return void (this.state = "down"); // commandsReady starts it again
    const started = performance.now();
    this.evaluate(scripts.snapshot, [this.settings.keyPrefix])
      .then((reply) => {
        if (this.state !== "syncing") return; // the subscription was lost meanwhile
        const { channels, messages, delivered } = this.load(reply as RespReply[]);
        this.state = "live";
        const queued = this.queued;
        this.queued = [];
        const snapshotSeq = this.appliedSeq;
        for (const payload of queued) this.apply(payload, snapshotSeq);
        this.flushWaiters();
        if (this.catchUps++ > 0) this.caughtUpMessages += delivered; // the first load is a start, not a return

        this.log.info(`redis: subscribed at ${this.subscriber.address.host}:${this.subscriber.address.port}; ${channels} channel(s) with ${messages} stored message(s) read in ${Math.round(performance.now() - started)} ms, ${delivered} new to this node`);
        this.started?.();
        this.started = undefined;
      })
      .catch((error: Error) => {
        if (this.state !== "syncing") return;
        this.state = "down";
        this.log.error(`redis: catching up failed (${error.message}); trying again`);
        this.resync = setTimeout(() => this.subscribed && this.catchUp(), RESYNC_PAUSE_MS);
        this.resync.unref();
      });
  }

  /**
   * Takes a snapshot into this node's copy: per channel the messages newer than the copy's newest
   * (handed to subscribers, in seq order), its last id. A channel this node stores messages for
   * that Redis no longer has, or has with lower ids, was deleted meanwhile (unless Redis lost its
   * data: then the copy is kept, and the floors make ids and stamps continue above it).
   */
  private load(reply: RespReply[]): { channels: number; messages: number; delivered: number } {
    const text = (at: number): string => (reply[at] as Buffer).toString("utf8");
    const seq = Number(text(0));
    const epoch = text(1) || undefined;
    this.raiseStamp(Number(text(2)), Number(text(3)), text(4));
    const now = Number(text(5));
    const knownEpoch = this.epoch !== undefined && epoch === this.epoch;
    const present = new Set<string>();
    const fresh: Array<{ channel: Channel; message: Message }> = [];
    let messages = 0;
    for (let at = 6; at + 2 < reply.length; at += 3) {
      const id = text(at);
      present.add(id);
      const lastId = Number(text(at + 1));
      const entries = decodeEntries(reply[at + 2] as Buffer);
      let local = this.store.find(id);
      const mine = local ? newestStored(this.history, local) : undefined;
      let newest = mine?.id ?? 0;
      if (local && mine && knownEpoch && !continues(mine, lastId, entries)) {
        super.delete(local); // deleted and published again meanwhile: the old messages are gone
        local = undefined;
        newest = 0;
      }
      for (const entry of entries) {
        if (entry.kind !== "m" || entry.message.expiresAt <= now) continue;
        messages++;
        if (entry.message.id <= newest) continue;
        const channel = local ?? this.channelFor(id, lastId);
        if (!channel) break;
        local = channel;
        fresh.push({ channel, message: entry.message });
      }
      if (local && lastId > local.lastMessageId) local.lastMessageId = lastId;
    }
    if (knownEpoch) {
      const gone: Channel[] = [];
      for (const channel of this.store.all()) {
        if (channel.forEvents || present.has(channel.id)) continue;
        const stored = this.history.read(channel);
        // Still alive here but not in Redis: deleted while this node was away (expired ones end here too, by the sweep).
        if (stored.length > 0 && stored.at(stored.length - 1)!.expiresAt > now + 5000) gone.push(channel);
      }
      for (const channel of gone) super.delete(channel);
    }
    fresh.sort((a, b) => a.message.seq - b.message.seq);
    let failure: unknown;
    for (const { channel, message } of fresh) {
      failure ??= this.accept(channel, message, true, this.clock.now());
      this.listener?.accepted(message, true);
    }
    if (failure !== undefined) this.log.error(`redis: a subscriber failed while catching up: ${(failure as Error).stack ?? failure}`);
    if (this.epoch !== undefined && epoch !== this.epoch) {
      this.log.warn(`redis: Redis lost its data (epoch ${this.epoch} is now ${epoch ?? "none"}); this node keeps its copy, and ids and stamps continue above it`);
    }
    this.epoch = epoch;
    this.appliedSeq = seq;
    return { channels: present.size, messages, delivered: fresh.length };
  }

  private received(payload: Buffer): void {
    if (this.state === "syncing") this.queued.push(payload);
    else if (this.state === "live") this.apply(payload, 0);
  }

  /** Applies the entries of one PUBLISH, skipping those at or below `skipUpTo` (already in the snapshot). */
  private apply(payload: Buffer, skipUpTo: number): void {
    let entries: Entry[];
    try {
      entries = decodeEntries(payload);
    } catch (error) {
      this.log.error(`redis: an unreadable entry on ${this.messagesChannel} (${(error as Error).message}); skipped`);
      return;
    }
    const now = this.clock.now();
    let failure: unknown;
    for (const entry of entries) {
      if (entry.seq <= skipUpTo) continue;
      if (entry.seq < this.appliedSeq) this.flushWaiters(); // the seq went back: Redis lost its data
      this.appliedSeq = entry.seq;
      if (entry.kind === "d") {
        const channel = this.store.find(entry.channel);
        if (channel) {
          try {
            super.delete(channel, entry.text || undefined);
          } catch (error) {
            failure ??= error;
          }
        }
        this.listener?.deleted(entry.channel, entry.text || undefined);
        continue;
      }
      const { message } = entry;
      this.raiseStamp(message.time, message.tag, message.push2 ? midText(message.push2.mid) : "");
      const channel = this.channelFor(message.channel, message.id);
      if (!channel) continue;
      failure ??= this.accept(channel, message, entry.stored, now);
      this.listener?.accepted(message, entry.stored);
    }
    this.resolveWaiters();
    if (failure !== undefined) this.log.error(`redis: a subscriber failed: ${(failure as Error).stack ?? failure}`);
  }

  private raiseStamp(time: number, tag: number, mid: string): void {
    if (time > this.lastTime || (time === this.lastTime && tag > this.lastTag)) {
      this.lastTime = time;
      this.lastTag = tag;
    }
    if (mid > this.lastMid) this.lastMid = mid;
  }
}

/** The newest message History keeps for the channel. */
function newestStored(history: History, channel: Channel): Message | undefined {
  const stored = history.read(channel);
  return stored.length > 0 ? stored.at(stored.length - 1) : undefined;
}

/**
 * Whether Redis's stream of a channel goes on from `mine`, this node's newest copy: Redis has
 * that very message (same id and seq), or only later ids (the ring dropped it). Lower ids, or
 * another message under its id, mean the channel was deleted and published again meanwhile.
 */
function continues(mine: Message, lastId: number, entries: readonly Entry[]): boolean {
  let oldest = Infinity;
  let newest = lastId;
  for (const entry of entries) {
    if (entry.kind !== "m") continue;
    const { id, seq } = entry.message;
    if (id === mine.id) return seq === mine.seq;
    oldest = Math.min(oldest, id);
    newest = Math.max(newest, id);
  }
  return newest >= mine.id && oldest > mine.id;
}

/** The factory of a node's Redis broker, when the configuration has one. */
export function redisBrokerFactory(config: RedisBrokerConfig | undefined, log: Logger): BrokerFactory | undefined {
  if (!config) return undefined;
  const settings: RedisBrokerSettings = {
    address: redisAddress(config),
    keyPrefix: config.keyPrefix,
    commandTimeoutMs: config.commandTimeout * 1000,
    startTimeoutMs: config.startTimeout * 1000,
    waitReplicas: config.waitReplicas,
    waitTimeoutMs: config.waitTimeout * 1000,
  };
  return (store, history, hub, limits, clock) => new RedisBroker(store, history, hub, limits, clock, settings, log);
}
