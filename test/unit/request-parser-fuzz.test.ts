import { test } from "node:test";
import assert from "node:assert/strict";
import { describeFailures, describeReport, fuzz, type FuzzOutcome } from "../support/fuzz.js";
import { compareEvents, eventText, generateRequests, HTTP_DICTIONARY, leanEvents, LlhttpOracle, type HttpEvent } from "../support/http-fuzz.js";
import type { Prng } from "../support/prng.js";

/**
 * The lean request parser (src/http/request-parser.ts) and chunked body reader, fuzzed against
 * node's llhttp on the same bytes: pipelined requests from a grammar of valid, nearly valid and
 * hostile requests, and byte-level mutations of them. Checked for every input:
 * - never a throw;
 * - one answer per input however it is split: the events are the same whole and in random pieces;
 * - the same answer as llhttp where the two must agree — request line, headers, keep-alive,
 *   bodies (Content-Length, chunked), refusal status — except the documented divergences
 *   (HTTP/0.9 and 2.0 refused; an invalid line refused before its line end or only after it).
 * test/fuzz-corpus/http-parser/ is replayed first; a failing input is added to it.
 * Longer runs: PUSHWIRE_FUZZ_SECONDS=600 node --test build/test/unit/request-parser-fuzz.test.js
 */

const LIMIT = 4096;
const oracle = new LlhttpOracle(LIMIT);
/** Appended to confirm a refusal one side made before a line ended: the other must refuse once it does. */
const LINE_ENDS = Buffer.from("\r\n\r\n");

/** What a listener would answer: a refusal's reason is pushwire's own, and may name an earlier or later problem of the same bytes. */
function answers(events: HttpEvent[]): string {
  return events.map((e) => (e.kind === "error" ? `error ${e.status} ${e.code}` : eventText(e))).join(" | ");
}

async function check(input: Buffer, rng: Prng): Promise<FuzzOutcome> {
  let ours: HttpEvent[];
  let split: HttpEvent[];
  const cuts = rng.cuts(input.length, 4);
  try {
    ours = leanEvents(input, [], LIMIT);
    split = leanEvents(input, cuts, LIMIT);
  } catch (error) {
    return { feature: "throw", failure: `the lean parser threw: ${(error as Error).stack}` };
  }
  if (answers(split) !== answers(ours)) {
    return { feature: "split", failure: `split at ${cuts.join(",")}: ${answers(split)}; whole: ${answers(ours)}` };
  }
  const node = await oracle.events(input);
  const { mismatch, allowed } = compareEvents(ours, node, input, LIMIT);
  const feature = `${ours.map((e) => (e.kind === "error" ? e.reason : e.kind)).join(",")}/${node.map((e) => (e.kind === "error" ? e.code : e.kind)).join(",")}/${allowed ?? ""}`;
  if (mismatch) return { feature, failure: mismatch };
  if (allowed === "pushwire refuses earlier" || allowed === "llhttp refuses earlier") {
    // Once the lines end, the late side must refuse too (or differ only as documented).
    const closed = Buffer.concat([input, LINE_ENDS]);
    const again = compareEvents(leanEvents(closed, [], LIMIT), await oracle.events(closed), closed, LIMIT);
    if (again.mismatch || again.allowed === allowed) return { feature, failure: `${allowed}; with the lines ended: ${again.mismatch ?? again.allowed}` };
  }
  return { feature };
}

test("the lean parser agrees with llhttp on fuzzed requests, whole or split, and never throws", async (t) => {
  const report = await fuzz({
    name: "http-parser",
    ciRuns: 15_000,
    batch: 32,
    generate: (rng) => generateRequests(rng, LIMIT),
    dictionary: HTTP_DICTIONARY,
    check,
  });
  t.diagnostic(describeReport("http-parser", report));
  assert.equal(report.failures.length, 0, describeFailures(report.failures));
  if (report.runs >= 1000) assert.ok(report.features > 50, `the inputs reach many outcomes (${report.features})`);
});
