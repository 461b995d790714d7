/**
 * Costs of the observability features, in process (no sockets): publish with and without a memory
 * budget that forces an eviction on nearly every publish, the events channel's cost on channel
 * creation, rendering statistics for many channels, and rendering /metrics. Prints one JSON line.
 *
 *   npx tsc -p tsconfig.json && node build/bench/observability.js [CHANNELS=100000] [PUBLISHES=200000]
 *
 * Bounded: at most 200 000 channels and 1 000 000 publishes.
 */
import { ServerMetrics, type PushContext } from "../src/context.js";
import { systemClock } from "../src/core/clock.js";
import { Refusal } from "../src/core/refusal.js";
import { TimerWheel } from "../src/core/timer-wheel.js";
import { silentLogger } from "../src/log.js";
import { renderMetrics } from "../src/observe/metrics.js";
import { statsFormat } from "../src/observe/stats-formats.js";
import type { Channel } from "../src/store/channel.js";
import type { ChannelStore, StoreLimits } from "../src/store/channel-store.js";
import { memoryChannels, type Channels } from "../src/store/channels.js";
import { CHANNEL_OVERHEAD_BYTES, MESSAGE_OVERHEAD_BYTES } from "../src/store/memory-history.js";

const channels = Math.min(Number(process.argv[2] ?? 100_000), 200_000);
const publishes = Math.min(Number(process.argv[3] ?? 200_000), 1_000_000);
const BODY = Buffer.alloc(100, 0x61);
const STORE = { eventId: "", eventType: "", store: true };

function limits(sharedMemorySize: number): StoreLimits {
  return {
    maxMessagesStoredPerChannel: 1000, messageTtl: 86400, maxChannelIdLength: 0, maxNumberOfChannels: 0, maxNumberOfWildcardChannels: 0,
    wildcardChannelPrefix: "", channelInactivityTime: 30, maxSubscribersPerChannel: 0, channelDeletedMessageText: "Channel deleted", sharedMemorySize,
  };
}

function obtain(store: ChannelStore, id: string): Channel {
  const channel = store.obtain(id);
  if (channel instanceof Refusal) throw new Error(channel.explain);
  return channel;
}

/** Creates `channels` channels (ms), then publishes round-robin (ns per publish). */
function run(sharedMemorySize: number, events: boolean): { createMs: number; publishNs: number; evicted: number; channels: Channels } {
  const wired = memoryChannels(limits(sharedMemorySize), systemClock, events ? "events" : "");
  const { store, broker, history } = wired;
  let t = process.hrtime.bigint();
  const list: Channel[] = [];
  for (let i = 0; i < channels; i++) list.push(obtain(store, `channel-${i}`));
  const createMs = Number(process.hrtime.bigint() - t) / 1e6;
  t = process.hrtime.bigint();
  for (let i = 0; i < publishes; i++) broker.publish([list[i % channels]!], BODY, STORE);
  const publishNs = Number(process.hrtime.bigint() - t) / publishes;
  return { createMs, publishNs, evicted: history.evictedMessages, channels: wired };
}

const plain = run(0, false);
// Room for the channels and a tenth of the messages: most publishes evict one.
const budget = channels * (CHANNEL_OVERHEAD_BYTES + 16) + Math.floor(publishes / 10) * (MESSAGE_OVERHEAD_BYTES + BODY.length);
const budgeted = run(budget, false);
const withEvents = run(0, true);

const { store } = plain.channels;
const head = { hostname: "bench", time: "2026-01-01T00:00:00", channels: store.channelCount, wildcardChannels: 0, uptime: 0 };
const rows = [...store.all()].map((c) => ({ id: c.id, publishedMessages: c.lastMessageId, storedMessages: c.storedMessages, subscribers: 0 }));
const timed = (work: () => string): { ms: number; bytes: number } => {
  const t = process.hrtime.bigint();
  const text = work();
  return { ms: Number(process.hrtime.bigint() - t) / 1e6, bytes: Buffer.byteLength(text) };
};
const statsAllJson = timed(() => statsFormat("application/json").group(head, rows));
const statsAllXml = timed(() => statsFormat("application/xml").group(head, rows));
const ctx: PushContext = {
  ...plain.channels, http: undefined as never, wheel: new TimerWheel(100, Date.now()), clock: systemClock, log: silentLogger,
  held: new Set(), draining: false, metrics: new ServerMetrics(),
};
const metrics = timed(() => renderMetrics(ctx));

console.log(JSON.stringify({
  channels, publishes,
  publishNsNoBudget: Math.round(plain.publishNs),
  publishNsEvictingBudget: Math.round(budgeted.publishNs), evicted: budgeted.evicted, budgetBytes: budget,
  createMsNoEvents: Math.round(plain.createMs), createMsWithEventsChannel: Math.round(withEvents.createMs),
  statsAllJsonMs: Math.round(statsAllJson.ms), statsAllJsonBytes: statsAllJson.bytes, statsAllXmlMs: Math.round(statsAllXml.ms),
  metricsMs: Number(metrics.ms.toFixed(2)), metricsBytes: metrics.bytes,
}));
