import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { RecencyList, type RecencyLinks } from "../../src/core/recency-list.js";

class Item implements RecencyLinks<Item> {
  olderLink: Item | null = null;
  newerLink: Item | null = null;
  linked = false;
  constructor(readonly name: string) {}
}

/** The names from least to most recently used, walking the links both ways to check them. */
function order(list: RecencyList<Item>): string[] {
  const names: string[] = [];
  let last: Item | null = null;
  for (let item = list.oldest; item; item = item.newerLink) {
    assert.equal(item.olderLink, last, `${item.name}'s older link`);
    names.push(item.name);
    last = item;
  }
  return names;
}

describe("RecencyList", () => {
  test("touch appends or moves to the newest end; oldest is the least recent", () => {
    const list = new RecencyList<Item>();
    const [a, b, c] = [new Item("a"), new Item("b"), new Item("c")];
    assert.equal(list.oldest, null);
    list.touch(a);
    list.touch(b);
    list.touch(c);
    assert.deepEqual(order(list), ["a", "b", "c"]);
    list.touch(a);
    assert.deepEqual(order(list), ["b", "c", "a"]);
    list.touch(a);
    assert.deepEqual(order(list), ["b", "c", "a"]);
    list.touch(c);
    assert.deepEqual(order(list), ["b", "a", "c"]);
    assert.equal(list.oldest, b);
  });

  test("remove unlinks from any position; refresh ignores items not listed", () => {
    const list = new RecencyList<Item>();
    const [a, b, c, d] = [new Item("a"), new Item("b"), new Item("c"), new Item("d")];
    for (const item of [a, b, c]) list.touch(item);
    list.remove(b);
    assert.deepEqual(order(list), ["a", "c"]);
    list.remove(b);
    list.refresh(d);
    assert.deepEqual(order(list), ["a", "c"]);
    assert.equal(d.linked, false);
    list.refresh(a);
    assert.deepEqual(order(list), ["c", "a"]);
    list.remove(a);
    list.remove(c);
    assert.equal(list.oldest, null);
    assert.deepEqual(order(list), []);
    list.touch(b);
    assert.deepEqual(order(list), ["b"]);
  });
});
