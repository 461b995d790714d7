import { LATENCY_BUCKETS, type LatencyHistogram } from "../core/latency-histogram.js";
import type { Readings } from "../observe/readings.js";

/** One second of traffic: what the counters moved by since the previous sample. */
export interface Sample {
  /** Unix milliseconds of the sample. */
  t: number;
  publishes: number;
  deliveries: number;
  opened: number;
  closed: number;
  timeouts: number;
  evictions: number;
  /** Refusals in this second by HTTP status ("404": 2); empty when none. */
  refusals: Record<string, number>;
  /** Publish → deliver latency in this second (ms, at bucket resolution); null without publishes. */
  p50: number | null;
  p99: number | null;
}

/** The counters a sample is the difference of. */
interface Totals {
  published: number;
  delivered: number;
  opened: number;
  closed: number;
  timeouts: number;
  evicted: number;
  rejected: Map<number, number>;
  latency: number[];
}

/**
 * The last `capacity` one-second samples (900: fifteen minutes), oldest first on read. Taking a
 * sample is O(1) in traffic: a few counters and the latency buckets are compared with the last ones.
 */
export class SampleSeries {
  private readonly samples: (Sample | undefined)[];
  private next = 0;
  private size = 0;
  private last: Totals | undefined;

  constructor(readonly capacity = 900) {
    this.samples = new Array<Sample | undefined>(capacity);
  }

  /** Forgets the previous totals: the next `take` starts a new run (after nobody watched for a while). */
  restart(): void {
    this.last = undefined;
  }

  /** Records the second ending now; the first call of a run only takes the totals and returns undefined. */
  take(t: number, now: Readings, latency: LatencyHistogram): Sample | undefined {
    const totals: Totals = {
      published: now.totals.published,
      delivered: now.totals.delivered,
      opened: now.totals.connectionsOpened,
      closed: now.totals.connectionsClosed,
      timeouts: now.totals.longPollTimeouts,
      evicted: now.totals.evicted,
      rejected: new Map(now.rejected),
      latency: [...latency.counts],
    };
    const last = this.last;
    this.last = totals;
    if (!last) return undefined;
    const refusals: Record<string, number> = {};
    for (const [status, count] of totals.rejected) {
      const moved = count - (last.rejected.get(status) ?? 0);
      if (moved > 0) refusals[status] = moved;
    }
    const buckets = totals.latency.map((count, i) => count - last.latency[i]!);
    const sample: Sample = {
      t,
      publishes: totals.published - last.published,
      deliveries: totals.delivered - last.delivered,
      opened: totals.opened - last.opened,
      closed: totals.closed - last.closed,
      timeouts: totals.timeouts - last.timeouts,
      evictions: totals.evicted - last.evicted,
      refusals,
      p50: quantileMs(buckets, 0.5),
      p99: quantileMs(buckets, 0.99),
    };
    this.samples[this.next] = sample;
    this.next = (this.next + 1) % this.capacity;
    this.size = Math.min(this.size + 1, this.capacity);
    return sample;
  }

  /** Every kept sample, oldest first. */
  all(): Sample[] {
    const out: Sample[] = [];
    for (let i = 0; i < this.size; i++) out.push(this.samples[(this.next - this.size + i + this.capacity) % this.capacity]!);
    return out;
  }
}

/** The upper bound (ms) of the bucket holding quantile `q` of the observations; null for none. */
export function quantileMs(buckets: readonly number[], q: number): number | null {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = Math.ceil(q * total);
  let cumulative = 0;
  for (let i = 0; i < buckets.length; i++) {
    cumulative += buckets[i]!;
    if (cumulative >= rank) return LATENCY_BUCKETS[Math.min(i, LATENCY_BUCKETS.length - 1)]! * 1000; // past the last bound: "≥ 1 s"
  }
  return null;
}
