import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { PaddingRules, type PaddingFlavour } from "../../src/core/padding.js";
import { expectedPadding } from "../support/padding-steps.js";

/**
 * Padding by user agent (PROTOCOL.md §8.7; push-stream's padding_by_user_agent_spec.rb): the rule
 * parser and the 100-byte steps of src/core/padding.ts. test/e2e/padding.test.ts checks the padded
 * bytes over real sockets for streaming and EventSource (never long-polling).
 */

function rules(text: string): PaddingRules {
  const parsed = PaddingRules.parse(text);
  assert.ok(parsed instanceof PaddingRules, `parses ${text}: ${String(parsed)}`);
  return parsed;
}

function padding(r: PaddingRules, length: number, min: number, flavour: PaddingFlavour): string {
  return r.paddingFor(length, min, flavour)?.toString("latin1") ?? "";
}

describe("PaddingRules.parse", () => {
  test("rules in order, with the largest minimum as max", () => {
    const r = rules("[T|t]est 1,1024,508:[T|t]est 2,4097,0");
    assert.equal(r.rules.length, 2);
    assert.deepEqual(r.rules.map((x) => [x.pattern.source, x.headerMin, x.messageMin]), [["[T|t]est 1", 1024, 508], ["[T|t]est 2", 4097, 0]]);
    assert.equal(r.max, 4097);
    assert.equal(rules("a,0,545").max, 545);
    assert.equal(rules("a,0,0").max, 0);
  });

  test("a regex may contain commas; the last two fields are the sizes", () => {
    const r = rules("Mozilla/5\\.0 \\(X11, Linux\\),10,20");
    assert.ok(r.rules[0]!.pattern.test("Mozilla/5.0 (X11, Linux) Gecko"));
    assert.equal(r.rules[0]!.headerMin, 10);
    assert.equal(r.rules[0]!.messageMin, 20);
  });

  test("malformed values give push-stream's messages", () => {
    assert.equal(PaddingRules.parse("nonsense"), "padding pattern not match the value nonsense");
    assert.equal(PaddingRules.parse("a,1"), "padding pattern not match the value a,1");
    assert.equal(PaddingRules.parse("a,1,2:b,x,3"), "error applying padding pattern to b,x,3");
    const badRegex = PaddingRules.parse("(unclosed,1,2");
    assert.equal(typeof badRegex, "string");
    assert.match(badRegex as string, /^invalid regular expression "\(unclosed"/);
  });

  test("match: the first rule whose regex matches the user agent; none without one", () => {
    const r = rules("[T|t]est 1,1024,508:[T|t]est,1,1:[T|t]est 2,4097,0");
    assert.equal(r.match("Test 1")?.headerMin, 1024);
    assert.equal(r.match("my test 1 browser")?.headerMin, 1024);
    assert.equal(r.match("Test 2")?.headerMin, 1, "the second rule matches first");
    assert.equal(r.match("Other"), undefined);
    assert.equal(r.match(undefined), undefined);
  });
});

