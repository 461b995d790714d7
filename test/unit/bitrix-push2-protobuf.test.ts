import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import protobuf from "protobufjs";
import {
  decodeOutgoingMessage, decodeRequestBatch, decodeResponseBatch, encodeChannelStatsResponse, encodeOutgoingBatch,
  encodeOutgoingMessage, encodeRequestBatch, encodeResponseBatch, encodeServerStatsResponse, ProtobufError, SENDER_BACKEND, SENDER_CLIENT,
  SENDER_UNKNOWN, Writer, type Request,
} from "../../src/bitrix-push2/protobuf.js";

/**
 * The hand-written codec against protobufjs, a reference implementation, loaded with the schema
 * of BITRIX.md §1.6 (written out here from the field table; no Bitrix file is used).
 */
const SCHEMA = `
syntax = "proto3";
message RequestBatch { repeated Request requests = 1; }
message Request { oneof command { IncomingMessagesRequest incomingMessages = 1; ChannelStatsRequest channelStats = 2; ServerStatsRequest serverStats = 3; } }
message IncomingMessagesRequest { repeated IncomingMessage messages = 1; }
message IncomingMessage { repeated Receiver receivers = 1; Sender sender = 2; string body = 3; uint32 expiry = 4; string type = 5; }
message ChannelStatsRequest { repeated ChannelId channels = 1; }
message ChannelId { bytes id = 1; bool isPrivate = 2; bytes signature = 3; }
message ServerStatsRequest {}
message Sender { SenderType type = 1; bytes id = 2; }
enum SenderType { UNKNOWN = 0; CLIENT = 1; BACKEND = 2; }
message Receiver { bytes id = 1; bool isPrivate = 2; bytes signature = 3; }
message ResponseBatch { repeated Response responses = 1; }
message Response { oneof command { OutgoingMessagesResponse outgoingMessages = 1; ChannelStatsResponse channelStats = 2; JsonResponse serverStats = 3; string json = 4; } }
message OutgoingMessagesResponse { repeated OutgoingMessage messages = 1; }
message OutgoingMessage { bytes id = 1; string body = 2; uint32 expiry = 3; fixed32 created = 4; Sender sender = 5; }
message ChannelStatsResponse { repeated ChannelStats channels = 1; }
message ChannelStats { bytes id = 1; bool isPrivate = 2; bool isOnline = 3; }
message JsonResponse { string json = 1; }
`;
const root = protobuf.parse(SCHEMA).root;
const RequestBatch = root.lookupType("RequestBatch");
const ResponseBatch = root.lookupType("ResponseBatch");
const OutgoingMessage = root.lookupType("OutgoingMessage");

const bytes = (n: number): Buffer => randomBytes(n);
const plain = (m: protobuf.Message, type: protobuf.Type): Record<string, unknown> =>
  type.toObject(m, { bytes: String, defaults: false, oneofs: false }) as Record<string, unknown>;

test("decoded bytes fields are copies: a stored sender id does not keep the request body (a Buffer) alive", () => {
  const id = bytes(16);
  const body = Buffer.from(encodeRequestBatch([{ incomingMessages: [{ receivers: [], sender: { type: SENDER_CLIENT, id }, body: "x", expiry: 60, type: "" }] }]));
  const sender = decodeRequestBatch(body)[0]!.incomingMessages![0]!.sender!;
  assert.deepEqual(Buffer.from(sender.id), id);
  assert.equal(sender.id.buffer.byteLength, 16, "its own 16 bytes, not a view of the request");
});

