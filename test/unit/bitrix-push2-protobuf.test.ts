import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import protobuf from "protobufjs";
import {
  decodeOutgoingMessage, decodeRequestBatch, decodeResponseBatch, encodeChannelStatsResponse, encodeOutgoingBatch,
  encodeOutgoingMessage, encodeRequestBatch, encodeResponseBatch, encodeServerStatsResponse, ProtobufError, type Request,
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
