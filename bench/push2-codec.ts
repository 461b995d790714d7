/**
 * The bitrix-push2 protobuf codec against protobufjs (the dev-dependency reference), on what the
 * site sends most: a RequestBatch of 100 messages × 100 receivers (ProtobufTransport's limits,
 * ~0.2 MiB). Prints one JSON line: ms per decode and per encode of the batch, for each codec, and
 * the cost of the frame a subscriber gets (one ResponseBatch of one stored OutgoingMessage).
 *
 *   npx tsc -p tsconfig.json && node build/bench/push2-codec.js [ROUNDS=200]
 *
 * Bounded: ROUNDS ≤ 5000, in this process, no sockets.
 */
import { randomBytes } from "node:crypto";
import protobuf from "protobufjs";
import { decodeRequestBatch, encodeOutgoingBatch, encodeOutgoingMessage, encodeRequestBatch, type IncomingMessage } from "../src/bitrix-push2/protobuf.js";

const rounds = Math.min(Number(process.argv[2] ?? 200), 5000);
const SCHEMA = `syntax = "proto3";
message RequestBatch { repeated Request requests = 1; }
message Request { oneof command { IncomingMessagesRequest incomingMessages = 1; } }
message IncomingMessagesRequest { repeated IncomingMessage messages = 1; }
message IncomingMessage { repeated Receiver receivers = 1; Sender sender = 2; string body = 3; uint32 expiry = 4; string type = 5; }
message Sender { uint32 type = 1; bytes id = 2; }
message Receiver { bytes id = 1; bool isPrivate = 2; bytes signature = 3; }`;
const RequestBatch = protobuf.parse(SCHEMA).root.lookupType("RequestBatch");

const messages: IncomingMessage[] = Array.from({ length: 100 }, (_, i) => ({
  receivers: Array.from({ length: 100 }, () => ({ id: randomBytes(16), isPrivate: true, signature: new Uint8Array(0) })),
  sender: undefined,
  body: JSON.stringify({ module_id: "im", command: "message", params: { i, text: "x".repeat(200) }, extra: { revision_web: 19 } }),
  expiry: 86400,
  type: "im_message",
}));
const batch = encodeRequestBatch([{ incomingMessages: messages }]);

function time(work: () => unknown): number {
  for (let i = 0; i < Math.min(20, rounds); i++) work(); // warm-up
  const started = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) work();
  return Number(process.hrtime.bigint() - started) / 1e6 / rounds;
}

const decoded = RequestBatch.decode(batch);
const outgoing = encodeOutgoingMessage({ id: randomBytes(13), body: messages[0]!.body, expiry: 86400, created: 1, sender: { type: 2, id: new Uint8Array(0) } });
console.log(JSON.stringify({
  batchBytes: batch.length,
  rounds,
  pushwireDecodeMs: +time(() => decodeRequestBatch(batch)).toFixed(3),
  protobufjsDecodeMs: +time(() => RequestBatch.decode(batch)).toFixed(3),
  pushwireEncodeMs: +time(() => encodeRequestBatch([{ incomingMessages: messages }])).toFixed(3),
  protobufjsEncodeMs: +time(() => RequestBatch.encode(decoded).finish()).toFixed(3),
  subscriberFrameUs: +(time(() => encodeOutgoingBatch([outgoing])) * 1000).toFixed(2),
}));
