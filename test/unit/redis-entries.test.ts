import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeEntries, EntryFormatError } from "../../src/redis/entries.js";

/** Fields as the Lua scripts write them: `<byte length>:<bytes>`. */
function fields(...values: Array<string | Buffer>): Buffer {
  return Buffer.concat(values.map((v) => {
    const bytes = typeof v === "string" ? Buffer.from(v) : v;
    return Buffer.concat([Buffer.from(`${bytes.length}:`), bytes]);
  }));
}

function messageEntry(channel: string, id: number, body: Buffer | string, extra: { mid?: string; stored?: string; sender?: [string, Buffer] } = {}): Buffer {
  const [senderType, senderId] = extra.sender ?? ["", Buffer.alloc(0)];
  return Buffer.concat([Buffer.from("m"), fields(channel, String(id), "1733450000", "3", String(100 + id), "1733453600000", extra.stored ?? "1", "ev-1", "", extra.mid ?? "", senderType, senderId, "1733450000", "86400", body)]);
}

test("entries back to back: messages with any bytes in the body (colons, digits, NUL, invalid UTF-8) and a deletion", () => {
  const body = Buffer.from([0x31, 0x3a, 0x00, 0xff, 0x0d, 0x0a, 0x3a]);
  const wire = Buffer.concat([
    messageEntry("ünïcode/ch", 7, body),
    messageEntry("push2", 8, "{}", { mid: "17334500000000000000000042", stored: "0", sender: ["1", Buffer.from([9, 0, 9])] }),
    Buffer.from("d"), fields("gone", "110", "Bye"),
  ]);
  const [first, second, third] = decodeEntries(wire);
  assert.ok(first?.kind === "m" && second?.kind === "m" && third?.kind === "d");
  const m = first.message;
  assert.deepEqual([m.channel, m.id, m.time, m.tag, m.seq, m.expiresAt, m.eventId, m.eventType, first.stored], ["ünïcode/ch", 7, 1733450000, 3, 107, 1733453600000, "ev-1", "", true]);
  assert.deepEqual(m.text, body);
  assert.equal(m.push2, undefined, "no mid: a push-stream message");
  assert.ok(m.text.byteOffset === 0 && m.text.buffer.byteLength === m.text.length, "a stored body has its own allocation, not a view of the whole payload");
  const push2 = second.message.push2!;
  assert.equal(second.stored, false);
  assert.equal(push2.mid.toString("hex"), "17334500000000000000000042");
  assert.deepEqual(push2.sender, { type: 1, id: Buffer.from([9, 0, 9]) });
  assert.deepEqual([push2.created, push2.expiry], [1733450000, 86400]);
  assert.deepEqual(third, { kind: "d", channel: "gone", seq: 110, text: "Bye" });
});

test("bytes that are not entries throw EntryFormatError (the node logs and skips them)", () => {
  assert.throws(() => decodeEntries(Buffer.from("hello")), EntryFormatError);
  assert.throws(() => decodeEntries(Buffer.from("m5:ab")), /longer than the entry/);
  assert.throws(() => decodeEntries(Buffer.from("mabc")), /without its length/);
  assert.throws(() => decodeEntries(Buffer.concat([Buffer.from("d"), fields("x", "not-a-number", "")])), /not a number/);
  assert.deepEqual(decodeEntries(Buffer.alloc(0)), []);
});
