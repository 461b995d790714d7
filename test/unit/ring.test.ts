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

  test("every boundary: empty, full, wrapped, after drop-oldest — at(-1) and at(length) are undefined", () => {
    const check = (ring: Ring<string>, expected: string[], state: string): void => {
      assert.equal(ring.length, expected.length, state);
      assert.deepEqual(contents(ring), expected, state);
      assert.equal(ring.at(-1), undefined, `${state}: at(-1)`);
      assert.equal(ring.at(ring.length), undefined, `${state}: at(length)`);
      assert.equal(ring.at(ring.length + 1), undefined, `${state}: at(length + 1)`);
      assert.equal(ring.first(), expected[0], `${state}: first`);
      assert.equal(ring.last(), expected[expected.length - 1], `${state}: last`);
    };
    const ring = new Ring<string>(3);
    check(ring, [], "empty");
    for (const item of ["a", "b", "c"]) ring.push(item);
    check(ring, ["a", "b", "c"], "full: every slot in use, so at(length) would wrap onto the oldest");
    assert.equal(ring.shift(), "a");
    ring.push("d");
    check(ring, ["b", "c", "d"], "wrapped: the newest sits before the oldest in storage");
    assert.equal(ring.push("e"), "b", "drop-oldest returns the dropped item");
    check(ring, ["c", "d", "e"], "after drop-oldest");
    for (const item of ["f", "g", "h", "i"]) ring.push(item);
    check(ring, ["g", "h", "i"], "after many laps");
    ring.shift();
    ring.shift();
    check(ring, ["i"], "one left");
    ring.shift();
    check(ring, [], "emptied by shifts");
    const unbounded = new Ring<string>(0, 2);
    for (const item of ["a", "b"]) unbounded.push(item);
    check(unbounded, ["a", "b"], "unbounded, storage full before growing");
  });

  test("removeWhere drops the matching items, keeps the others in order and returns how many went", () => {
    const ring = new Ring<number>(6);
    for (const n of [1, 2, 3, 4, 5, 6, 7, 8]) ring.push(n); // wrapped: 3..8 stored from the middle of storage
    assert.equal(ring.removeWhere((n) => n % 2 === 0), 3);
    assert.deepEqual(contents(ring), [3, 5, 7]);
    assert.equal(ring.at(3), undefined);
    assert.equal(ring.removeWhere(() => false), 0);
    assert.deepEqual(contents(ring), [3, 5, 7]);
    for (const n of [9, 10, 11, 12]) ring.push(n); // refills past the capacity: the oldest go again
    assert.deepEqual(contents(ring), [5, 7, 9, 10, 11, 12]);
    assert.equal(ring.removeWhere(() => true), 6);
    assert.equal(ring.length, 0);
    assert.equal(ring.first(), undefined);
    ring.push(13);
    assert.deepEqual(contents(ring), [13]);
  });

  test("removeWhere on a full ring that wraps keeps the items stored before the end of storage", () => {
    const ring = new Ring<number>(4);
    for (const n of [1, 2, 3, 4, 5, 6, 7]) ring.push(n); // [4, 5, 6, 7]: 4 in the last slot, 5..7 from the first
    assert.equal(ring.removeWhere((n) => n >= 6), 2);
    assert.deepEqual(contents(ring), [4, 5]);
    ring.push(8);
    assert.deepEqual(contents(ring), [4, 5, 8]);
  });

  test("a ring made without arguments is unbounded", () => {
    const ring = new Ring<number>();
    for (let n = 0; n < 100; n++) assert.equal(ring.push(n), undefined);
    assert.equal(ring.length, 100);
    assert.equal(ring.first(), 0);
  });

  test("a ring asked for no initial storage still works", () => {
    for (const capacity of [0, 3]) {
      const ring = new Ring<number>(capacity, 0);
      for (const n of [1, 2, 3]) ring.push(n);
      assert.deepEqual(contents(ring), [1, 2, 3], `capacity ${capacity}`);
    }
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
