import { test } from "node:test";
import assert from "node:assert/strict";
import { AcceptGate, limitHeadroom } from "../../src/cluster/accept-gate.js";

test("a worker keeps 1% of its open-file limit free (at least 64 descriptors)", () => {
  assert.equal(limitHeadroom(200), 64);
  assert.equal(limitHeadroom(20_000), 200);
  assert.equal(limitHeadroom(1_048_576), 10_486);
});

test("the gate stops at the limit less the headroom and starts again only with twice the headroom free", () => {
  const gate = new AcceptGate(20_000);
  assert.equal(gate.pauseAt, 19_800);
  assert.equal(gate.update(19_799), true);
  assert.equal(gate.update(19_800), false);
  assert.equal(gate.update(19_700), false, "no flapping just under the stop");
  assert.equal(gate.update(19_601), false);
  assert.equal(gate.update(19_599), true);
  assert.equal(gate.update(19_700), true, "accepting again until the stop");
  assert.equal(gate.update(20_000), false);
});
