import type { PushContext } from "../context.js";
import { LATENCY_BUCKETS, type LatencyHistogram } from "../core/latency-histogram.js";
import { refusals } from "../core/refusal.js";
import { currentMessageLog, readings, type Readings } from "./readings.js";
import { addNoCache } from "../routing/answers.js";
import type { Handler } from "../routing/route.js";

/**
 * `GET /metrics` (location key `metrics`): the server's state and traffic counters in the
 * Prometheus text exposition format 0.0.4, written by hand. GET and HEAD only.
 */
export const metricsHandler: Handler = (route, request, reply) => {
  const headers = addNoCache([]);
  if (request.method !== "GET" && request.method !== "HEAD") return route.refuse(reply, refusals.methodNotAllowed, [...headers, "Allow", "GET, HEAD"]);
  headers.unshift("Content-Type", CONTENT_TYPE);
  reply.send(200, headers, [Buffer.from(renderMetrics(route.ctx))]);
};

export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** One process's samples: its label (worker="n", none in a single process), readings and publish latency. */
interface Source {
  labels: string;
  readings: Readings;
  publishLatency: Pick<LatencyHistogram, "counts" | "sum" | "count">;
}

/**
 * The whole exposition. With workers, every family has a sample per worker (label `worker`):
 * this one's as of now, the others' as they last reported (≤ 1 s old); sum them for the machine
 * (channels and stored messages are the same in every worker: each holds a copy). The process
 * families below (files, memory, event loop) are this worker's.
 */
export function renderMetrics(ctx: PushContext): string {
  const { metrics, peers } = ctx;
  const sources: Source[] = [{ labels: peers ? `worker="${peers.worker}"` : "", readings: readings(ctx), publishLatency: metrics.publishLatency }];
  for (const other of peers?.others() ?? []) sources.push({ labels: `worker="${other.worker}"`, readings: other.readings, publishLatency: other.publishLatency });
  const own = sources[0]!.labels;
  const out = new Exposition();
  const each = (name: string, type: "counter" | "gauge", help: string, value: (r: Readings) => number): void => {
    out.family(name, type, help);
    for (const source of sources) out.sample(name, value(source.readings), source.labels);
  };
  const join = (...labels: string[]): string => labels.filter(Boolean).join(",");

  out.family("pushwire_held_connections", "gauge", "Subscriber connections held open, by subscriber mode.");
  for (const source of sources) for (const [mode, count] of source.readings.heldByMode) out.sample("pushwire_held_connections", count, join(source.labels, `mode="${escapeLabel(mode)}"`));
  each("pushwire_bitrix_push_held_connections", "gauge", "Of the held connections, those of Bitrix Push server 2.0 (bitrix-push2) locations.", (r) => r.push2Held);
  each("pushwire_subscribers", "gauge", "Subscriber connections (one per held request, whatever its number of channels).", (r) => r.gauges.subscribers);
  each("pushwire_subscriptions", "gauge", "Channel subscriptions (a connection on three channels counts three).", (r) => r.gauges.subscriptions);
  each("pushwire_channels", "gauge", "Channels, wildcard channels excluded (the events channel included).", (r) => r.gauges.channels);
  each("pushwire_wildcard_channels", "gauge", "Wildcard channels.", (r) => r.gauges.wildcardChannels);
  each("pushwire_stored_messages", "gauge", "Messages stored for catch-up (events channel excluded).", (r) => r.gauges.storedMessages);
  each("pushwire_stored_message_bytes", "gauge", "Body bytes of every stored message.", (r) => r.gauges.storedBytes);
  each("pushwire_memory_used_bytes", "gauge", "Estimated memory of stored messages and channels (what sharedMemorySize caps).", (r) => r.gauges.memoryUsed);
  each("pushwire_memory_budget_bytes", "gauge", "sharedMemorySize; 0 = no cap.", (r) => r.gauges.memoryBudget);
  each("pushwire_published_messages_total", "counter", "Messages published (events channel excluded).", (r) => r.totals.published);
  each("pushwire_delivered_messages_total", "counter", "Messages written to subscribers (pseudo-messages excluded).", (r) => r.totals.delivered);
  each("pushwire_connections_opened_total", "counter", "Client connections accepted, over all listeners.", (r) => r.totals.connectionsOpened);
  each("pushwire_connections_closed_total", "counter", "Client connections closed, over all listeners.", (r) => r.totals.connectionsClosed);
  out.family("pushwire_dropped_messages_total", "counter", "Stored messages dropped: ring_overflow (maxMessagesStoredPerChannel) or ttl (expired).");
  for (const source of sources) {
    out.sample("pushwire_dropped_messages_total", source.readings.totals.droppedByRing, join(source.labels, 'reason="ring_overflow"'));
    out.sample("pushwire_dropped_messages_total", source.readings.totals.droppedByTtl, join(source.labels, 'reason="ttl"'));
  }
  each("pushwire_evicted_messages_total", "counter", "Stored messages evicted to stay within sharedMemorySize.", (r) => r.totals.evicted);
  out.family("pushwire_publish_duration_seconds", "histogram", "Time to store a published message and hand it to every held subscriber.");
  for (const source of sources) out.histogramSamples("pushwire_publish_duration_seconds", source.publishLatency, source.labels);
  each("pushwire_long_poll_timeouts_total", "counter", "Long-polls whose hold ended with nothing to deliver (304 or the timeout message).", (r) => r.totals.longPollTimeouts);
  out.family("pushwire_rejected_requests_total", "counter", "Requests refused, by HTTP status.");
  for (const source of sources) for (const [status, count] of source.readings.rejected) out.sample("pushwire_rejected_requests_total", count, join(source.labels, `status="${status}"`));
  const files = metrics.openFiles;
  if (files) {
    out.family("pushwire_fd_limit", "gauge", "The process's open-file limit (ulimit -n, LimitNOFILE); no sample when the system does not say.");
    if (files.limit !== undefined) out.sample("pushwire_fd_limit", files.limit, own);
    out.gauge("pushwire_fd_in_use", "File descriptors in use: client connections plus the process's own.", files.inUse, own);
    out.gauge("pushwire_fd_exhausted", "1 while the open-file limit is reached (new connections are closed unanswered by the runtime).", files.exhausted ? 1 : 0, own);
    out.counter("pushwire_fd_exhausted_total", "Times the open-file limit was reached.", files.exhaustedTotal, own);
  }
  each("pushwire_process_resident_memory_bytes", "gauge", "Resident set size of the process.", (r) => r.gauges.rss);
  each("pushwire_process_heap_used_bytes", "gauge", "V8 heap in use.", (r) => r.gauges.heapUsed);
  each("pushwire_process_heap_total_bytes", "gauge", "V8 heap allocated.", (r) => r.gauges.heapTotal);
  each("pushwire_process_array_buffers_bytes", "gauge", "Memory of Buffers and ArrayBuffers outside the V8 heap (message bodies, socket buffers).", (r) => r.gauges.arrayBuffers);
  const loop = metrics.loopDelay;
  const sampled = loop !== undefined && loop.count > 0;
  out.gauge("pushwire_event_loop_lag_seconds", "Mean event-loop delay since the previous scrape.", sampled ? loop.mean / 1e9 : 0, own);
  out.gauge("pushwire_event_loop_lag_max_seconds", "Largest event-loop delay since the previous scrape.", sampled ? loop.max / 1e9 : 0, own);
  loop?.reset();
  each("pushwire_uptime_seconds", "gauge", "Seconds since the server started.", (r) => r.gauges.uptime);
  // With workers the primary writes the log: its figures as it last reported them (no worker label).
  const log = currentMessageLog(ctx);
  if (log) {
    out.gauge("pushwire_message_log_bytes", "Bytes of the message log on disk (snapshot and segments).", log.logBytes);
    out.gauge("pushwire_message_log_segments", "Segment files of the message log.", log.segments);
    out.gauge("pushwire_message_log_failed", "1 while the message log cannot write (publishes are refused with 507/503).", log.failure === null ? 0 : 1);
    out.counter("pushwire_message_log_compactions_total", "Snapshots written to compact the message log.", log.compactions);
    out.histogram("pushwire_message_log_fsync_seconds", "Time of each fdatasync of the message log (batch: one per group of publishes).", log.fsyncLatency);
    out.gauge("pushwire_message_log_replay_seconds", "Time the start-up replay of the message log took.", log.replaySeconds);
  }
  // Several nodes through Redis (one process; with workers the primary holds the connection).
  const shared = ctx.broker.shared;
  if (shared) {
    out.gauge("pushwire_redis_up", "1 while Redis takes publishes and this node's subscription is caught up.", shared.live ? 1 : 0);
    out.counter("pushwire_redis_catch_ups_total", "Catch-ups from Redis: the start and every re-subscription.", shared.catchUps);
    out.counter("pushwire_redis_caught_up_messages_total", "Messages published while this node was away, handed to its subscribers by the catch-ups.", shared.caughtUpMessages);
  }
  return out.text;
}

