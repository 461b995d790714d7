import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { catchUpStart, collectCatchUp, parseTag, type Cursor } from "../../src/core/cursor.js";
import { Message } from "../../src/core/message.js";
import { Ring } from "../../src/core/ring.js";

describe("parseTag", () => {
  test("a weak tag W/5 is 5", () => {
    assert.equal(parseTag("W/5"), 5);
  });

  test("bare digits are a tag", () => {
    assert.equal(parseTag("5"), 5);
    assert.equal(parseTag("0"), 0);
    assert.equal(parseTag("007"), 7);
    assert.equal(parseTag("W/0"), 0);
  });

  test("W/ alone is absent", () => {
    assert.equal(parseTag("W/"), undefined);
  });

  test("a quoted tag is absent", () => {
    assert.equal(parseTag('"5"'), undefined);
    assert.equal(parseTag('W/"5"'), undefined);
  });

  test("negative numbers, signs, spaces and other text are absent", () => {
    for (const bad of ["-1", "+1", " 5", "5 ", "1.5", "abc", "w/5", "W/-1", "W/W/5", "0x10"]) {
      assert.equal(parseTag(bad), undefined, JSON.stringify(bad));
    }
  });

  test("empty and undefined are absent", () => {
    assert.equal(parseTag(""), undefined);
    assert.equal(parseTag(undefined), undefined);
  });

  test("absurdly long digit strings are absent rather than imprecise", () => {
    assert.equal(parseTag("123456789012345"), 123456789012345);
    assert.equal(parseTag("1234567890123456"), undefined);
  });
});

const T = 1_715_289_393; // a publish second
const NOW = T * 1000 + 500;

interface Spec {
  time: number;
  tag: number;
  eventId?: string;
  /** Milliseconds; defaults to never. */
  expiresAt?: number;
}

/** A channel's stored messages with ids 1, 2, 3… */
function stored(...specs: Spec[]): Ring<Message> {
  const ring = new Ring<Message>(0);
  specs.forEach((s, i) => {
    ring.push(new Message(i + 1, "ch", s.time, s.tag, i + 1, Buffer.from(`m${i + 1}`), s.eventId ?? "", "", s.expiresAt ?? Infinity));
  });
  return ring;
}

function cursor(c: Partial<Cursor>): Cursor {
  return { time: c.time, tag: c.tag, lastEventId: c.lastEventId };
}

const NONE = cursor({});

// Five messages: two in second T-1, three in second T (tags 1..3).
function five(): Ring<Message> {
  return stored(
    { time: T - 1, tag: 4, eventId: "a" },
    { time: T - 1, tag: 5, eventId: "b" },
    { time: T, tag: 1, eventId: "c" },
    { time: T, tag: 2, eventId: "d" },
    { time: T, tag: 3, eventId: "e" },
  );
}

