import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TimerWheel, type WheelEntry } from "../../src/core/timer-wheel.js";

/** A wheel entry that records when (at which `advance(now)`) it fired. */
class Entry implements WheelEntry {
  wheelDeadline = 0;
  wheelNext: WheelEntry | null = null;
  wheelPrev: WheelEntry | null = null;
  wheelSlot = -1;
  fired: number[] = [];
  onExpire: (() => void) | undefined;

  constructor(
    readonly name: string,
    private readonly log: string[] = [],
  ) {}

  onWheelExpire(): void {
    this.fired.push(this.fired.length + 1);
    this.log.push(this.name);
    this.onExpire?.();
  }
}

describe("TimerWheel", () => {
  test("a new wheel is empty and advance fires nothing", () => {
    const wheel = new TimerWheel(100, 0, 16);
    assert.equal(wheel.size, 0);
    assert.equal(wheel.advance(10_000), 0);
  });

  test("schedule links the entry and counts it; cancel unlinks it", () => {
    const wheel = new TimerWheel(100, 0, 16);
    const a = new Entry("a");
    assert.equal(wheel.isScheduled(a), false);
    wheel.schedule(a, 500);
    assert.equal(wheel.isScheduled(a), true);
    assert.equal(a.wheelDeadline, 500);
    assert.equal(wheel.size, 1);
    wheel.cancel(a);
    assert.equal(wheel.isScheduled(a), false);
    assert.equal(a.wheelSlot, -1);
    assert.equal(a.wheelNext, null);
    assert.equal(a.wheelPrev, null);
    assert.equal(wheel.size, 0);
    assert.equal(wheel.advance(1000), 0);
    assert.deepEqual(a.fired, []);
  });

  test("cancelling an unscheduled entry is a no-op and does not change size", () => {
    const wheel = new TimerWheel(100, 0, 16);
    const a = new Entry("a");
    const b = new Entry("b");
    wheel.schedule(b, 300);
    wheel.cancel(a);
    assert.equal(wheel.size, 1);
    wheel.cancel(b);
    wheel.cancel(b);
    assert.equal(wheel.size, 0);
  });

  test("cancelling the head, middle and tail of one slot keeps the others linked", () => {
    const wheel = new TimerWheel(100, 0, 16);
    const log: string[] = [];
    const entries = ["a", "b", "c", "d", "e"].map((n) => new Entry(n, log));
    for (const e of entries) wheel.schedule(e, 250); // all in the same slot
    wheel.cancel(entries[4]!); // head (last scheduled is linked first)
    wheel.cancel(entries[2]!); // middle
    wheel.cancel(entries[0]!); // tail
    assert.equal(wheel.size, 2);
    assert.equal(wheel.advance(300), 2);
    assert.deepEqual(log.sort(), ["b", "d"]);
    assert.equal(wheel.size, 0);
  });

  test("advance fires only entries whose deadline has passed", () => {
    const wheel = new TimerWheel(100, 0, 16);
    const log: string[] = [];
    const early = new Entry("early", log);
    const late = new Entry("late", log);
    wheel.schedule(early, 200);
    wheel.schedule(late, 500);
    assert.equal(wheel.advance(100), 0);
    assert.equal(wheel.advance(200), 1);
    assert.deepEqual(log, ["early"]);
    assert.equal(wheel.size, 1);
    assert.equal(wheel.advance(400), 0);
    assert.equal(wheel.advance(500), 1);
    assert.deepEqual(log, ["early", "late"]);
    assert.equal(wheel.size, 0);
  });

  test("an entry fires exactly once, and is unlinked when its callback runs", () => {
    const wheel = new TimerWheel(100, 0, 16);
    const a = new Entry("a");
    let scheduledDuringCallback: boolean | undefined;
    a.onExpire = () => {
      scheduledDuringCallback = wheel.isScheduled(a);
    };
    wheel.schedule(a, 300);
    assert.equal(wheel.advance(300), 1);
    assert.equal(scheduledDuringCallback, false);
    assert.equal(wheel.advance(400), 0);
    assert.equal(wheel.advance(300 + 16 * 100), 0); // one full turn later: the slot is empty
    assert.equal(wheel.advance(10_000), 0);
    assert.deepEqual(a.fired, [1]);
  });

  test("advance to a time in the same tick twice fires nothing the second time", () => {
    const wheel = new TimerWheel(100, 0, 16);
    const a = new Entry("a");
    wheel.schedule(a, 200);
    assert.equal(wheel.advance(250), 1);
    assert.equal(wheel.advance(299), 0);
    assert.equal(wheel.advance(250), 0); // time going back is ignored
    assert.deepEqual(a.fired, [1]);
  });

  test("a deadline more than one turn away does not fire early when its slot comes round", () => {
    const slots = 8;
    const wheel = new TimerWheel(100, 0, slots);
    const far = new Entry("far");
    const deadline = 2500; // 25 ticks: three turns of an 8-slot wheel, plus one
    wheel.schedule(far, deadline);
    for (let now = 100; now < deadline; now += 100) {
      assert.equal(wheel.advance(now), 0, `fired early at ${now}`);
    }
    assert.equal(wheel.size, 1);
    assert.equal(wheel.advance(deadline), 1);
    assert.deepEqual(far.fired, [1]);
    assert.equal(wheel.size, 0);
  });

  test("a jump of several turns at once fires everything due and nothing else", () => {
    const wheel = new TimerWheel(100, 0, 8);
    const log: string[] = [];
    const entries = [300, 900, 1700, 5000].map((d) => {
      const e = new Entry(String(d), log);
      wheel.schedule(e, d);
      return e;
    });
    assert.equal(wheel.advance(2000), 3);
    assert.deepEqual(log.sort(), ["1700", "300", "900"]);
    assert.equal(wheel.size, 1);
    assert.equal(wheel.isScheduled(entries[3]!), true);
    assert.equal(wheel.advance(4900), 0);
    assert.equal(wheel.advance(5000), 1);
    assert.deepEqual(log.sort(), ["1700", "300", "5000", "900"]);
  });

  test("a deadline between ticks fires on the first advance at or after it, even when an earlier advance landed in its tick", () => {
    // The server ticks with advance(clock.now()) at arbitrary phases, and deadlines are now + ttl.
    const wheel = new TimerWheel(100, 0, 16);
    const a = new Entry("a");
    wheel.schedule(a, 250);
    assert.equal(wheel.advance(220), 0); // tick 2, but 250 is still ahead
    assert.equal(wheel.advance(320), 1, "an entry due at 250 must fire by 320");
    assert.deepEqual(a.fired, [1]);
    assert.equal(wheel.size, 0);
  });

  test("schedule on a scheduled entry moves it (reschedule) without double counting", () => {
    const wheel = new TimerWheel(100, 0, 16);
    const a = new Entry("a");
    wheel.schedule(a, 200);
    wheel.schedule(a, 700);
    assert.equal(wheel.size, 1);
    assert.equal(a.wheelDeadline, 700);
    assert.equal(wheel.advance(600), 0);
    assert.equal(wheel.advance(700), 1);
    assert.deepEqual(a.fired, [1]);
    assert.equal(wheel.size, 0);
  });

  test("rescheduling to an earlier deadline fires at the earlier time", () => {
    const wheel = new TimerWheel(100, 0, 16);
    const a = new Entry("a");
    wheel.schedule(a, 1200);
    wheel.schedule(a, 300);
    assert.equal(wheel.advance(300), 1);
    assert.equal(wheel.advance(1200), 0);
    assert.deepEqual(a.fired, [1]);
  });

  test("an entry may reschedule itself from its own expire callback", () => {
    const wheel = new TimerWheel(100, 0, 16);
    const a = new Entry("a");
    a.onExpire = () => {
      if (a.fired.length < 3) wheel.schedule(a, a.wheelDeadline + 500);
    };
    wheel.schedule(a, 500);
    assert.equal(wheel.advance(500), 1);
    assert.equal(wheel.size, 1);
    assert.equal(wheel.advance(900), 0);
    assert.equal(wheel.advance(1000), 1);
    assert.equal(wheel.advance(1500), 1);
    assert.equal(wheel.size, 0);
    assert.deepEqual(a.fired, [1, 2, 3]);
  });

  test("an entry cancelled by another entry's expire callback in the same advance does not fire", () => {
    const wheel = new TimerWheel(100, 0, 16);
    const log: string[] = [];
    const first = new Entry("first", log);
    const second = new Entry("second", log);
    wheel.schedule(first, 300);
    wheel.schedule(second, 300);
    // Whichever runs first cancels the other, as clearTimeout would: the other must not run.
    first.onExpire = () => wheel.cancel(second);
    second.onExpire = () => wheel.cancel(first);
    assert.equal(wheel.advance(300), 1);
    assert.equal(log.length, 1, `both fired: ${log.join(", ")}`);
    assert.equal(wheel.size, 0);
    assert.equal(wheel.advance(5000), 0);
    assert.equal(log.length, 1);
  });

  test("an entry cancelling itself inside its own expire callback leaves the size counter right", () => {
    const wheel = new TimerWheel(100, 0, 16);
    const a = new Entry("a");
    const b = new Entry("b");
    wheel.schedule(a, 200);
    wheel.schedule(b, 900);
    a.onExpire = () => wheel.cancel(a);
    assert.equal(wheel.advance(200), 1);
    assert.equal(wheel.size, 1);
    assert.equal(wheel.isScheduled(b), true);
    assert.equal(wheel.advance(900), 1);
    assert.equal(wheel.size, 0);
  });

  test("an expire callback that cancels a not-yet-due entry keeps the size counter right", () => {
    const wheel = new TimerWheel(100, 0, 16);
    const a = new Entry("a");
    const b = new Entry("b");
    wheel.schedule(a, 200);
    wheel.schedule(b, 1000);
    a.onExpire = () => wheel.cancel(b);
    assert.equal(wheel.advance(200), 1);
    assert.equal(wheel.size, 0);
    assert.equal(wheel.advance(5000), 0);
    assert.deepEqual(b.fired, []);
  });

  test("a deadline already in the past fires on the next advance, not a turn later", () => {
    const wheel = new TimerWheel(100, 0, 16);
    wheel.advance(1000);
    const a = new Entry("a");
    wheel.schedule(a, 50);
    assert.equal(wheel.advance(1100), 1);
    assert.deepEqual(a.fired, [1]);
  });

  test("a deadline inside the current tick fires on the next tick", () => {
    const wheel = new TimerWheel(100, 1000, 16);
    const a = new Entry("a");
    wheel.schedule(a, 1050);
    assert.equal(wheel.advance(1099), 0);
    assert.equal(wheel.advance(1100), 1);
  });

  test("the wheel starts at `start`: slots before it are not swept as if due", () => {
    const start = 1_700_000_000_000;
    const wheel = new TimerWheel(100, start, 1024);
    const a = new Entry("a");
    wheel.schedule(a, start + 40_000);
    assert.equal(wheel.advance(start + 39_900), 0);
    assert.equal(wheel.advance(start + 40_000), 1);
  });

  test("size counts schedules, moves, cancels and firings", () => {
    const wheel = new TimerWheel(10, 0, 64);
    const entries = Array.from({ length: 100 }, (_, i) => new Entry(String(i)));
    entries.forEach((e, i) => wheel.schedule(e, 10 * (i + 1)));
    assert.equal(wheel.size, 100);
    for (let i = 0; i < 100; i += 2) wheel.cancel(entries[i]!);
    assert.equal(wheel.size, 50);
    wheel.schedule(entries[1]!, 5000);
    assert.equal(wheel.size, 50);
    assert.equal(wheel.advance(500), 24); // odd indices 3..49 → deadlines 40..500
    assert.equal(wheel.size, 26);
    assert.equal(wheel.advance(1000), 25);
    assert.equal(wheel.size, 1);
    assert.equal(wheel.advance(5000), 1);
    assert.equal(wheel.size, 0);
  });
});

describe("TimerWheel failure isolation", () => {
  test("an expire callback that throws does not stop the other due entries; the error surfaces after", () => {
    const wheel = new TimerWheel(10, 0, 16);
    const log: string[] = [];
    const first = new Entry("first", log);
    const thrower = new Entry("thrower", log);
    const last = new Entry("last", log);
    thrower.onExpire = () => {
      throw new Error("callback failed");
    };
    wheel.schedule(first, 20);
    wheel.schedule(thrower, 20);
    wheel.schedule(last, 20);
    assert.throws(() => wheel.advance(25), /callback failed/);
    assert.deepEqual([...log].sort(), ["first", "last", "thrower"]);
    assert.equal(wheel.size, 0);
    assert.equal(wheel.advance(100), 0, "nothing fires twice");
  });
});
