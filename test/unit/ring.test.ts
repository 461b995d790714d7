import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Ring } from "../../src/core/ring.js";

/** Everything in the ring, oldest first, read through `at`. */
function contents<T>(ring: Ring<T>): (T | undefined)[] {
  const out: (T | undefined)[] = [];
  for (let i = 0; i < ring.length; i++) out.push(ring.at(i));
  return out;
}

describe("Ring", () => {
  test("an empty ring has length 0 and no first, last or items", () => {
    const ring = new Ring<number>(3);
    assert.equal(ring.length, 0);
    assert.equal(ring.first(), undefined);
    assert.equal(ring.last(), undefined);
    assert.equal(ring.at(0), undefined);
    assert.equal(ring.shift(), undefined);
    assert.equal(ring.length, 0);
  });

  test("push appends at the end; first is the oldest, last the newest", () => {
    const ring = new Ring<string>(10);
    assert.equal(ring.push("a"), undefined);
    assert.equal(ring.push("b"), undefined);
    assert.equal(ring.push("c"), undefined);
    assert.equal(ring.length, 3);
    assert.equal(ring.first(), "a");
    assert.equal(ring.last(), "c");
    assert.deepEqual(contents(ring), ["a", "b", "c"]);
  });

  test("at is undefined outside 0..length-1", () => {
    const ring = new Ring<number>(4);
    ring.push(1);
    ring.push(2);
    assert.equal(ring.at(-1), undefined);
    assert.equal(ring.at(2), undefined);
    assert.equal(ring.at(1), 2);
  });

  test("shift removes and returns the oldest item, in FIFO order", () => {
    const ring = new Ring<number>(0);
    for (const n of [1, 2, 3]) ring.push(n);
    assert.equal(ring.shift(), 1);
    assert.equal(ring.shift(), 2);
    assert.equal(ring.length, 1);
    assert.equal(ring.first(), 3);
    assert.equal(ring.shift(), 3);
    assert.equal(ring.shift(), undefined);
    assert.equal(ring.length, 0);
  });

  test("when full, push drops the oldest item and returns it", () => {
    const ring = new Ring<number>(3);
    ring.push(1);
    ring.push(2);
    ring.push(3);
    assert.equal(ring.push(4), 1);
    assert.equal(ring.push(5), 2);
    assert.equal(ring.length, 3);
    assert.deepEqual(contents(ring), [3, 4, 5]);
  });

  test("capacity 1 keeps only the newest item", () => {
    const ring = new Ring<string>(1);
    assert.equal(ring.push("x"), undefined);
    assert.equal(ring.push("y"), "x");
    assert.equal(ring.push("z"), "y");
    assert.equal(ring.length, 1);
    assert.equal(ring.first(), "z");
    assert.equal(ring.last(), "z");
  });

  test("storage grows from one slot up to the capacity without losing order", () => {
    const ring = new Ring<number>(1000, 1);
    for (let i = 0; i < 1000; i++) assert.equal(ring.push(i), undefined, `push ${i} dropped something`);
    assert.equal(ring.length, 1000);
    assert.equal(ring.first(), 0);
    assert.equal(ring.last(), 999);
    assert.equal(ring.at(500), 500);
    assert.equal(ring.push(1000), 0);
    assert.equal(ring.first(), 1);
    assert.equal(ring.length, 1000);
  });

  test("growth while the contents wrap around keeps FIFO order", () => {
    const ring = new Ring<number>(0, 4);
    for (const n of [1, 2, 3, 4]) ring.push(n);
    ring.shift();
    ring.shift();
    ring.push(5);
    ring.push(6); // now wrapped: storage is full with head in the middle
    ring.push(7); // forces growth
    ring.push(8);
    assert.deepEqual(contents(ring), [3, 4, 5, 6, 7, 8]);
  });

  test("a capacity that is not a power of two drops oldest after growth", () => {
    const ring = new Ring<number>(5, 1);
    for (let i = 1; i <= 5; i++) ring.push(i);
    assert.equal(ring.push(6), 1);
    assert.equal(ring.push(7), 2);
    assert.deepEqual(contents(ring), [3, 4, 5, 6, 7]);
  });

  test("capacity 0 is unbounded: nothing is ever dropped", () => {
    const ring = new Ring<number>(0);
    for (let i = 0; i < 10_000; i++) assert.equal(ring.push(i), undefined);
    assert.equal(ring.length, 10_000);
    assert.equal(ring.first(), 0);
    assert.equal(ring.last(), 9_999);
    assert.equal(ring.capacity, 0);
  });

  test("clear empties the ring, which then works as new (capacity still applies)", () => {
    const ring = new Ring<number>(3);
    for (const n of [1, 2, 3, 4]) ring.push(n);
    ring.clear();
    assert.equal(ring.length, 0);
    assert.equal(ring.first(), undefined);
    assert.equal(ring.last(), undefined);
    assert.equal(ring.push(10), undefined);
    assert.equal(ring.push(11), undefined);
    assert.equal(ring.push(12), undefined);
    assert.equal(ring.push(13), 10);
    assert.deepEqual(contents(ring), [11, 12, 13]);
  });

  test("clear of an unbounded ring allows refilling beyond the initial storage", () => {
    const ring = new Ring<number>(0);
    for (let i = 0; i < 20; i++) ring.push(i);
    ring.clear();
    for (let i = 0; i < 20; i++) assert.equal(ring.push(i * 2), undefined);
    assert.equal(ring.length, 20);
    assert.equal(ring.at(19), 38);
  });

  test("interleaved pushes and shifts over many laps stay consistent", () => {
    const ring = new Ring<number>(7, 2);
    const model: number[] = [];
    for (let i = 0; i < 500; i++) {
      const dropped = ring.push(i);
      model.push(i);
      const expectedDrop = model.length > 7 ? model.shift() : undefined;
      assert.equal(dropped, expectedDrop);
      if (i % 3 === 0) assert.equal(ring.shift(), model.shift());
      assert.equal(ring.length, model.length);
    }
    assert.deepEqual(contents(ring), model);
  });
});