test("a RequestBatch encoded by protobufjs (as Bitrix's ProtobufTransport sends it) decodes to the same fields", () => {
  const receivers = Array.from({ length: 100 }, () => ({ id: bytes(16), isPrivate: true }));
  const reference = RequestBatch.encode(RequestBatch.fromObject({
    requests: [
      { incomingMessages: { messages: [
        { receivers, body: '{"module_id":"im","command":"message","params":{"t":"Привет"}}', expiry: 86400, type: "im_message" },
        { receivers: [{ id: bytes(16), isPrivate: false, signature: bytes(20) }], sender: { type: 1, id: bytes(16) }, body: "x", expiry: 0 },
      ] } },
      { channelStats: { channels: [{ id: bytes(16), isPrivate: true }, { id: bytes(16) }] } },
      { serverStats: {} },
    ],
  })).finish();
  const decoded = decodeRequestBatch(reference);
  assert.equal(decoded.length, 3);
  const [first, second] = decoded[0]!.incomingMessages!;
  assert.equal(first!.receivers.length, 100);
  assert.deepEqual(Buffer.from(first!.receivers[99]!.id), receivers[99]!.id);
  assert.equal(first!.receivers[0]!.isPrivate, true);
  assert.equal(first!.body, '{"module_id":"im","command":"message","params":{"t":"Привет"}}');
  assert.equal(first!.expiry, 86400);
  assert.equal(first!.type, "im_message");
  assert.equal(first!.sender, undefined);
  assert.equal(second!.sender!.type, 1);
  assert.equal(second!.receivers[0]!.isPrivate, false);
  assert.equal(second!.receivers[0]!.signature.length, 20);
  assert.equal(decoded[1]!.channelStats!.length, 2);
  assert.equal(decoded[1]!.channelStats![1]!.isPrivate, false);
  assert.equal(decoded[2]!.serverStats, true);

  // And back: our encoding of the decoded batch is what protobufjs reads as the original.
  const ours = encodeRequestBatch(decoded);
  assert.deepEqual(plain(RequestBatch.decode(ours), RequestBatch), plain(RequestBatch.decode(reference), RequestBatch));
});

test("OutgoingMessage and ResponseBatch encoded by pushwire decode in protobufjs to the same fields, and the other way", () => {
  const id = Buffer.from("17640000000000000000000042", "hex");
  const sender = { type: 2, id: new Uint8Array(0) };
  const message = { id, body: '{"a":"ü"}', expiry: 86400, created: 0xfedcba98, sender };
  const encoded = encodeOutgoingMessage(message);
  const viaReference = OutgoingMessage.decode(encoded) as unknown as { id: Uint8Array; body: string; expiry: number; created: number; sender: { type: number } };
  assert.deepEqual(Buffer.from(viaReference.id), id);
  assert.equal(viaReference.body, message.body);
  assert.equal(viaReference.expiry, 86400);
  assert.equal(viaReference.created, 0xfedcba98);
  assert.equal(viaReference.sender.type, 2);
  // The sender is present even when empty: the SDK reads message.sender.type unchecked.
  const bare = OutgoingMessage.decode(encodeOutgoingMessage({ id, body: "", expiry: 0, created: 0, sender: undefined })) as unknown as { sender: unknown };
  assert.ok(bare.sender, "sender is on the wire");
  const back = decodeOutgoingMessage(OutgoingMessage.encode(OutgoingMessage.fromObject(message)).finish());
  assert.deepEqual({ ...back, id: Buffer.from(back.id), sender: { type: back.sender!.type, id: back.sender!.id.length } }, { ...message, sender: { type: 2, id: 0 } });
  const responses = encodeResponseBatch([
    encodeChannelStatsResponse([{ id: bytes(16), isPrivate: true, isOnline: true }, { id: bytes(16), isPrivate: false, isOnline: false }]),
    encodeServerStatsResponse('[{"pid":1}]'),
  ]);
  const reference = plain(ResponseBatch.decode(responses), ResponseBatch) as { responses: Array<Record<string, { channels?: unknown[]; json?: string }>> };
  assert.equal(reference.responses[0]!["channelStats"]!.channels!.length, 2);
  assert.equal(reference.responses[1]!["serverStats"]!.json, '[{"pid":1}]');
  assert.deepEqual(decodeResponseBatch(responses)[1], { serverStats: '[{"pid":1}]' });

  const outgoing = ResponseBatch.decode(encodeOutgoingBatch([encoded, encoded])) as unknown as { responses: Array<{ outgoingMessages: { messages: Array<{ body: string }> } }> };
  assert.deepEqual(outgoing.responses[0]!.outgoingMessages.messages.map((m) => m.body), [message.body, message.body]);
});

