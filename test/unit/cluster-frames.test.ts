import assert from "node:assert/strict";
import { test } from "node:test";
import { FrameStream } from "../../src/cluster/frame-stream.js";
import { FrameBuffer, FrameType, type FrameReader } from "../../src/cluster/frames.js";
import { Message } from "../../src/core/message.js";
import { Refusal } from "../../src/core/refusal.js";
import { RecordType } from "../../src/persist/record.js";

/** What a frame read as, copied out of the reader (which is reused for the next frame). */
function snapshot(frame: FrameReader): Record<string, unknown> {
  switch (frame.type) {
    case FrameType.publish:
      return { type: "publish", request: frame.request, channels: [...frame.channels], body: frame.body.toString("latin1"), options: frame.options };
    case FrameType.remove:
      return { type: "remove", request: frame.request, channel: frame.text, text: frame.deletedText };
    case FrameType.deleted:
      return { type: "deleted", channel: frame.text, text: frame.deletedText };
    case FrameType.ack:
      return { type: "ack", request: frame.request, failure: frame.failure && { status: frame.failure.status, explain: frame.failure.explain } };
    case FrameType.subscribers:
      return { type: "subscribers", channel: frame.text, count: frame.number };
    case FrameType.hello:
      return { type: "hello", worker: frame.number };
    case FrameType.ready:
      return { type: "ready" };
    case RecordType.message: {
      const message = frame.message();
      return { type: "message", stored: frame.stored, id: message.id, channel: message.channel, time: message.time, tag: message.tag, text: message.text.toString(), mid: message.push2?.mid.toString("hex") };
    }
    case RecordType.channel:
      return { type: "channel", channel: frame.text, last: frame.number };
    case RecordType.drop:
      return { type: "drop", channel: frame.text };
  }
  return { type: frame.type };
}

function encodeAll(): { bytes: Buffer; expected: Record<string, unknown>[] } {
  const out = new FrameBuffer(16); // grows as needed
  const body = Buffer.from([0, 0xff, 0x80, 0x0a, 0x41]); // any bytes, not only UTF-8
  const push2 = { expiry: 60, sender: { type: 2, id: new Uint8Array([7, 8, 9]) } };
  const mid = Buffer.from("17000000000000000000000042", "hex");
  out.hello(3);
  out.publish(1, ["a", "канал/ü"], body, { eventId: "e-1", eventType: "greeting", store: true, ttl: 30 });
  out.publish(2, ["b"], Buffer.from("push2"), { eventId: "", eventType: "", store: false, push2 });
  out.remove(3, "a", undefined);
  out.remove(4, "b", "Gone for good");
  out.subscribers("a", 12);
  out.channel("a", 41);
  out.message(new Message(42, "a", 1_700_000_000, 3, 9, Buffer.from("kept"), "", "", Infinity));
  out.message(new Message(43, "a", 1_700_000_000, 4, 10, Buffer.from("passed"), "", "", Infinity, { mid, sender: undefined, created: 1, expiry: 0 }), false);
  out.deleted("a", undefined);
  out.deleted("b", "bye");
  out.drop("c");
  out.ack(1, undefined);
  out.ack(2, new Refusal(403, "Number of channels were exceeded."));
  out.ready();
  const expected = [
    { type: "hello", worker: 3 },
    { type: "publish", request: 1, channels: ["a", "канал/ü"], body: body.toString("latin1"), options: { eventId: "e-1", eventType: "greeting", store: true, ttl: 30, push2: undefined } },
    { type: "publish", request: 2, channels: ["b"], body: "push2", options: { eventId: "", eventType: "", store: false, ttl: undefined, push2 } },
    { type: "remove", request: 3, channel: "a", text: undefined },
    { type: "remove", request: 4, channel: "b", text: "Gone for good" },
    { type: "subscribers", channel: "a", count: 12 },
    { type: "channel", channel: "a", last: 41 },
    { type: "message", stored: true, id: 42, channel: "a", time: 1_700_000_000, tag: 3, text: "kept", mid: undefined },
    { type: "message", stored: false, id: 43, channel: "a", time: 1_700_000_000, tag: 4, text: "passed", mid: mid.toString("hex") },
    { type: "deleted", channel: "a", text: undefined },
    { type: "deleted", channel: "b", text: "bye" },
    { type: "drop", channel: "c" },
    { type: "ack", request: 1, failure: undefined },
    { type: "ack", request: 2, failure: { status: 403, explain: "Number of channels were exceeded." } },
    { type: "ready" },
  ];
  return { bytes: out.take(), expected };
}

test("cluster frames: every frame and streamed record reads back field for field", () => {
  const { bytes, expected } = encodeAll();
  const seen: Record<string, unknown>[] = [];
  new FrameStream((frame) => seen.push(snapshot(frame)), () => assert.fail("corrupt")).push(bytes);
  assert.deepEqual(seen, expected);
});

test("cluster frames: a stream cut at every byte, or fed a byte at a time, reads the same frames", () => {
  const { bytes, expected } = encodeAll();
  for (let cut = 1; cut < bytes.length; cut++) {
    const seen: Record<string, unknown>[] = [];
    const stream = new FrameStream((frame) => seen.push(snapshot(frame)), () => assert.fail(`corrupt at cut ${cut}`));
    stream.push(bytes.subarray(0, cut));
    stream.push(bytes.subarray(cut));
    assert.deepEqual(seen, expected, `cut at ${cut}`);
  }
  const seen: Record<string, unknown>[] = [];
  const stream = new FrameStream((frame) => seen.push(snapshot(frame)), () => assert.fail("corrupt"));
  for (let i = 0; i < bytes.length; i++) stream.push(bytes.subarray(i, i + 1));
  assert.deepEqual(seen, expected);
});

test("cluster frames: a large body in many chunks arrives whole; a damaged frame is reported, not read", () => {
  const out = new FrameBuffer(16);
  const body = Buffer.alloc(1_000_000, 0x61);
  out.publish(9, ["big"], body, { eventId: "", eventType: "", store: true });
  const bytes = out.take();
  const bodies: Buffer[] = [];
  const stream = new FrameStream((frame) => bodies.push(frame.body), () => assert.fail("corrupt"));
  for (let at = 0; at < bytes.length; at += 65536) stream.push(bytes.subarray(at, at + 65536));
  assert.equal(bodies.length, 1);
  assert.ok(bodies[0]!.equals(body));

  const damaged = Buffer.from(bytes);
  damaged[damaged.length - 1] ^= 1;
  let corrupt = 0;
  new FrameStream(() => assert.fail("a damaged frame was read"), () => corrupt++).push(damaged);
  assert.equal(corrupt, 1);
});
