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
}