test("unknown fields of every wire type are skipped", () => {
  // A Request with field 9 varint, field 10 fixed64, field 11 bytes and field 12 fixed32 around a serverStats.
  const unknown = Buffer.from([0x48, 0x96, 0x01, 0x51, 1, 2, 3, 4, 5, 6, 7, 8, 0x5a, 0x02, 0xaa, 0xbb, 0x65, 1, 2, 3, 4]);
  const request = Buffer.concat([unknown, Buffer.from([0x1a, 0x00])]);
  const batch = Buffer.concat([Buffer.from([0x0a, request.length]), request, Buffer.from([0x78, 0x01])]); // and field 15 in the batch
  assert.deepEqual(decodeRequestBatch(batch), [{ serverStats: true }]);
  // protobufjs agrees it is a valid message.
  assert.equal((RequestBatch.decode(batch) as unknown as { requests: unknown[] }).requests.length, 1);
});

test("malformed input is refused with ProtobufError, never a crash or an out-of-range read", () => {
  const good = encodeRequestBatch([{ incomingMessages: [{ receivers: [{ id: bytes(16), isPrivate: true, signature: new Uint8Array(0) }], sender: undefined, body: "hello", expiry: 5, type: "t" }] } as Request]);
  for (let cut = 1; cut < good.length; cut++) {
    assert.throws(() => decodeRequestBatch(good.subarray(0, cut)), ProtobufError, `cut at ${cut}`);
  }
  const cases: Array<[string, number[]]> = [
    ["length past the end", [0x0a, 0x05, 0x00]],
    ["varint of 11 bytes", [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]],
    ["group wire type", [0x0b]],
    ["field number 0", [0x02, 0x00]],
    ["huge length", [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]],
  ];
  for (const [what, input] of cases) assert.throws(() => decodeRequestBatch(Buffer.from(input)), ProtobufError, what);
  // Random garbage: either a value or ProtobufError, nothing else.
  for (let i = 0; i < 2000; i++) {
    try {
      decodeRequestBatch(bytes(1 + (i % 64)));
    } catch (error) {
      assert.ok(error instanceof ProtobufError, String(error));
    }
  }
});

test("a batch of 100 messages × 100 receivers, under 1 MiB, round-trips through protobufjs both ways", () => {
  const messages = Array.from({ length: 100 }, (_, i) => ({
    receivers: Array.from({ length: 100 }, () => ({ id: bytes(16), isPrivate: true, signature: new Uint8Array(0) })),
    sender: undefined,
    body: JSON.stringify({ module_id: "im", command: "message", params: { i } }),
    expiry: 86400,
    type: "im_message",
  }));
  const ours = encodeRequestBatch([{ incomingMessages: messages }]);
  assert.ok(ours.length < 1024 * 1024);
  const reference = RequestBatch.encode(RequestBatch.decode(ours)).finish();
  assert.deepEqual(Buffer.from(reference), ours, "protobufjs re-encodes our bytes identically");
  assert.equal(decodeRequestBatch(reference)[0]!.incomingMessages!.length, 100);
});

/** Every value at a 7-bit boundary of a varint, and either side of it, up to 2^53 − 1. */
const BOUNDARIES: number[] = [0, 1];
for (let bits = 7; bits <= 49; bits += 7) BOUNDARIES.push(2 ** bits - 1, 2 ** bits, 2 ** bits + 1);
BOUNDARIES.push(2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1);

