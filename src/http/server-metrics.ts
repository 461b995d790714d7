import type { IntervalHistogram } from "node:perf_hooks";

/** Upper bounds (seconds) of the publish latency buckets: 100 µs to 1 s. */
export const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1] as const;

/** A cumulative-on-read latency histogram: per-bucket counts, the sum and the count of observations. */
export class LatencyHistogram {
  /** counts[i] = observations in (LATENCY_BUCKETS[i-1], LATENCY_BUCKETS[i]]; the last slot is +Inf. */
  readonly counts = new Array<number>(LATENCY_BUCKETS.length + 1).fill(0);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++;
    this.counts[i]!++;
    this.sum += seconds;
    this.count++;
  }
}

/**
 * Counters the handlers bump as traffic passes (GET /metrics reads them). Plain fields, so a
 * transport counts with one line: `ctx.metrics.deliveredMessages += n`.
 */
export class ServerMetrics {
  /** Messages written to subscribers (not pings or other pseudo-messages). */
  deliveredMessages = 0;
  /** Long-polls whose hold ended with nothing to say (304, or the "Timed out" message). */
  longPollTimeouts = 0;
  /** Refused requests by HTTP status. */
  readonly rejected = new Map<number, number>();
  /** Time from an accepted publish body to the message handed to every held subscriber. */
  readonly publishLatency = new LatencyHistogram();
  /** Event-loop delay samples, when a metrics location exists. */
  loopDelay: IntervalHistogram | undefined = undefined;

  countRejected(status: number): void {
    this.rejected.set(status, (this.rejected.get(status) ?? 0) + 1);
  }
}
