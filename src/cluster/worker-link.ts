import { connect, type Socket } from "node:net";
import type { Clock } from "../core/clock.js";
import { Refusal } from "../core/refusal.js";
import type { Logger } from "../log.js";
import type { MessageLogReading } from "../context.js";
import { decodeReading, type WorkerPeers, type WorkerReading } from "../observe/readings.js";
import type { PublishOptions } from "../store/broker.js";
import type { Channel } from "../store/channel.js";
import { ChannelStore, type StoreLimits } from "../store/channel-store.js";
import type { Channels } from "../store/channels.js";
import { EventsChannel } from "../store/events-channel.js";
import { Hub } from "../store/hub.js";
import { MemoryHistory } from "../store/memory-history.js";
import type { StoreObserver } from "../store/observer.js";
import { FrameStream } from "./frame-stream.js";
import { FrameBuffer, FrameType, PRIMARY_REPORT, type FrameReader } from "./frames.js";
import { ReplicaBroker, type PrimaryLink } from "./replica-broker.js";

/** How often a worker tells the primary its subscriber counts of the channels that changed. */
const SUBSCRIBERS_EVERY_MS = 100;
/** How often a worker tells the others its readings (statistics, /metrics). */
const REPORT_EVERY_MS = 1000;

export const primaryGone = new Refusal(503, "The primary process is gone; this worker is stopping.");

interface Waiter {
  request: number;
  then: (arg: unknown, failure: Refusal | undefined) => void;
  arg: unknown;
}

/**
 * A worker's end of its socket to the primary: requests out (publish, delete, subscriber counts),
 * the primary's stream in (the snapshot, then every message, deletion and acknowledgement).
 */
export class WorkerLink implements PrimaryLink, StoreObserver, WorkerPeers {
  unavailable: Refusal | undefined;
  broker!: ReplicaBroker;
  private readonly out = new FrameBuffer(4096);
  private flushing = false;
  private sent = 0;
  private acked = 0;
  private readonly waiters: Waiter[] = [];
  private waitersHead = 0;
  private readonly changed = new Set<Channel>();
  private readonly reporter: NodeJS.Timeout;
  private readonly stream: FrameStream;
  private ready: (() => void) | undefined;
  /** The other workers' last readings, by worker number: the JSON as received and, once read, decoded. */
  private readonly reports = new Map<number, { json: string; reading?: WorkerReading }>();
  private reportTimer: NodeJS.Timeout | undefined;
  /**
   * With the events channel: a channel's first subscriber is told at once, not with the next
   * batch of counts, so the primary's channel_created precedes this worker's client_subscribed.
   */
  announceNewChannels = false;
  /** The primary's message-log figures as last reported (with a log). */
  private logReport: { json: string; reading?: MessageLogReading } | undefined;

  constructor(
    private readonly socket: Socket,
    readonly worker: number,
    private readonly log: Logger,
    /** The primary went away (or broke the stream): the worker stops. */
    private readonly onLost: () => void,
  ) {
    this.stream = new FrameStream((frame) => this.received(frame), () => {
      log.error("workers: the primary's stream is damaged; stopping");
      socket.destroy();
    });
    socket.on("data", (chunk: Buffer) => this.stream.push(chunk));
    socket.on("error", (error) => log.error(`workers: link to the primary: ${error.message}`));
    socket.on("close", () => this.lost());
    this.out.hello(worker);
    this.flush();
    this.reporter = setInterval(() => this.reportSubscribers(), SUBSCRIBERS_EVERY_MS);
    this.reporter.unref();
  }

