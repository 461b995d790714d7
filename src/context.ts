import type { IntervalHistogram } from "node:perf_hooks";
import type { HttpSettings } from "./config/schema.js";
import type { Clock } from "./core/clock.js";
import { LatencyHistogram } from "./core/latency-histogram.js";
import type { TimerWheel } from "./core/timer-wheel.js";
import type { Logger } from "./log.js";
import type { MessageLog } from "./persist/message-log.js";
import type { Channels } from "./store/channels.js";

/** A connection held open by the server (a waiting long-poll, a stream, a WebSocket…), ended on shutdown. */
export interface Held {
  /** The subscriber mode holding it ("long-polling", …): /metrics counts held connections by it. */
  readonly mode: string;
  /** Set by Bitrix Push server 2.0 connections: /metrics and the dashboard count them apart too. */
  readonly protocol?: "bitrix-push2";
  /** Ends the connection the way a timeout would (long-poll: 304). */
  shutdown(): void;
  /** The client went away: forget the connection without answering. */
  abort(): void;
}

/** Values of the moment, passed on as they are. */
export interface Gauges {
  subscribers: number;
  subscriptions: number;
  channels: number;
  wildcardChannels: number;
  storedMessages: number;
  storedBytes: number;
  memoryUsed: number;
  /** sharedMemorySize; 0 = no cap. */
  memoryBudget: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  arrayBuffers: number;
  uptime: number;
}

/** Counters since the start. */
export interface Totals {
  published: number;
  delivered: number;
  connectionsOpened: number;
  connectionsClosed: number;
  longPollTimeouts: number;
  evicted: number;
  droppedByRing: number;
  droppedByTtl: number;
}

/**
 * One reading of the server's state and traffic counters: what /metrics writes and what the
 * dashboard shows, taken by this one function so both always say the same.
 */
export interface Readings {
  /** Held connections by subscriber mode (long-polling always present). */
  heldByMode: Map<string, number>;
  /** Of those, Bitrix Push server 2.0 connections. */
  push2Held: number;
  gauges: Gauges;
  totals: Totals;
  /** Refused requests by HTTP status, statuses ascending. */
  rejected: Array<[number, number]>;
}

/** Another worker's readings as it last reported them (with workers). */
export interface WorkerReading {
  worker: number;
  pid: number;
  readings: Readings;
  publishLatency: { counts: number[]; sum: number; count: number };
}

/** The message log's figures (/metrics): of this process's log, or as the primary last reported its own. */
export interface MessageLogReading {
  logBytes: number;
  segments: number;
  /** The fsync policy ("off", "batch", "always"). */
  fsync: string;
  /** Why the log cannot write now (publishes are refused); null while it writes. */
  failure: string | null;
  compactions: number;
  fsyncLatency: { counts: number[]; sum: number; count: number };
  replaySeconds: number;
}

/** The machine's other workers, as this worker last heard of them (absent in a single process). */
export interface WorkerPeers {
  /** This worker's number (1-based). */
  readonly worker: number;
  /** Every other worker's last reading, by worker number. */
  others(): WorkerReading[];
  /** The primary's message log as it last reported it (every second); undefined without a log. */
  messageLog(): MessageLogReading | undefined;
}

/** The process's file descriptors against its open-file limit (observe/open-files.ts). */
export interface OpenFilesView {
  /** The soft limit; undefined when the system does not say (outside Linux). */
  readonly limit: number | undefined;
  readonly inUse: number;
  /** At the limit now: new connections are closed by the runtime unanswered. */
  readonly exhausted: boolean;
  /** Times the limit was reached. */
  readonly exhaustedTotal: number;
}

/**
 * Counters the handlers bump as traffic passes (GET /metrics reads them). Plain fields, so a
 * transport counts with one line: `ctx.metrics.deliveredMessages += n`.
 */
export class ServerMetrics {
  /** Messages written to subscribers (not pings or other pseudo-messages). */
  deliveredMessages = 0;
  /** Client connections accepted and closed, over all listeners (TCP, before any TLS handshake). */
  connectionsOpened = 0;
  connectionsClosed = 0;
  /** Long-polls whose hold ended with nothing to say (304, or the "Timed out" message). */
  longPollTimeouts = 0;
  /** Refused requests by HTTP status. */
  readonly rejected = new Map<number, number>();
  /** Time from an accepted publish body to the message handed to every held subscriber. */
  readonly publishLatency = new LatencyHistogram();
  /** Event-loop delay samples, when a metrics location exists. */
  loopDelay: IntervalHistogram | undefined = undefined;
  /** Open files against the limit, once the listeners are open. */
  openFiles: OpenFilesView | undefined = undefined;

  countRejected(status: number): void {
    this.rejected.set(status, (this.rejected.get(status) ?? 0) + 1);
  }
}

/**
 * What every handler of a running pushwire shares: the settings, the store (channel index,
 * History, Hub, Broker), the one timer wheel, the clock, the log, the held connections and the
 * traffic counters.
 */
export interface PushContext extends Channels {
  readonly http: HttpSettings;
  readonly wheel: TimerWheel;
  readonly clock: Clock;
  readonly log: Logger;
  readonly held: Set<Held>;
  /** Set once a graceful stop began: nothing new is held, keep-alive ends. */
  draining: boolean;
  readonly metrics: ServerMetrics;
  /** The message log under History, when configured. */
  readonly messageLog?: MessageLog | undefined;
  /** With workers: the machine's other workers, for statistics and /metrics. */
  readonly peers?: WorkerPeers | undefined;
}
