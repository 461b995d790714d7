import type { PushContext } from "../context.js";

/** Subscriber modes always listed, even with nothing held, so dashboards see a 0 rather than a gap. */
const BASE_MODES = ["long-polling"];

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
