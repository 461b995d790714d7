import { test } from "node:test";
import assert from "node:assert/strict";
import { describeFailures, describeReport, fuzz, type FuzzOutcome } from "../support/fuzz.js";
import type { Prng } from "../support/prng.js";
import { generateFrames, readerEvents, referenceEvents, WEBSOCKET_DICTIONARY } from "../support/websocket-fuzz.js";

/**
 * The WebSocket frame reader (src/websocket/frame.ts) fuzzed: client frame sequences from a
 * grammar (messages, fragments with control frames between them, closes, broken headers, lying
 * lengths, invalid UTF-8) and byte-level mutations of them, with binary messages refused and
 * accepted. Checked for every input:
 * - never a throw;
 * - one answer however the bytes are split: the same events whole, in random pieces, byte by byte;
 * - the same events as a reference decoder that reads the whole input plainly, so every message
 *   is delivered whole and once, and the first broken rule closes with its code and ends reading.
 * test/fuzz-corpus/websocket-frame/ is replayed first; a failing input is added to it.
 * Longer runs: PUSHWIRE_FUZZ_SECONDS=600 node --test build/test/unit/websocket-frame-fuzz.test.js
 */

/** Small, so generated messages cross it often. */
const MAX_MESSAGE = 100;

function check(input: Buffer, rng: Prng): FuzzOutcome {
  const outcomes: string[] = [];
  for (const acceptBinary of [false, true]) {
    const expected = referenceEvents(input, MAX_MESSAGE, acceptBinary);
    const cuts = rng.chance(0.1) ? Array.from({ length: input.length - 1 }, (_, i) => i + 1) : rng.cuts(input.length, 6);
    let whole: string[];
    let split: string[];
    try {
      whole = readerEvents(input, [], MAX_MESSAGE, acceptBinary);
      split = readerEvents(input, cuts, MAX_MESSAGE, acceptBinary);
    } catch (error) {
      return { feature: "throw", failure: `the reader threw: ${(error as Error).stack}` };
    }
    const feature = expected.map((e) => e.slice(0, e.indexOf(":") + (e.startsWith("error") ? 5 : 0))).join(",");
    outcomes.push(feature);
    const mode = acceptBinary ? "binary accepted" : "binary refused";
    if (whole.join(" ") !== expected.join(" ")) return { feature, failure: `${mode}: reader ${whole.join(" ")}; reference ${expected.join(" ")}` };
    if (split.join(" ") !== whole.join(" ")) return { feature, failure: `${mode}, split at ${cuts.join(",")}: ${split.join(" ")}; whole: ${whole.join(" ")}` };
  }
  return { feature: outcomes.join("/") };
}

test("the frame reader agrees with a reference decoder on fuzzed frames, whole or split, and never throws", async (t) => {
  const report = await fuzz({
    name: "websocket-frame",
    ciRuns: 40_000,
    generate: (rng) => generateFrames(rng, MAX_MESSAGE),
    dictionary: WEBSOCKET_DICTIONARY,
    check,
  });
  t.diagnostic(describeReport("websocket-frame", report));
  assert.equal(report.failures.length, 0, describeFailures(report.failures));
  if (report.runs >= 1000) assert.ok(report.features > 100, `the inputs reach many outcomes (${report.features})`);
});
