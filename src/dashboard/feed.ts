import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";
import type { MessageLogReading, PushContext } from "../context.js";
import { currentMessageLog, machineReadings, readings, type Gauges, type Readings, type Totals } from "../observe/readings.js";
import type { Channel } from "../store/channel.js";
import { VERSION } from "../version.js";
import { SampleSeries, type Sample } from "./series.js";

/** A listener as the dashboard lists it. */
export interface ListenerView {
  address: string;
  port: number;
  tls: boolean;
  /** "path role" of each location. */
  locations: string[];
}

/** An open dashboard stream: gets each frame, and is ended when the server stops. */
export interface FeedViewer {
  send(frame: Buffer): void;
  end(): void;
}

/** A channel in the busiest list and in search results. */
export interface ChannelSummary {
  id: string;
  subscribers: number;
  /** Messages published to it in the last second the sampler saw (0 while nobody watches). */
  perSecond: number;
  stored: number;
}

/** The "now" panel: every value read by `readings`, the counters /metrics writes. */
export interface Snapshot extends Gauges {
  t: number;
  version: string;
  heldByMode: Record<string, number>;
  push2: number;
  /** Mean and largest event-loop delay (ms) over the last second; null until the sampler has run. */
  loopDelayMs: { mean: number; max: number } | null;
  totals: Totals & { rejected: Record<string, number> };
  listeners: ListenerView[];
  /** Worker processes (this one first), as each last reported: null while pushwire runs as one process. */
  workers: WorkerSummary[] | null;
  /** The durable message log (`messageLog`): "off" without one. */
  messageLog: MessageLogState;
  eventsChannel: string | null;
}

/** One worker process in the "now" panel. */
export interface WorkerSummary {
  worker: number;
  pid: number;
  subscribers: number;
  rss: number;
  /** The worker that answered this dashboard. */
  self: boolean;
}

/** What the dashboard shows of the durable message log (`messageLog`): off, writing, or failing to write. */
export type MessageLogState =
  | { state: "off" }
  | { state: "on" | "failing"; fsync: string; bytes: number; segments: number; compactions: number; failure: string | null };

function messageLogState(log: MessageLogReading | undefined): MessageLogState {
  if (!log) return { state: "off" };
  return { state: log.failure === null ? "on" : "failing", fsync: log.fsync, bytes: log.logBytes, segments: log.segments, compactions: log.compactions, failure: log.failure };
}

const BUSIEST = 20;
/** The event-loop delay monitor's timer, while someone watches (/metrics uses 10 ms, this costs half the wake-ups). */
const LOOP_RESOLUTION_MS = 20;
const SEARCH_RESULTS = 100;

/**
 * The dashboard's data: one shared one-second sampler that exists only while at least one
 * dashboard stream is open (nothing runs, nothing is read, while nobody watches), the last
 * fifteen minutes of samples (kept while watched; a gap when nobody was), and the busiest channels.
 */
export class DashboardFeed {
  /** The durable message log's state, from the fields /metrics writes. */
  messageLog = (): MessageLogState => messageLogState(currentMessageLog(this.ctx));
  readonly series = new SampleSeries(900);
  private readonly viewers = new Set<FeedViewer>();
  /** Streams that do not need the sampler (channel tails), ended with the rest on close. */
  private readonly others = new Set<FeedViewer>();
  private timer: NodeJS.Timeout | undefined;
  private loop: IntervalHistogram | undefined;
  private loopDelay: Snapshot["loopDelayMs"] = null;
  /** A sample has measured the channels in this run: their `sampledMessageId` is current. */
  private measured = false;
  private busiest: ChannelSummary[] = [];

  constructor(
    private readonly ctx: PushContext,
    private readonly listeners: () => ListenerView[],
    private readonly periodMs = 1000,
  ) {}

  /** The sampler is running (a dashboard stream is open). */
  get sampling(): boolean {
    return this.timer !== undefined;
  }

  get viewerCount(): number {
    return this.viewers.size;
  }

  /** A dashboard stream opened: it gets the whole picture now, then a frame a second. */
  watch(viewer: FeedViewer): void {
    this.viewers.add(viewer);
    if (!this.timer) this.start();
    viewer.send(frame("init", { now: this.snapshot(), series: this.series.all(), busiest: this.busiest, periodMs: this.periodMs }));
  }

  unwatch(viewer: FeedViewer): void {
    if (!this.viewers.delete(viewer)) return;
    if (this.viewers.size === 0) this.stop();
  }

  /** A stream that only needs ending on close (a channel's live tail). */
  track(viewer: FeedViewer): void {
    this.others.add(viewer);
  }

  untrack(viewer: FeedViewer): void {
    this.others.delete(viewer);
  }

  /** The server stops: every dashboard stream ends, the sampler with them. */
  close(): void {
    for (const viewer of [...this.viewers, ...this.others]) viewer.end();
    this.viewers.clear();
    this.others.clear();
    this.stop();
  }

  private start(): void {
    this.series.restart();
    this.loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    this.loop.enable();
    this.sample(); // the baseline totals; the first sample follows a period later
    this.timer = setInterval(() => {
      try {
        this.tick();
      } catch (error) {
        this.ctx.log.error(`dashboard sampler: ${(error as Error).stack ?? error}`);
      }
    }, this.periodMs);
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.loop?.disable();
    this.loop = undefined;
    this.loopDelay = null;
    this.measured = false;
  }