test("the writer's bytes equal protobufjs's for every field type, at every 7-bit boundary", () => {
  const reference = (): protobuf.Writer => protobuf.Writer.create();
  const tag = (field: number, wire: number): number => ((field << 3) | wire) >>> 0;
  for (const value of BOUNDARIES) {
    assert.deepEqual(new Writer().varint(value).finish(), Buffer.from(reference().uint64(value).finish()), `varint ${value}`);
    if (value <= 0xffffffff) {
      const ours = new Writer().uint32Field(3, value).finish();
      const theirs = value === 0 ? Buffer.alloc(0) : Buffer.from(reference().uint32(tag(3, 0)).uint32(value).finish());
      assert.deepEqual(ours, theirs, `uint32 ${value}`);
      const fixed = new Writer().fixed32Field(4, value).finish();
      assert.deepEqual(fixed, value === 0 ? Buffer.alloc(0) : Buffer.from(reference().uint32(tag(4, 5)).fixed32(value).finish()), `fixed32 ${value}`);
    }
  }
  // Field numbers whose key passes a 7-bit boundary (16 is the first two-byte key).
  for (const field of [1, 15, 16, 2047, 2048, 262143, 262144]) {
    assert.deepEqual(new Writer().boolField(field, true).finish(), Buffer.from(reference().uint32(tag(field, 0)).bool(true).finish()), `bool field ${field}`);
    assert.deepEqual(new Writer().uint32Field(field, 300).finish(), Buffer.from(reference().uint32(tag(field, 0)).uint32(300).finish()), `uint32 field ${field}`);
  }
  assert.deepEqual(new Writer().boolField(2, false).finish(), Buffer.alloc(0), "false is the default: not written");
  // Lengths at the boundaries, for bytes and for strings (ASCII, 2-, 3- and 4-byte UTF-8).
  for (const length of [0, 1, 127, 128, 16383, 16384, 2 ** 21]) {
    const data = randomBytes(length);
    assert.deepEqual(new Writer().bytesField(1, data, true).finish(), Buffer.from(reference().uint32(tag(1, 2)).bytes(data).finish()), `bytes of ${length}`);
    for (const unit of ["a", "ü", "€", "😀"]) {
      const text = unit.repeat(Math.ceil(length / Buffer.byteLength(unit)));
      const ours = new Writer().stringField(2, text).finish();
      assert.deepEqual(ours, text === "" ? Buffer.alloc(0) : Buffer.from(reference().uint32(tag(2, 2)).string(text).finish()), `string of ${Buffer.byteLength(text)} bytes of ${unit}`);
    }
  }
  assert.deepEqual(new Writer().bytesField(1, new Uint8Array(0)).finish(), Buffer.alloc(0), "empty bytes are omitted unless always");
  // Several fields in a row, after the writer's first 64-byte buffer has grown.
  const long = "x".repeat(200);
  const ours = new Writer().uint32Field(1, 128).stringField(2, long).fixed32Field(4, 0xfedcba98).boolField(5, true).bytesField(6, Buffer.from(long)).finish();
  const theirs = reference().uint32(tag(1, 0)).uint32(128).uint32(tag(2, 2)).string(long).uint32(tag(4, 5)).fixed32(0xfedcba98).uint32(tag(5, 0)).bool(true).uint32(tag(6, 2)).bytes(Buffer.from(long)).finish();
  assert.deepEqual(ours, Buffer.from(theirs));
});

test("the reader takes what protobufjs writes at every 7-bit boundary (uint32 fields, expiry and created)", () => {
  for (const value of BOUNDARIES.filter((v) => v <= 0xffffffff)) {
    const message = { id: Buffer.from("17640000000000000000000042", "hex"), body: "b", expiry: value, created: value, sender: { type: 2, id: new Uint8Array(0) } };
    const decoded = decodeOutgoingMessage(OutgoingMessage.encode(OutgoingMessage.fromObject(message)).finish());
    assert.equal(decoded.expiry, value, `expiry ${value}`);
    assert.equal(decoded.created, value, `created ${value}`);
  }
});

const Response = root.lookupType("Response");
const tagOf = (field: number, wire: number): number => ((field << 3) | wire) >>> 0;

test("sender types are the schema's enum values", () => {
  const values = root.lookupEnum("SenderType").values;
  assert.deepEqual([SENDER_UNKNOWN, SENDER_CLIENT, SENDER_BACKEND], [values["UNKNOWN"], values["CLIENT"], values["BACKEND"]]);
});

