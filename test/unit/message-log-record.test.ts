import assert from "node:assert/strict";
import { test } from "node:test";
import { crc32, crc32Portable } from "../../src/core/crc32.js";
import { Message } from "../../src/core/message.js";
import { RecordBuffer, RecordReader, RecordType } from "../../src/persist/record.js";

function sample(): Message[] {
  const mid = Buffer.from("17000000000000000000000042", "hex");
  return [
    new Message(1, "a", 1_700_000_000, 1, 1, Buffer.from('{"x":1}'), "e-1", "greeting", 1_700_000_600_000),
    new Message(2, "канал/ü", 1_700_000_000, 2, 2, Buffer.alloc(0), "", "", Infinity),
    new Message(7, "b", 1_700_000_001, 1, 3, Buffer.from("body"), "", "text", 1_700_000_060_000,
      { mid, sender: { type: 2, id: new Uint8Array([1, 2, 3]) }, created: 1_700_000_001, expiry: 60 }),
    new Message(8, "b", 1_700_000_001, 2, 4, Buffer.from("no sender"), "", "", 1_700_000_060_000,
      { mid, sender: undefined, created: 1_700_000_001, expiry: 60 }),
  ];
}

test("crc32: the IEEE value, native and portable alike", () => {
  const bytes = Buffer.from("123456789");
  assert.equal(crc32Portable(bytes), 0xcbf43926);
  assert.equal(crc32(bytes), 0xcbf43926);
  assert.equal(crc32(bytes, 1, 4), crc32Portable(Buffer.from("234")));
});

test("record: every type reads back field for field", () => {
  const records = new RecordBuffer(16); // grows as needed
  const messages = sample();
  for (const message of messages) records.message(message);
  records.sequenced(new Message(9, "c", 1_700_000_002, 5, 5, Buffer.from("ignored"), "", "", 0,
    { mid: messages[2]!.push2!.mid, sender: undefined, created: 0, expiry: 0 }));
  records.drop("a");
  records.epoch("lq3x");
  records.channel("b", 8);
  records.clock(1_700_000_002, 5, 5, messages[2]!.push2!.mid);
  const reader = new RecordReader();
  reader.reset(records.bytes, records.length);
  for (const expected of messages) {
    assert.equal(reader.next(), "record");
    assert.equal(reader.type, RecordType.message);
    const got = reader.message!;
    for (const key of ["id", "channel", "time", "tag", "seq", "eventId", "eventType", "expiresAt"] as const) assert.equal(got[key], expected[key], key);
    assert.deepEqual(got.text, expected.text);
    assert.equal(got.text.buffer === records.bytes.buffer, false, "a body owns its bytes");
    assert.deepEqual(got.push2?.mid, expected.push2?.mid);
    assert.equal(got.push2?.created, expected.push2?.created);
    assert.equal(got.push2?.expiry, expected.push2?.expiry);
    assert.equal(got.push2?.sender?.type, expected.push2?.sender?.type);
    assert.deepEqual(got.push2?.sender && [...got.push2.sender.id], expected.push2?.sender && [...expected.push2.sender.id]);
  }
  assert.equal(reader.next(), "record");
  assert.equal(reader.type, RecordType.sequenced);
  assert.equal(reader.message!.id, 9);
  assert.equal(reader.message!.tag, 5);
  assert.equal(reader.message!.text.length, 0, "a passed message's body is not logged");
  assert.deepEqual(reader.message!.push2!.mid, messages[2]!.push2!.mid);
  assert.equal(reader.next(), "record");
  assert.deepEqual([reader.type, reader.text], [RecordType.drop, "a"]);
  assert.equal(reader.next(), "record");
  assert.deepEqual([reader.type, reader.text], [RecordType.epoch, "lq3x"]);
  assert.equal(reader.next(), "record");
  assert.deepEqual([reader.type, reader.text, reader.number], [RecordType.channel, "b", 8]);
  assert.equal(reader.next(), "record");
  assert.deepEqual([reader.type, reader.time, reader.tag, reader.seq], [RecordType.clock, 1_700_000_002, 5, 5]);
  assert.deepEqual(reader.mid, messages[2]!.push2!.mid);
  assert.equal(reader.next(), "end");
});

test("record: a cut at any byte is torn, never a wrong record", () => {
  const records = new RecordBuffer();
  for (const message of sample()) records.message(message);
  const whole = Buffer.from(records.bytes.subarray(0, records.length));
  const boundaries = [0];
  const reader = new RecordReader();
  reader.reset(whole);
  while (reader.next() === "record") boundaries.push(reader.offset);
  for (let cut = 0; cut <= whole.length; cut++) {
    reader.reset(whole, cut);
    let read = 0;
    let result;
    while ((result = reader.next()) === "record") read++;
    const wholeRecords = boundaries.filter((b) => b > 0 && b <= cut).length;
    assert.equal(read, wholeRecords, `cut at ${cut}`);
    assert.equal(result, boundaries.includes(cut) ? "end" : "torn", `cut at ${cut}`);
    assert.equal(reader.offset, boundaries[wholeRecords], `stops at the last whole record (cut at ${cut})`);
  }
});

test("record: a changed byte anywhere is caught by the checksum or the framing", () => {
  const records = new RecordBuffer();
  for (const message of sample()) records.message(message);
  const whole = Buffer.from(records.bytes.subarray(0, records.length));
  const reader = new RecordReader();
  for (let at = 0; at < whole.length; at++) {
    const damaged = Buffer.from(whole);
    damaged[at]! ^= 0x5a;
    reader.reset(damaged);
    const results: string[] = [];
    let result;
    while ((result = reader.next()) === "record") results.push(result);
    assert.ok(results.length < 4, `byte ${at}: damage noticed`);
    assert.ok(result === "corrupt" || result === "torn", `byte ${at}: ${result}`);
  }
});