  /** Resolves once the primary's snapshot is applied. */
  whenReady(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.ready = resolve;
      this.socket.once("close", () => reject(new Error("the primary closed the link before its snapshot was complete")));
    });
  }

  publish(channels: readonly string[], body: Buffer, options: PublishOptions): void {
    if (this.unavailable) return;
    this.out.publish(++this.sent, channels, body, options);
    this.scheduleFlush();
  }

  remove(channel: string, text: string | undefined): void {
    if (this.unavailable) return;
    this.out.remove(++this.sent, channel, text);
    this.scheduleFlush();
  }

  whenAcked<T>(then: (arg: T, failure: Refusal | undefined) => void, arg: T): void {
    if (this.unavailable) return then(arg, this.unavailable);
    if (this.acked === this.sent) return then(arg, undefined);
    this.waiters.push({ request: this.sent, then: then as Waiter["then"], arg });
  }

  /** Sends this worker's readings now and every REPORT_EVERY_MS. */
  startReporting(reading: () => string): void {
    const report = (): void => {
      if (this.unavailable) return;
      this.out.report(this.worker, reading());
      this.flush();
    };
    report();
    this.reportTimer = setInterval(report, REPORT_EVERY_MS);
    this.reportTimer.unref();
  }

  others(): WorkerReading[] {
    const all: WorkerReading[] = [];
    for (const entry of this.reports.values()) all.push((entry.reading ??= decodeReading(entry.json)));
    return all.sort((a, b) => a.worker - b.worker);
  }

  messageLog(): MessageLogReading | undefined {
    const report = this.logReport;
    if (!report) return undefined;
    return (report.reading ??= JSON.parse(report.json) as MessageLogReading);
  }

  clientSubscribed(channel: Channel): void {
    if (!this.announceNewChannels || channel.subscribers.size !== 1 || this.unavailable) return void this.changed.add(channel);
    // A first subscriber may have just created the channel here: the primary hears of it before
    // anything this worker sends next (its client_subscribed event comes after channel_created).
    this.out.subscribers(channel.id, 1);
    this.changed.delete(channel);
    this.scheduleFlush();
  }

  clientUnsubscribed(channel: Channel): void {
    this.changed.add(channel);
  }

  /** The worker stops: the link closes without calling `onLost`. */
  close(): void {
    this.end();
    this.socket.destroy();
  }

  private received(frame: FrameReader): void {
    try {
      if (frame.type === FrameType.ack) return this.answer(frame.request, frame.failure);
      if (frame.type === FrameType.report) {
        if (frame.number === PRIMARY_REPORT) return void (this.logReport = { json: frame.text });
        if (frame.text === "") this.reports.delete(frame.number);
        else this.reports.set(frame.number, { json: frame.text });
        return;
      }
      if (frame.type === FrameType.ready) {
        this.ready?.();
        this.ready = undefined;
        return;
      }
      this.broker.receive(frame);
    } catch (error) {
      this.log.error(`workers: applying the primary's stream: ${(error as Error).stack ?? error}`);
    }
  }

  private answer(request: number, failure: Refusal | undefined): void {
    this.acked = request;
    const { waiters } = this;
    while (this.waitersHead < waiters.length && waiters[this.waitersHead]!.request <= request) {
      const waiter = waiters[this.waitersHead++]!;
      waiter.then(waiter.arg, waiter.request === request ? failure : undefined);
    }
    if (this.waitersHead === waiters.length) {
      waiters.length = 0;
      this.waitersHead = 0;
    }
  }

  private reportSubscribers(): void {
    if (this.changed.size === 0 || this.unavailable) return;
    for (const channel of this.changed) this.out.subscribers(channel.id, channel.deleted ? 0 : channel.subscribers.size);
    this.changed.clear();
    this.flush();
  }

  private scheduleFlush(): void {
    if (this.flushing) return;
    this.flushing = true;
    // Every request of one pass of the event loop (all the connections that had data) goes out in one write.
    setImmediate(this.flushNow);
  }

  private readonly flushNow = (): void => {
    this.flushing = false;
    this.flush();
  };

  private flush(): void {
    if (this.out.length > 0 && !this.socket.destroyed) this.socket.write(this.out.take());
  }

  private lost(): void {
    if (this.unavailable) return;
    this.end();
    this.onLost();
  }

  /** No more requests: timers stop, and publishes still waiting for their ack are refused. */
  private end(): void {
    this.unavailable = primaryGone;
    clearInterval(this.reporter);
    clearInterval(this.reportTimer);
    const pending = this.waiters.splice(this.waitersHead);
    this.waitersHead = 0;
    this.waiters.length = 0;
    for (const waiter of pending) waiter.then(waiter.arg, primaryGone);
  }
}

/**
 * A worker's store: the channel index, a memory History that copies the primary's, the Hub of
 * this worker's subscribers, and the broker that publishes through the primary. The events
 * channel here reports only subscriptions (channel creation is the primary's to report).
 * Resolves once the primary's snapshot is in, before any listener opens.
 */
export async function workerChannels(
  socketPath: string,
  worker: number,
  limits: StoreLimits,
  clock: Clock,
  eventsChannelId: string,
  log: Logger,
  onLost: () => void,
): Promise<Channels & { memory: MemoryHistory; link: WorkerLink }> {
  const socket = connect(socketPath);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  socket.setNoDelay(true);
  const link = new WorkerLink(socket, worker, log, onLost);
  const store = new ChannelStore(limits, clock);
  const history = new MemoryHistory(limits, clock);
  const hub = new Hub(limits, clock);
  store.observers.push(history);
  hub.observers.push(history, link);
  const broker = new ReplicaBroker(store, history, hub, limits, clock, link, (error) => {
    log.error(`delivering a message: ${(error as Error).stack ?? error}`);
  });
  link.broker = broker;
  let events: EventsChannel | undefined;
  if (eventsChannelId) {
    link.announceNewChannels = true;
    events = new EventsChannel(store, broker, eventsChannelId);
    hub.observers.push(events);
  }
  await link.whenReady();
  return { store, history, memory: history, hub, broker, events, link };
}