test("every encoder writes exactly protobufjs's bytes, empty sub-messages and defaults included", () => {
  const id = bytes(16);
  const requests: Request[] = [
    { incomingMessages: [
      { receivers: [{ id, isPrivate: true, signature: bytes(20) }, { id: new Uint8Array(0), isPrivate: false, signature: new Uint8Array(0) }], sender: { type: SENDER_CLIENT, id }, body: "b", expiry: 300, type: "t" },
      { receivers: [], sender: { type: SENDER_UNKNOWN, id: new Uint8Array(0) }, body: "", expiry: 0, type: "" },
      { receivers: [], sender: undefined, body: "", expiry: 0, type: "" },
    ] },
    { channelStats: [{ id, isPrivate: false, signature: new Uint8Array(0) }, { id: new Uint8Array(0), isPrivate: false, signature: new Uint8Array(0) }] },
    { serverStats: true },
    { incomingMessages: [] },
    { channelStats: [] },
    {},
  ];
  const reference = RequestBatch.encode(RequestBatch.fromObject({
    requests: [
      { incomingMessages: { messages: [
        { receivers: [{ id, isPrivate: true, signature: requests[0]!.incomingMessages![0]!.receivers[0]!.signature }, {}], sender: { type: 1, id }, body: "b", expiry: 300, type: "t" },
        { sender: {} },
        {},
      ] } },
      { channelStats: { channels: [{ id }, {}] } },
      { serverStats: {} },
      { incomingMessages: {} },
      { channelStats: {} },
      {},
    ],
  })).finish();
  assert.deepEqual(encodeRequestBatch(requests), Buffer.from(reference), "RequestBatch");

  const statsResponse = encodeChannelStatsResponse([{ id, isPrivate: true, isOnline: false }, { id: new Uint8Array(0), isPrivate: false, isOnline: true }, { id: new Uint8Array(0), isPrivate: false, isOnline: false }]);
  assert.deepEqual(statsResponse, Buffer.from(Response.encode(Response.fromObject({ channelStats: { channels: [{ id, isPrivate: true }, { isOnline: true }, {}] } })).finish()), "channelStats");
  assert.deepEqual(encodeChannelStatsResponse([]), Buffer.from(Response.encode(Response.fromObject({ channelStats: {} })).finish()), "no channelStats");
  assert.deepEqual(encodeServerStatsResponse(""), Buffer.from(Response.encode(Response.fromObject({ serverStats: {} })).finish()), "empty serverStats");
  assert.deepEqual(encodeServerStatsResponse("[]"), Buffer.from(Response.encode(Response.fromObject({ serverStats: { json: "[]" } })).finish()), "serverStats");

  const bare = encodeOutgoingMessage({ id: new Uint8Array(0), body: "", expiry: 0, created: 0, sender: undefined });
  assert.deepEqual(bare, Buffer.from(OutgoingMessage.encode(OutgoingMessage.fromObject({ sender: {} })).finish()), "a bare message still has its sender");
  assert.deepEqual(encodeOutgoingBatch([bare, bare]), Buffer.from(ResponseBatch.encode(ResponseBatch.fromObject({ responses: [{ outgoingMessages: { messages: [{ sender: {} }, { sender: {} }] } }] })).finish()));
  assert.deepEqual(encodeOutgoingBatch([new Uint8Array(0)]), Buffer.from(ResponseBatch.encode(ResponseBatch.fromObject({ responses: [{ outgoingMessages: { messages: [{}] } }] })).finish()), "an empty message");
  const decodedBatch = decodeResponseBatch(encodeOutgoingBatch([bare]));
  assert.deepEqual(decodedBatch.map((r) => r.outgoingMessages!.map((m) => m.sender!.type)), [[0]], "outgoing messages decode from a batch");
  assert.deepEqual(encodeOutgoingBatch([]), Buffer.from(ResponseBatch.encode(ResponseBatch.fromObject({ responses: [{ outgoingMessages: {} }] })).finish()), "an empty batch");
  assert.deepEqual(encodeResponseBatch([new Uint8Array(0)]), Buffer.from(ResponseBatch.encode(ResponseBatch.fromObject({ responses: [{}] })).finish()), "an empty response");
});