describe("catchUpStart", () => {
  test("an empty channel has nothing to catch up", () => {
    assert.equal(catchUpStart(stored(), 5, cursor({ time: 0 }), NOW), -1);
  });

  test("no cursor and no backtrack means nothing old", () => {
    assert.equal(catchUpStart(five(), 0, NONE, NOW), -1);
  });

  test("a tag without a time means nothing old", () => {
    assert.equal(catchUpStart(five(), 0, cursor({ tag: 1 }), NOW), -1);
  });

  describe("backtrack", () => {
    test(".b2 starts at the second-to-last message", () => {
      assert.equal(catchUpStart(five(), 2, NONE, NOW), 3);
    });

    test("a backtrack larger than the store starts at the oldest", () => {
      assert.equal(catchUpStart(five(), 100, NONE, NOW), 0);
    });

    test("backtrack wins over the time/tag and event id cursors", () => {
      assert.equal(catchUpStart(five(), 1, cursor({ time: T + 100, tag: 1, lastEventId: "a" }), NOW), 4);
    });

    test("backtrack skips expired messages", () => {
      const ring = stored(
        { time: T - 1, tag: 1, expiresAt: NOW - 1 },
        { time: T - 1, tag: 2, expiresAt: NOW },
        { time: T, tag: 1 },
      );
      assert.equal(catchUpStart(ring, 3, NONE, NOW), 2);
    });

    test("backtrack over only expired messages is nothing", () => {
      const ring = stored({ time: T, tag: 1, expiresAt: NOW - 1000 });
      assert.equal(catchUpStart(ring, 1, NONE, NOW), -1);
    });
  });

  describe("time and tag", () => {
    test("epoch time without tag returns everything stored", () => {
      assert.equal(catchUpStart(five(), 0, cursor({ time: 0 }), NOW), 0);
    });

    test("a time before every message returns everything", () => {
      assert.equal(catchUpStart(five(), 0, cursor({ time: T - 2, tag: 9 }), NOW), 0);
    });

    test("messages with a strictly newer time are returned", () => {
      assert.equal(catchUpStart(five(), 0, cursor({ time: T - 1, tag: 99 }), NOW), 2);
    });

    test("a time without a tag skips messages of that same second", () => {
      assert.equal(catchUpStart(five(), 0, cursor({ time: T - 1 }), NOW), 2);
      assert.equal(catchUpStart(five(), 0, cursor({ time: T }), NOW), -1);
    });

    test("same second with a greater tag starts at that message", () => {
      // the cursor's tag 2 is not stored; the first same-second message with tag >= 2 is (T, 4)
      const ring = stored({ time: T, tag: 1 }, { time: T, tag: 4 }, { time: T, tag: 6 });
      assert.equal(catchUpStart(ring, 0, cursor({ time: T, tag: 2 }), NOW), 1);
    });

    test("an exact time and tag match starts after it", () => {
      assert.equal(catchUpStart(five(), 0, cursor({ time: T, tag: 1 }), NOW), 3);
      assert.equal(catchUpStart(five(), 0, cursor({ time: T - 1, tag: 4 }), NOW), 1);
    });

    test("an exact match on the newest message means nothing new", () => {
      assert.equal(catchUpStart(five(), 0, cursor({ time: T, tag: 3 }), NOW), -1);
    });

    test("tag 0 in the cursor's second returns the whole second (W/0 after a timeout)", () => {
      assert.equal(catchUpStart(five(), 0, cursor({ time: T, tag: 0 }), NOW), 2);
    });

    test("a time newer than every message is nothing", () => {
      assert.equal(catchUpStart(five(), 0, cursor({ time: T + 1, tag: 0 }), NOW), -1);
    });

    test("expired messages are skipped when searching", () => {
      const ring = stored(
        { time: T - 5, tag: 1, expiresAt: NOW - 1 },
        { time: T - 4, tag: 1, expiresAt: NOW - 1 },
        { time: T - 3, tag: 1 },
      );
      assert.equal(catchUpStart(ring, 0, cursor({ time: 0 }), NOW), 2);
    });

    test("an exact match followed only by expired messages is nothing", () => {
      const ring = stored({ time: T, tag: 1 }, { time: T, tag: 2, expiresAt: NOW - 1 });
      assert.equal(catchUpStart(ring, 0, cursor({ time: T, tag: 1 }), NOW), -1);
    });

    test("a message expiring exactly now counts as expired", () => {
      const ring = stored({ time: T, tag: 1, expiresAt: NOW }, { time: T, tag: 2, expiresAt: NOW + 1 });
      assert.equal(catchUpStart(ring, 0, cursor({ time: 0 }), NOW), 1);
    });
  });

  describe("last event id", () => {
    test("starts after the message with that event id", () => {
      assert.equal(catchUpStart(five(), 0, cursor({ lastEventId: "b" }), NOW), 2);
      assert.equal(catchUpStart(five(), 0, cursor({ lastEventId: "a" }), NOW), 1);
    });

    test("the newest message's event id means nothing new", () => {
      assert.equal(catchUpStart(five(), 0, cursor({ lastEventId: "e" }), NOW), -1);
    });

    test("an unknown event id returns nothing", () => {
      assert.equal(catchUpStart(five(), 0, cursor({ lastEventId: "zzz" }), NOW), -1);
    });

    test("an empty event id is a value that matches messages published without one", () => {
      const ring = stored({ time: T, tag: 1, eventId: "x" }, { time: T, tag: 2 }, { time: T, tag: 3, eventId: "y" });
      assert.equal(catchUpStart(ring, 0, cursor({ lastEventId: "" }), NOW), 2);
    });

    test("the first match wins when event ids repeat", () => {
      const ring = stored({ time: T, tag: 1, eventId: "dup" }, { time: T, tag: 2 }, { time: T, tag: 3, eventId: "dup" });
      assert.equal(catchUpStart(ring, 0, cursor({ lastEventId: "dup" }), NOW), 1);
    });

    test("an expired message with the event id does not match", () => {
      const ring = stored({ time: T, tag: 1, eventId: "k", expiresAt: NOW - 1 }, { time: T, tag: 2 });
      assert.equal(catchUpStart(ring, 0, cursor({ lastEventId: "k" }), NOW), -1);
    });

    test("with both event id and time, the first message satisfying either decides", () => {
      // time matches at index 2 (T > T-1); event id "d" would start at 4: the earlier one wins
      assert.equal(catchUpStart(five(), 0, cursor({ time: T - 1, lastEventId: "d" }), NOW), 2);
      // event id "a" matches at index 0 before any time match → start after it
      assert.equal(catchUpStart(five(), 0, cursor({ time: T - 1, lastEventId: "a" }), NOW), 1);
    });
  });
});