  /** One period: a sample, the busiest channels, one frame written to every viewer. */
  tick(): void {
    const { now, sample } = this.sample();
    const bytes = frame("sample", { now, sample, busiest: this.busiest });
    for (const viewer of this.viewers) viewer.send(bytes);
  }

  private sample(): { now: Snapshot; sample: Sample | undefined } {
    const { own, read } = this.read();
    const loop = this.loop;
    // The monitor records each interval of its timer, the resolution included: the delay is what exceeds it.
    if (loop && loop.count > 0) this.loopDelay = { mean: Math.max(0, loop.mean / 1e6 - LOOP_RESOLUTION_MS), max: Math.max(0, loop.max / 1e6 - LOOP_RESOLUTION_MS) };
    loop?.reset();
    const sample = this.series.take(this.ctx.clock.now(), read, this.ctx.metrics.publishLatency);
    this.measureChannels();
    return { now: this.snapshotOf(read, own), sample };
  }

  /**
   * Each channel's messages since the previous sample (kept on the channel: no map to rebuild),
   * and the busiest of them, picked in one pass: the channels cost two field writes each.
   */
  private measureChannels(): void {
    const measured = this.measured;
    const top: Channel[] = [];
    for (const channel of this.ctx.store.all()) {
      const last = channel.lastMessageId;
      // A channel created since the previous sample counts all its messages; the first pass of a run none.
      channel.messagesPerSecond = measured ? last - channel.sampledMessageId : 0;
      channel.sampledMessageId = last;
      if (top.length < BUSIEST || busier(channel, top[top.length - 1]!)) insertBusiest(top, channel);
    }
    this.measured = true;
    this.busiest = top.map((c) => this.summary(c));
  }

  summary(channel: Channel): ChannelSummary {
    return { id: channel.id, subscribers: channel.subscriberCount, perSecond: this.sampling ? channel.messagesPerSecond : 0, stored: this.ctx.history.count(channel) };
  }

  /** Channels whose id contains `text` (case-insensitive), busiest first, at most 100. */
  search(text: string): ChannelSummary[] {
    const needle = text.toLowerCase();
    const found: ChannelSummary[] = [];
    for (const channel of this.ctx.store.all()) {
      if (channel.id.toLowerCase().includes(needle)) found.push(this.summary(channel));
    }
    found.sort((a, b) => b.perSecond - a.perSecond || b.subscribers - a.subscribers || b.stored - a.stored);
    return found.slice(0, SEARCH_RESULTS);
  }

  snapshot(): Snapshot {
    const { own, read } = this.read();
    return this.snapshotOf(read, own);
  }

  /** This process's readings and what the dashboard shows: with workers the whole machine's (machineReadings). */
  private read(): { own: Readings; read: Readings } {
    const own = readings(this.ctx);
    const others = this.ctx.peers?.others();
    return { own, read: others ? machineReadings(own, others) : own };
  }

  private workers(own: Readings): WorkerSummary[] | null {
    const { peers } = this.ctx;
    if (!peers) return null;
    const workers: WorkerSummary[] = [{ worker: peers.worker, pid: process.pid, subscribers: own.gauges.subscribers, rss: own.gauges.rss, self: true }];
    for (const other of peers.others()) workers.push({ worker: other.worker, pid: other.pid, subscribers: other.readings.gauges.subscribers, rss: other.readings.gauges.rss, self: false });
    return workers;
  }

  private snapshotOf(read: Readings, own: Readings): Snapshot {
    return {
      t: this.ctx.clock.now(),
      version: VERSION,
      ...read.gauges,
      heldByMode: Object.fromEntries(read.heldByMode),
      push2: read.push2Held,
      loopDelayMs: this.loopDelay,
      totals: { ...read.totals, rejected: Object.fromEntries(read.rejected.map(([status, count]) => [String(status), count])) },
      listeners: this.listeners(),
      workers: this.workers(own),
      messageLog: this.messageLog(),
      eventsChannel: this.ctx.events?.channel.id ?? null,
    };
  }
}

/** Busier: more messages per second, then more subscribers, then more stored. */
function busier(a: Channel, b: Channel): boolean {
  if (a.messagesPerSecond !== b.messagesPerSecond) return a.messagesPerSecond > b.messagesPerSecond;
  if (a.subscriberCount !== b.subscriberCount) return a.subscriberCount > b.subscriberCount;
  return a.storedMessages > b.storedMessages;
}

/** Puts `channel` in its place in `top` (busiest first), keeping at most BUSIEST. */
function insertBusiest(top: Channel[], channel: Channel): void {
  let at = top.length;
  while (at > 0 && busier(channel, top[at - 1]!)) at--;
  top.splice(at, 0, channel);
  if (top.length > BUSIEST) top.pop();
}

/** One text/event-stream event; JSON has no raw line breaks, so the data is one line. */
export function frame(type: string, value: unknown): Buffer {
  return Buffer.from(`event: ${type}\ndata: ${JSON.stringify(value)}\n\n`);
}

/** Each running server's feed, found by its context (as push2Of finds the push2 state): the context stays free of it. */
const feeds = new WeakMap<PushContext, DashboardFeed>();

/** The dashboard feed of a running server (app.ts attaches one at start). */
export function dashboardOf(ctx: PushContext): DashboardFeed | undefined {
  return feeds.get(ctx);
}

/** Gives a running server its dashboard feed. */
export function attachDashboard(ctx: PushContext, listeners: () => ListenerView[]): DashboardFeed {
  const feed = new DashboardFeed(ctx, listeners);
  feeds.set(ctx, feed);
  return feed;
}