test("responses decode field by field: channel stats flags, server stats json, plain json", () => {
  const id = bytes(16);
  const batch = encodeResponseBatch([
    encodeChannelStatsResponse([{ id, isPrivate: true, isOnline: false }, { id, isPrivate: false, isOnline: true }, { id: new Uint8Array(0), isPrivate: false, isOnline: false }]),
    encodeServerStatsResponse('{"a":1}'),
    Response.encode(Response.fromObject({ json: "plain" })).finish(),
  ]);
  const decoded = decodeResponseBatch(batch);
  assert.deepEqual(decoded[0]!.channelStats!.map((c) => ({ ...c, id: Buffer.from(c.id) })), [
    { id, isPrivate: true, isOnline: false },
    { id, isPrivate: false, isOnline: true },
    { id: Buffer.alloc(0), isPrivate: false, isOnline: false },
  ]);
  assert.deepEqual(decoded.slice(1), [{ serverStats: '{"a":1}' }, { json: "plain" }]);
});

test("a known field number with the wrong wire type is skipped like an unknown field, in every message", () => {
  const w = (): protobuf.Writer => protobuf.Writer.create();
  /** The field's number with a wire type it does not have: a varint where bytes belong, bytes where a number does. */
  const wrong = (field: number, wire: number): Uint8Array => (wire === 0 || wire === 5 ? w().uint32(tagOf(field, 2)).bytes(Buffer.from([1, 2])).finish() : w().uint32(tagOf(field, 0)).uint32(1).finish());
  const sub = (field: number, inner: Uint8Array): Uint8Array => w().uint32(tagOf(field, 2)).bytes(inner).finish();
  const emptySender = { type: 0, id: Buffer.alloc(0) };

  // OutgoingMessage fields 1–5 and its Sender's 1–2.
  for (const [field, wire] of [[1, 2], [2, 2], [3, 0], [4, 5], [5, 2]] as const) {
    const m = decodeOutgoingMessage(wrong(field, wire));
    assert.deepEqual({ ...m, id: Buffer.from(m.id) }, { id: Buffer.alloc(0), body: "", expiry: 0, created: 0, sender: undefined }, `OutgoingMessage field ${field}`);
  }
  for (const [field, wire] of [[1, 0], [2, 2]] as const) {
    const sender = decodeOutgoingMessage(sub(5, wrong(field, wire))).sender!;
    assert.deepEqual({ type: sender.type, id: Buffer.from(sender.id) }, emptySender, `Sender field ${field}`);
  }
  // IncomingMessage fields 1–5, a Receiver's 1–3, and the Request oneof members 1–3.
  const incoming = (message: Uint8Array): Uint8Array => sub(1, sub(1, sub(1, message)));
  for (const [field, wire] of [[1, 2], [2, 2], [3, 2], [4, 0], [5, 2]] as const) {
    assert.deepEqual(decodeRequestBatch(incoming(wrong(field, wire))), [{ incomingMessages: [{ receivers: [], sender: undefined, body: "", expiry: 0, type: "" }] }], `IncomingMessage field ${field}`);
  }
  for (const [field, wire] of [[1, 2], [2, 0], [3, 2]] as const) {
    const [request] = decodeRequestBatch(incoming(sub(1, wrong(field, wire))));
    const receiver = request!.incomingMessages![0]!.receivers[0]!;
    assert.deepEqual({ id: receiver.id.length, isPrivate: receiver.isPrivate, signature: receiver.signature.length }, { id: 0, isPrivate: false, signature: 0 }, `Receiver field ${field}`);
  }
  for (const field of [1, 2, 3]) assert.deepEqual(decodeRequestBatch(sub(1, wrong(field, 2))), [{}], `Request field ${field}`);
  assert.deepEqual(decodeRequestBatch(wrong(1, 2)), [], "RequestBatch field 1");
  assert.deepEqual(decodeRequestBatch(sub(1, sub(1, wrong(1, 2)))), [{ incomingMessages: [] }], "IncomingMessagesRequest field 1");
  // Response members 1–4, ChannelStats fields 1–3, JsonResponse field 1.
  for (const field of [1, 2, 3, 4]) assert.deepEqual(decodeResponseBatch(sub(1, wrong(field, 2))), [{}], `Response field ${field}`);
  for (const [field, wire] of [[1, 2], [2, 0], [3, 0]] as const) {
    const [stats] = decodeResponseBatch(sub(1, sub(2, sub(1, wrong(field, wire)))))[0]!.channelStats!;
    assert.deepEqual({ ...stats!, id: stats!.id.length }, { id: 0, isPrivate: false, isOnline: false }, `ChannelStats field ${field}`);
  }
  assert.deepEqual(decodeResponseBatch(sub(1, sub(3, wrong(1, 2)))), [{ serverStats: "" }], "JsonResponse field 1");
});

