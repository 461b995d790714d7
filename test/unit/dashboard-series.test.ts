import { test } from "node:test";
import assert from "node:assert/strict";
import { LatencyHistogram } from "../../src/core/latency-histogram.js";
import { quantileMs, SampleSeries } from "../../src/dashboard/series.js";
import type { Gauges, Readings, Totals } from "../../src/observe/readings.js";

/** A reading with these totals (and refusals); the gauges play no part in a sample. */
function reading(fields: Partial<Totals> & { rejected?: Array<[number, number]> }): Readings {
  const { rejected = [], ...totals } = fields;
  return {
    heldByMode: new Map(), push2Held: 0, gauges: {} as Gauges, rejected,
    totals: { published: 0, delivered: 0, connectionsOpened: 0, connectionsClosed: 0, longPollTimeouts: 0, evicted: 0, droppedByRing: 0, droppedByTtl: 0, ...totals },
  };
}

test("a sample is what each counter moved by since the previous one; the first of a run only sets the baseline", () => {
  const series = new SampleSeries(4);
  const latency = new LatencyHistogram();
  assert.equal(series.take(1000, reading({ published: 10, rejected: [[404, 2]] }), latency), undefined);
  latency.observe(0.0002);
  latency.observe(0.0002);
  latency.observe(0.003);
  const sample = series.take(2000, reading({ published: 13, delivered: 5, connectionsOpened: 2, connectionsClosed: 1, longPollTimeouts: 1, evicted: 4, rejected: [[403, 1], [404, 2]] }), latency)!;
  assert.deepEqual(sample, { t: 2000, publishes: 3, deliveries: 5, opened: 2, closed: 1, timeouts: 1, evictions: 4, refusals: { "403": 1 }, p50: 0.25, p99: 5 });
  const quiet = series.take(3000, reading({ published: 13, delivered: 5, connectionsOpened: 2, connectionsClosed: 1, longPollTimeouts: 1, evicted: 4, rejected: [[403, 1], [404, 2]] }), latency)!;
  assert.equal(quiet.p50, null, "no publish in that second: no latency");
  assert.deepEqual(quiet.refusals, {});
});

test("keeps the last `capacity` samples, oldest first; restart leaves a gap instead of a spike", () => {
  const series = new SampleSeries(3);
  const latency = new LatencyHistogram();
  for (let i = 0; i <= 5; i++) series.take(i * 1000, reading({ published: i * 2 }), latency);
  assert.deepEqual(series.all().map((s) => [s.t, s.publishes]), [[3000, 2], [4000, 2], [5000, 2]]);
  series.restart();
  assert.equal(series.take(60_000, reading({ published: 500 }), latency), undefined);
  assert.deepEqual(series.take(61_000, reading({ published: 501 }), latency)?.publishes, 1);
});

test("quantiles at bucket resolution, in ms; past the last bound reads as 1 s", () => {
  assert.equal(quantileMs([0, 0, 0], 0.5), null);
  assert.equal(quantileMs([1, 0, 0, 1], 0.5), 0.1);
  assert.equal(quantileMs([1, 0, 0, 1], 0.99), 1);
  const overflow = new Array<number>(14).fill(0);
  overflow[13] = 1;
  assert.equal(quantileMs(overflow, 0.5), 1000);
});