describe("PaddingRules.paddingFor: sizes", () => {
  const spec = rules("[T|t]est 1,1024,508:[T|t]est 2,4097,0");

  test("spec: header `0123456789` padded with 1100 bytes for H=1024, 4097 for H=4097", () => {
    assert.equal(spec.paddingFor(10, 1024, "stream")!.length, 1100);
    assert.equal(spec.paddingFor(10, 4097, "stream")!.length, 4097);
    assert.equal(spec.paddingFor(10, 1024, "eventsource")!.length, 1100);
    assert.equal(spec.paddingFor(10, 4097, "eventsource")!.length, 4097);
  });

  test("spec: a 10-byte message with M=508 gets 500 bytes", () => {
    assert.equal(spec.paddingFor(10, 508, "stream")!.length, 500);
  });

  test("nothing when the length already reaches the minimum", () => {
    assert.equal(spec.paddingFor(508, 508, "stream"), undefined);
    assert.equal(spec.paddingFor(9000, 508, "stream"), undefined);
    assert.equal(spec.paddingFor(0, 0, "stream"), undefined);
    assert.equal(spec.paddingFor(5, 0, "eventsource"), undefined);
  });

  test("spec sizes for M=545 (max 545): 545 at 1 byte, then 500/400/300/200/100, none from 545", () => {
    const r = rules("[T|t]est 1,0,545");
    const cases: Array<[number, number]> = [[1, 545], [105, 500], [221, 400], [331, 300], [435, 200], [502, 100], [545, 0], [550, 0]];
    for (const [length, size] of cases) assert.equal(r.paddingFor(length, 545, "stream")?.length ?? 0, size, `length ${length}`);
  });

  test("every length 0..600 against M=545 follows the 100-step rule and reaches the minimum", () => {
    const r = rules("[T|t]est 1,0,545");
    for (let i = 0; i <= 600; i++) {
      const size = r.paddingFor(i, 545, "stream")?.length ?? 0;
      assert.equal(size, expectedPadding(i, 545, 545), `length ${i}`);
      if (i < 545) assert.ok(i + size >= 545, `length ${i} padded to ${i + size}`);
    }
  });

  test("a minimum below max uses the 100 steps; exact multiples of 100 round up", () => {
    const r = rules("a,300,1000:b,0,4097");
    for (const [length, min] of [[0, 300], [1, 300], [200, 300], [299, 300], [0, 1000], [1, 1000], [0, 4097], [97, 4097]] as Array<[number, number]>) {
      assert.equal(r.paddingFor(length, min, "stream")?.length ?? 0, expectedPadding(length, min, 4097), `length ${length}, min ${min}`);
    }
    assert.equal(r.paddingFor(0, 300, "stream")!.length, 400);
    assert.equal(r.paddingFor(200, 300, "stream")!.length, 200);
    assert.equal(r.paddingFor(0, 4097, "stream")!.length, 4097);
  });

  test("max a multiple of 100: the last step is max itself", () => {
    const r = rules("a,500,500");
    assert.equal(r.paddingFor(0, 500, "stream")!.length, 500);
    assert.equal(r.paddingFor(1, 500, "stream")!.length, 500);
    assert.equal(r.paddingFor(100, 500, "stream")!.length, 500);
    assert.equal(r.paddingFor(101, 500, "stream")!.length, 400);
  });
});

describe("PaddingRules.paddingFor: bytes", () => {
  test("stream padding is a run of CRLF; an odd length starts with LF", () => {
    const r = rules("a,0,545");
    assert.equal(padding(r, 1, 545, "stream"), "\n" + "\r\n".repeat(272));
    assert.equal(padding(r, 105, 545, "stream"), "\r\n".repeat(250));
    const odd = rules("a,0,333");
    assert.equal(padding(odd, 0, 333, "stream"), "\n" + "\r\n".repeat(166));
    assert.equal(padding(odd, 200, 333, "stream"), "\r\n".repeat(100));
  });

  test("eventsource padding is colons ending with one LF (an SSE comment line)", () => {
    const r = rules("a,0,545");
    assert.equal(padding(r, 1, 545, "eventsource"), ":".repeat(544) + "\n");
    assert.equal(padding(r, 105, 545, "eventsource"), ":".repeat(499) + "\n");
    assert.equal(padding(r, 500, 545, "eventsource"), ":".repeat(99) + "\n");
  });

  test("pieces are built once and shared between calls", () => {
    const r = rules("a,0,545");
    assert.equal(r.paddingFor(10, 545, "stream"), r.paddingFor(20, 545, "stream"));
    assert.equal(r.paddingFor(10, 545, "eventsource"), r.paddingFor(30, 545, "eventsource"));
  });
});

// ---------------------------------------------------------------------------------------------
// Over real sockets.