test("uint32 fields keep the low 32 bits of a longer varint, as protobuf does", () => {
  const message = protobuf.Writer.create().uint32(tagOf(3, 0)).uint64(2 ** 32 + 5).finish();
  assert.equal(decodeOutgoingMessage(message).expiry, 5);
  assert.equal((OutgoingMessage.decode(message) as unknown as { expiry: number }).expiry, 5, "protobufjs agrees");
});

test("fixed-size and varint fields: exactly enough bytes is read, one byte short is refused", () => {
  const created = protobuf.Writer.create().uint32(tagOf(4, 5)).fixed32(0x01020304).finish();
  assert.equal(decodeOutgoingMessage(created).created, 0x01020304);
  assert.throws(() => decodeOutgoingMessage(created.subarray(0, created.length - 1)), ProtobufError, "fixed32 one byte short");
  const unknown64 = protobuf.Writer.create().uint32(tagOf(9, 1)).fixed64(7).finish();
  assert.equal(decodeOutgoingMessage(unknown64).body, "", "an unknown fixed64 of 8 bytes is skipped");
  assert.throws(() => decodeOutgoingMessage(unknown64.subarray(0, unknown64.length - 1)), ProtobufError, "fixed64 one byte short");
  const unknown32 = protobuf.Writer.create().uint32(tagOf(9, 5)).fixed32(7).finish();
  assert.equal(decodeOutgoingMessage(unknown32).body, "", "an unknown fixed32 of 4 bytes is skipped");
  assert.throws(() => decodeOutgoingMessage(unknown32.subarray(0, unknown32.length - 1)), ProtobufError, "fixed32 one byte short (unknown field)");
  // A 10-byte varint (int32 −1 as protobuf writes it) is the longest there is: read; 11 bytes: refused.
  const tenBytes = protobuf.Writer.create().uint32(tagOf(9, 0)).int32(-1).finish();
  assert.equal(tenBytes.length, 11);
  assert.equal(decodeOutgoingMessage(tenBytes).body, "");
  assert.throws(() => decodeOutgoingMessage(Buffer.from([tagOf(9, 0), 0x80])), ProtobufError, "a varint cut after a continuation byte");
  assert.throws(() => decodeOutgoingMessage(Buffer.from([tagOf(9, 0)])), ProtobufError, "a varint missing");
});

test("the writer grows at every point: a field that ends exactly at the end of its buffer", () => {
  for (let prefix = 50; prefix <= 70; prefix++) {
    const filler = Buffer.alloc(prefix, 0x61);
    const ours = new Writer().bytesField(1, filler).fixed32Field(4, 0xfedcba98).uint32Field(3, 2 ** 31).stringField(2, "ünï").finish();
    const theirs = protobuf.Writer.create().uint32(tagOf(1, 2)).bytes(filler).uint32(tagOf(4, 5)).fixed32(0xfedcba98).uint32(tagOf(3, 0)).uint32(2 ** 31).uint32(tagOf(2, 2)).string("ünï").finish();
    assert.deepEqual(ours, Buffer.from(theirs), `after ${prefix} bytes`);
  }
});
