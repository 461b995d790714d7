import type { MessageLogReading, PushContext, Readings, WorkerReading } from "../context.js";
import type { MessageLog } from "../persist/message-log.js";

export type { Gauges, Readings, Totals, WorkerPeers, WorkerReading } from "../context.js";

/** Subscriber modes always listed, even with nothing held, so dashboards see a 0 rather than a gap. */
const BASE_MODES = ["long-polling"];

export function readings(ctx: PushContext): Readings {
  const { store, history, hub, broker, metrics } = ctx;
  const heldByMode = new Map<string, number>(BASE_MODES.map((mode) => [mode, 0]));
  let push2Held = 0;
  for (const held of ctx.held) {
    heldByMode.set(held.mode, (heldByMode.get(held.mode) ?? 0) + 1);
    if (held.protocol === "bitrix-push2") push2Held++;
  }
  const memory = process.memoryUsage();
  return {
    heldByMode,
    push2Held,
    gauges: {
      subscribers: ctx.held.size,
      subscriptions: hub.subscriptions,
      channels: store.channelCount,
      wildcardChannels: store.wildcardChannelCount,
      storedMessages: history.storedMessages,
      storedBytes: history.storedBytes,
      memoryUsed: history.memoryUsed,
      memoryBudget: store.limits.sharedMemorySize ?? 0,
      rss: memory.rss,
      heapUsed: memory.heapUsed,
      heapTotal: memory.heapTotal,
      arrayBuffers: memory.arrayBuffers,
      uptime: store.uptime,
    },
    totals: {
      published: broker.publishedMessages,
      delivered: metrics.deliveredMessages,
      connectionsOpened: metrics.connectionsOpened,
      connectionsClosed: metrics.connectionsClosed,
      longPollTimeouts: metrics.longPollTimeouts,
      evicted: history.evictedMessages,
      droppedByRing: history.droppedByRing,
      droppedByTtl: history.droppedByTtl,
    },
    rejected: [...metrics.rejected].sort((a, b) => a[0] - b[0]),
  };
}

/** This worker's reading, for the others (once a second). */
export function encodeReading(ctx: PushContext, worker: number): string {
  const now = readings(ctx);
  const { publishLatency } = ctx.metrics;
  return JSON.stringify({
    worker,
    pid: process.pid,
    readings: { ...now, heldByMode: [...now.heldByMode] },
    publishLatency: { counts: publishLatency.counts, sum: publishLatency.sum, count: publishLatency.count },
  });
}

export function decodeReading(json: string): WorkerReading {
  const parsed = JSON.parse(json) as WorkerReading & { readings: { heldByMode: Array<[string, number]> } };
  return { ...parsed, readings: { ...parsed.readings, heldByMode: new Map(parsed.readings.heldByMode) } };
}

/** The message log's figures: this process's, or with workers the primary's as it last reported them. */
export function currentMessageLog(ctx: PushContext): MessageLogReading | undefined {
  return ctx.messageLog ? messageLogReading(ctx.messageLog) : ctx.peers?.messageLog();
}

/** The figures /metrics shows of a message log (the primary sends them to the workers once a second). */
export function messageLogReading(log: MessageLog): MessageLogReading {
  const { fsyncLatency } = log;
  return {
    logBytes: log.logBytes,
    segments: log.segments,
    fsync: log.policy,
    failure: log.failure?.explain ?? null,
    compactions: log.compactions,
    fsyncLatency: { counts: fsyncLatency.counts, sum: fsyncLatency.sum, count: fsyncLatency.count },
    replaySeconds: log.replaySeconds,
  };
}

/**
 * The machine's readings, from this worker's and the others' last reports: what each process
 * holds or counts itself (connections, subscribers, memory, deliveries, refusals) is summed; what
 * every worker holds a copy of (channels, stored messages, messages published) is this worker's.
 */
export function machineReadings(own: Readings, others: readonly WorkerReading[]): Readings {
  if (others.length === 0) return own;
  const heldByMode = new Map(own.heldByMode);
  const rejected = new Map(own.rejected);
  const gauges = { ...own.gauges };
  const totals = { ...own.totals };
  let push2Held = own.push2Held;
  for (const { readings: other } of others) {
    for (const [mode, count] of other.heldByMode) heldByMode.set(mode, (heldByMode.get(mode) ?? 0) + count);
    for (const [status, count] of other.rejected) rejected.set(status, (rejected.get(status) ?? 0) + count);
    push2Held += other.push2Held;
    gauges.subscribers += other.gauges.subscribers;
    gauges.subscriptions += other.gauges.subscriptions;
    gauges.rss += other.gauges.rss;
    gauges.heapUsed += other.gauges.heapUsed;
    gauges.heapTotal += other.gauges.heapTotal;
    gauges.arrayBuffers += other.gauges.arrayBuffers;
    totals.delivered += other.totals.delivered;
    totals.connectionsOpened += other.totals.connectionsOpened;
    totals.connectionsClosed += other.totals.connectionsClosed;
    totals.longPollTimeouts += other.totals.longPollTimeouts;
  }
  return { heldByMode, push2Held, gauges, totals, rejected: [...rejected].sort((a, b) => a[0] - b[0]) };
}