/** Label values escape backslash, double quote and line feed. */
function escapeLabel(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));
}

function number(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/** Accumulates families: `# HELP`, `# TYPE`, then the samples; every line ends in LF. */
class Exposition {
  text = "";

  family(name: string, type: "counter" | "gauge" | "histogram", help: string): void {
    this.text += `# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}\n# TYPE ${name} ${type}\n`;
  }

  sample(name: string, value: number, labels = ""): void {
    this.text += `${name}${labels ? `{${labels}}` : ""} ${number(value)}\n`;
  }

  gauge(name: string, help: string, value: number, labels = ""): void {
    this.family(name, "gauge", help);
    this.sample(name, value, labels);
  }

  counter(name: string, help: string, value: number, labels = ""): void {
    this.family(name, "counter", help);
    this.sample(name, value, labels);
  }

  histogramSamples(name: string, histogram: Pick<LatencyHistogram, "counts" | "sum" | "count">, labels = ""): void {
    const sep = labels ? `${labels},` : "";
    let cumulative = 0;
    LATENCY_BUCKETS.forEach((bound, i) => {
      cumulative += histogram.counts[i]!;
      this.sample(`${name}_bucket`, cumulative, `${sep}le="${bound}"`);
    });
    this.sample(`${name}_bucket`, histogram.count, `${sep}le="+Inf"`);
    this.sample(`${name}_sum`, histogram.sum, labels);
    this.sample(`${name}_count`, histogram.count, labels);
  }

  histogram(name: string, help: string, histogram: Pick<LatencyHistogram, "counts" | "sum" | "count">): void {
    this.family(name, "histogram", help);
    this.histogramSamples(name, histogram);
  }
}
