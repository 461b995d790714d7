import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../src/core/clock.js";
import {
  DELETED_MESSAGE_ID,
  Message,
  PING_MESSAGE_ID,
  PublishClock,
  TIMEOUT_MESSAGE_ID,
  specialMessage,
} from "../../src/core/message.js";

const T0 = 1_700_000_000_000; // a whole second, in ms
const S0 = T0 / 1000;

type Stamp = { time: number; tag: number; seq: number };

function stamp(clock: PublishClock): Stamp {
  clock.stamp();
  return { time: clock.time, tag: clock.tag, seq: clock.seq };
}

/** (time, tag) order: the push-stream total order of publishes. */
function after(a: Stamp, b: Stamp): boolean {
  return a.time > b.time || (a.time === b.time && a.tag > b.tag);
}

describe("PublishClock", () => {
  test("before any publish the stamp is (0, 0, 0)", () => {
    const pc = new PublishClock(new ManualClock(T0));
    assert.deepEqual({ time: pc.time, tag: pc.tag, seq: pc.seq }, { time: 0, tag: 0, seq: 0 });
  });

  test("the first publish in a second gets tag 1 and the time in whole seconds", () => {
    const clock = new ManualClock(T0 + 999);
    const pc = new PublishClock(clock);
    assert.deepEqual(stamp(pc), { time: S0, tag: 1, seq: 1 });
  });

  test("publishes within the same second count up the tag", () => {
    const clock = new ManualClock(T0);
    const pc = new PublishClock(clock);
    assert.deepEqual(stamp(pc), { time: S0, tag: 1, seq: 1 });
    clock.advance(400);
    assert.deepEqual(stamp(pc), { time: S0, tag: 2, seq: 2 });
    clock.advance(599);
    assert.deepEqual(stamp(pc), { time: S0, tag: 3, seq: 3 });
  });

  test("a new second resets the tag to 1", () => {
    const clock = new ManualClock(T0);
    const pc = new PublishClock(clock);
    stamp(pc);
    stamp(pc);
    clock.advance(1000);
    assert.deepEqual(stamp(pc), { time: S0 + 1, tag: 1, seq: 3 });
    clock.advance(5000);
    assert.deepEqual(stamp(pc), { time: S0 + 6, tag: 1, seq: 4 });
    assert.deepEqual(stamp(pc), { time: S0 + 6, tag: 2, seq: 5 });
  });

  test("when the wall clock steps backwards the time never decreases and the tag keeps counting", () => {
    const clock = new ManualClock(T0 + 10_000);
    const pc = new PublishClock(clock);
    const a = stamp(pc);
    const b = stamp(pc);
    assert.deepEqual(a, { time: S0 + 10, tag: 1, seq: 1 });
    assert.deepEqual(b, { time: S0 + 10, tag: 2, seq: 2 });
    clock.set(T0); // NTP step back 10 s
    const c = stamp(pc);
    const d = stamp(pc);
    assert.deepEqual(c, { time: S0 + 10, tag: 3, seq: 3 });
    assert.deepEqual(d, { time: S0 + 10, tag: 4, seq: 4 });
    assert.equal(after(c, b), true);
    assert.equal(after(d, c), true);
  });

  test("after a backward step, stamps catch up once the clock passes the last second seen", () => {
    const clock = new ManualClock(T0 + 5_000);
    const pc = new PublishClock(clock);
    stamp(pc);
    clock.set(T0);
    assert.deepEqual(stamp(pc), { time: S0 + 5, tag: 2, seq: 2 });
    clock.set(T0 + 5_500); // same second as the last stamp
    assert.deepEqual(stamp(pc), { time: S0 + 5, tag: 3, seq: 3 });
    clock.set(T0 + 6_000);
    assert.deepEqual(stamp(pc), { time: S0 + 6, tag: 1, seq: 4 });
  });

  test("over an erratic clock every stamp sorts after the previous one and seq strictly increases", () => {
    const clock = new ManualClock(T0);
    const pc = new PublishClock(clock);
    const steps = [0, 300, 800, -2500, 100, 1000, -900, 0, 4000, -10_000, 20_000, 1];
    let previous = stamp(pc);
    for (const step of steps) {
      clock.advance(step);
      const next = stamp(pc);
      assert.equal(after(next, previous), true, `${JSON.stringify(next)} after ${JSON.stringify(previous)}`);
      assert.equal(next.seq, previous.seq + 1);
      previous = next;
    }
  });

  test("two publish clocks are independent", () => {
    const clock = new ManualClock(T0);
    const a = new PublishClock(clock);
    const b = new PublishClock(clock);
    stamp(a);
    stamp(a);
    assert.deepEqual(stamp(b), { time: S0, tag: 1, seq: 1 });
  });
});

describe("specialMessage", () => {
  test("has tag 0, time 0, seq 0, no event id or type, and never expires", () => {
    const m = specialMessage(DELETED_MESSAGE_ID, "room", "Channel deleted");
    assert.equal(m.id, -2);
    assert.equal(m.channel, "room");
    assert.equal(m.time, 0);
    assert.equal(m.tag, 0);
    assert.equal(m.seq, 0);
    assert.equal(m.eventId, "");
    assert.equal(m.eventType, "");
    assert.equal(m.expiresAt, Infinity);
    assert.deepEqual(m.text, Buffer.from("Channel deleted"));
  });

  test("the pseudo-message ids are -1, -2, -3", () => {
    assert.equal(PING_MESSAGE_ID, -1);
    assert.equal(DELETED_MESSAGE_ID, -2);
    assert.equal(TIMEOUT_MESSAGE_ID, -3);
  });
});

describe("Message.rendered", () => {
  const m = (): Message => new Message(1, "c", S0, 1, 1, Buffer.from("x"), "", "", Infinity);

  test("renders once per template key and returns the cached Buffer", () => {
    const msg = m();
    const key = {};
    let calls = 0;
    const render = (): Buffer => Buffer.from(`r${++calls}`);
    const first = msg.rendered(key, render);
    assert.equal(first.toString(), "r1");
    assert.equal(msg.rendered(key, render), first);
    assert.equal(calls, 1);
  });

  test("other template keys get their own cached renders", () => {
    const msg = m();
    const keys = [{}, {}, {}];
    let calls = 0;
    const render = (): Buffer => Buffer.from(`r${++calls}`);
    const out = keys.map((k) => msg.rendered(k, render));
    assert.deepEqual(out.map(String), ["r1", "r2", "r3"]);
    assert.deepEqual(keys.map((k) => msg.rendered(k, render)), out);
    keys.forEach((k, i) => assert.equal(msg.rendered(k, render), out[i]));
    assert.equal(calls, 3);
  });
});
