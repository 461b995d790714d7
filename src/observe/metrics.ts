import type { PushContext } from "../context.js";
import { LATENCY_BUCKETS, type LatencyHistogram } from "../core/latency-histogram.js";
import { refusals } from "../core/refusal.js";
import { readings } from "./readings.js";
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

/** The whole exposition. */
export function renderMetrics(ctx: PushContext): string {
  const { metrics } = ctx;
  const now = readings(ctx);
  const { gauges, totals } = now;
  const out = new Exposition();

  out.family("pushwire_held_connections", "gauge", "Subscriber connections held open, by subscriber mode.");
  for (const [mode, count] of now.heldByMode) out.sample("pushwire_held_connections", count, `mode="${escapeLabel(mode)}"`);
  out.gauge("pushwire_bitrix_push_held_connections", "Of the held connections, those of Bitrix Push server 2.0 (bitrix-push2) locations.", now.push2Held);
  out.gauge("pushwire_subscribers", "Subscriber connections (one per held request, whatever its number of channels).", gauges.subscribers);
  out.gauge("pushwire_subscriptions", "Channel subscriptions (a connection on three channels counts three).", gauges.subscriptions);
  out.gauge("pushwire_channels", "Channels, wildcard channels excluded (the events channel included).", gauges.channels);
  out.gauge("pushwire_wildcard_channels", "Wildcard channels.", gauges.wildcardChannels);
  out.gauge("pushwire_stored_messages", "Messages stored for catch-up (events channel excluded).", gauges.storedMessages);
  out.gauge("pushwire_stored_message_bytes", "Body bytes of every stored message.", gauges.storedBytes);
  out.gauge("pushwire_memory_used_bytes", "Estimated memory of stored messages and channels (what sharedMemorySize caps).", gauges.memoryUsed);
  out.gauge("pushwire_memory_budget_bytes", "sharedMemorySize; 0 = no cap.", gauges.memoryBudget);
  out.counter("pushwire_published_messages_total", "Messages published (events channel excluded).", totals.published);
  out.counter("pushwire_delivered_messages_total", "Messages written to subscribers (pseudo-messages excluded).", totals.delivered);
  out.counter("pushwire_connections_opened_total", "Client connections accepted, over all listeners.", totals.connectionsOpened);
  out.counter("pushwire_connections_closed_total", "Client connections closed, over all listeners.", totals.connectionsClosed);
  out.family("pushwire_dropped_messages_total", "counter", "Stored messages dropped: ring_overflow (maxMessagesStoredPerChannel) or ttl (expired).");
  out.sample("pushwire_dropped_messages_total", totals.droppedByRing, 'reason="ring_overflow"');
  out.sample("pushwire_dropped_messages_total", totals.droppedByTtl, 'reason="ttl"');
  out.counter("pushwire_evicted_messages_total", "Stored messages evicted to stay within sharedMemorySize.", totals.evicted);
  out.histogram("pushwire_publish_duration_seconds", "Time to store a published message and hand it to every held subscriber.", metrics.publishLatency);
  out.counter("pushwire_long_poll_timeouts_total", "Long-polls whose hold ended with nothing to deliver (304 or the timeout message).", totals.longPollTimeouts);
  out.family("pushwire_rejected_requests_total", "counter", "Requests refused, by HTTP status.");
  for (const [status, count] of now.rejected) out.sample("pushwire_rejected_requests_total", count, `status="${status}"`);
  const files = metrics.openFiles;
  if (files) {
    out.family("pushwire_fd_limit", "gauge", "The process's open-file limit (ulimit -n, LimitNOFILE); no sample when the system does not say.");
    if (files.limit !== undefined) out.sample("pushwire_fd_limit", files.limit);
    out.gauge("pushwire_fd_in_use", "File descriptors in use: client connections plus the process's own.", files.inUse);
    out.gauge("pushwire_fd_exhausted", "1 while the open-file limit is reached (new connections are closed unanswered by the runtime).", files.exhausted ? 1 : 0);
    out.counter("pushwire_fd_exhausted_total", "Times the open-file limit was reached.", files.exhaustedTotal);
  }
  out.gauge("pushwire_process_resident_memory_bytes", "Resident set size of the process.", gauges.rss);
  out.gauge("pushwire_process_heap_used_bytes", "V8 heap in use.", gauges.heapUsed);
  out.gauge("pushwire_process_heap_total_bytes", "V8 heap allocated.", gauges.heapTotal);
  out.gauge("pushwire_process_array_buffers_bytes", "Memory of Buffers and ArrayBuffers outside the V8 heap (message bodies, socket buffers).", gauges.arrayBuffers);
  const loop = metrics.loopDelay;
  const sampled = loop !== undefined && loop.count > 0;
  out.gauge("pushwire_event_loop_lag_seconds", "Mean event-loop delay since the previous scrape.", sampled ? loop.mean / 1e9 : 0);
  out.gauge("pushwire_event_loop_lag_max_seconds", "Largest event-loop delay since the previous scrape.", sampled ? loop.max / 1e9 : 0);
  loop?.reset();
  out.gauge("pushwire_uptime_seconds", "Seconds since the server started.", gauges.uptime);
  const log = ctx.messageLog;
  if (log) {
    out.gauge("pushwire_message_log_bytes", "Bytes of the message log on disk (snapshot and segments).", log.logBytes);
    out.gauge("pushwire_message_log_segments", "Segment files of the message log.", log.segments);
    out.gauge("pushwire_message_log_failed", "1 while the message log cannot write (publishes are refused with 507/503).", log.failure ? 1 : 0);
    out.counter("pushwire_message_log_compactions_total", "Snapshots written to compact the message log.", log.compactions);
    out.histogram("pushwire_message_log_fsync_seconds", "Time of each fdatasync of the message log (batch: one per group of publishes).", log.fsyncLatency);
    out.gauge("pushwire_message_log_replay_seconds", "Time the start-up replay of the message log took.", log.replaySeconds);
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

  gauge(name: string, help: string, value: number): void {
    this.family(name, "gauge", help);
    this.sample(name, value);
  }

  counter(name: string, help: string, value: number): void {
    this.family(name, "counter", help);
    this.sample(name, value);
  }

  histogram(name: string, help: string, histogram: LatencyHistogram): void {
    this.family(name, "histogram", help);
    let cumulative = 0;
    LATENCY_BUCKETS.forEach((bound, i) => {
      cumulative += histogram.counts[i]!;
      this.sample(`${name}_bucket`, cumulative, `le="${bound}"`);
    });
    this.sample(`${name}_bucket`, histogram.count, 'le="+Inf"');
    this.sample(`${name}_sum`, histogram.sum);
    this.sample(`${name}_count`, histogram.count);
  }
}