describe("collectCatchUp", () => {
  /** Channels whose messages are published in the order given: [channel, time, tag, expiresAt?]. */
  function channels(ids: string[], publishes: [string, number, number, number?][]): Ring<Message>[] {
    const byId = new Map(ids.map((id) => [id, new Ring<Message>(0)]));
    publishes.forEach(([id, time, tag, expiresAt], seq) => {
      const ring = byId.get(id)!;
      const n = ring.length + 1;
      ring.push(new Message(n, id, time, tag, seq + 1, Buffer.from(`${id}${n}`), "", "", expiresAt ?? Infinity));
    });
    return ids.map((id) => byId.get(id)!);
  }

  const names = (messages: Message[]): string[] => messages.map((m) => m.text.toString());

  test("merges several channels in publish order, not per channel", () => {
    const chs = channels(["a", "b", "c"], [["a", T, 1], ["b", T, 2], ["a", T, 3], ["c", T, 4], ["b", T + 1, 1]]);
    assert.deepEqual(names(collectCatchUp(chs, [], cursor({ time: 0 }), NOW)), ["a1", "b1", "a2", "c1", "b2"]);
  });

  test("applies each channel's own backtrack", () => {
    const chs = channels(["a", "b"], [["a", T, 1], ["a", T, 2], ["b", T, 3], ["a", T, 4], ["b", T, 5]]);
    assert.deepEqual(names(collectCatchUp(chs, [1, 2], NONE, NOW)), ["b1", "a3", "b2"]);
  });

  test("a channel without backtrack uses the cursor while another uses its backtrack", () => {
    const chs = channels(["a", "b"], [["a", T - 1, 1], ["b", T - 1, 2], ["a", T, 1], ["b", T, 2]]);
    // a: cursor (T-1, 1) exact match → from a2; b: .b2 → both of b's
    assert.deepEqual(names(collectCatchUp(chs, [0, 2], cursor({ time: T - 1, tag: 1 }), NOW)), ["b1", "a2", "b2"]);
  });

  test("nothing to catch up gives an empty list", () => {
    const chs = channels(["a", "b"], [["a", T, 1], ["b", T, 2]]);
    assert.deepEqual(collectCatchUp(chs, [], NONE, NOW), []);
    assert.deepEqual(collectCatchUp(chs, [], cursor({ time: T, tag: 2 }), NOW), []);
  });

  test("expired messages are left out", () => {
    const chs = channels(["a", "b"], [["a", T, 1], ["b", T, 2, NOW - 1], ["a", T, 3, NOW], ["b", T, 4]]);
    assert.deepEqual(names(collectCatchUp(chs, [], cursor({ time: 0 }), NOW)), ["a1", "b2"]);
  });
});
