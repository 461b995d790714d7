import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { closeFrame, frame, frameHeader, WebSocketReader, type WebSocketSink } from "../../src/websocket/frame.js";
import { closePayload, encodeFrame, OP } from "../support/ws-client.js";

/**
 * RFC 6455 framing without sockets (src/subscribers/ws-frame.ts): the bytes of server frames,
 * and the reader of client frames with its close codes (PROTOCOL.md §8.6, §18).
 */

describe("server frames", () => {
  test("frameHeader uses the 7-bit length up to 125", () => {
    assert.deepEqual(frameHeader(OP.text, 0), Buffer.from([0x81, 0x00]));
    assert.deepEqual(frameHeader(OP.text, 125), Buffer.from([0x81, 0x7d]));
    assert.deepEqual(frameHeader(OP.ping, 0), Buffer.from([0x89, 0x00]));
  });

  test("frameHeader uses 126 + 16-bit length from 126 to 65535", () => {
    assert.deepEqual(frameHeader(OP.text, 126), Buffer.from([0x81, 0x7e, 0x00, 0x7e]));
    assert.deepEqual(frameHeader(OP.text, 65535), Buffer.from([0x81, 0x7e, 0xff, 0xff]));
  });

  test("frameHeader uses 127 + 64-bit length from 65536", () => {
    assert.deepEqual(frameHeader(OP.text, 65536), Buffer.from([0x81, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]));
    assert.deepEqual(frameHeader(OP.text, 2 ** 32 + 5), Buffer.from([0x81, 0x7f, 0, 0, 0, 1, 0, 0, 0, 5]));
  });

  test("frame is header then payload, unmasked and final", () => {
    assert.deepEqual(frame(OP.text, Buffer.from("Hello")), Buffer.from([0x81, 0x05, ...Buffer.from("Hello")]));
    assert.deepEqual(frame(OP.text, Buffer.alloc(0)), Buffer.from([0x81, 0x00]));
    for (const length of [125, 126, 65535, 65536]) {
      const payload = Buffer.alloc(length, 0x61);
      const bytes = frame(OP.text, payload);
      const header = frameHeader(OP.text, length);
      assert.equal(bytes.length, header.length + length, `frame of ${length}`);
      assert.deepEqual(bytes.subarray(0, header.length), header);
      assert.deepEqual(bytes.subarray(header.length), payload);
    }
  });

  test("closeFrame carries the code big-endian and the reason", () => {
    assert.deepEqual(closeFrame(1000), Buffer.from([0x88, 0x02, 0x03, 0xe8]));
    assert.deepEqual(closeFrame(1008, "no"), Buffer.from([0x88, 0x04, 0x03, 0xf0, 0x6e, 0x6f]));
  });

  test("closeFrame truncates the reason so the payload stays within 125 bytes", () => {
    const bytes = closeFrame(1001, "x".repeat(200));
    assert.deepEqual(bytes.subarray(0, 4), Buffer.from([0x88, 125, 0x03, 0xe9]));
    assert.equal(bytes.length, 2 + 125);
  });
});

type Event =
  | ["text", string]
  | ["ping", string]
  | ["pong", string]
  | ["close", number | undefined, string]
  | ["error", number];

/** A reader whose sink records every call in order. */
function recorder(maxMessageSize = 1 << 20): { reader: WebSocketReader; events: Event[] } {
  const events: Event[] = [];
  const sink: WebSocketSink = {
    onText: (payload) => void events.push(["text", payload.toString("utf8")]),
    onPing: (payload) => void events.push(["ping", payload.toString("latin1")]),
    onPong: (payload) => void events.push(["pong", payload.toString("latin1")]),
    onClose: (code, reason) => void events.push(["close", code, reason.toString("utf8")]),
    onProtocolError: (code) => void events.push(["error", code]),
  };
  return { reader: new WebSocketReader(sink, maxMessageSize), events };
}

/** Feeds `bytes` and returns the events they produced. */
function read(bytes: Buffer, maxMessageSize?: number): Event[] {
  const { reader, events } = recorder(maxMessageSize);
  reader.feed(bytes);
  return events;
}

const text = (payload: string, options = {}): Buffer => encodeFrame(OP.text, payload, options);

describe("WebSocketReader: messages", () => {
  test("a masked text frame becomes one text message", () => {
    assert.deepEqual(read(text("Hello", { maskKey: Buffer.from([0x37, 0xfa, 0x21, 0x3d]) })), [["text", "Hello"]]);
  });

  test("RFC 6455 §5.7 sample bytes: masked 'Hello'", () => {
    assert.deepEqual(read(Buffer.from("818537fa213d7f9f4d5158", "hex")), [["text", "Hello"]]);
  });

  test("an empty text frame is an empty message", () => {
    assert.deepEqual(read(text("")), [["text", ""]]);
  });

  test("16- and 64-bit lengths are read", () => {
    const medium = "m".repeat(300);
    const large = "L".repeat(70000);
    assert.deepEqual(read(text(medium)), [["text", medium]]);
    assert.deepEqual(read(text(large)), [["text", large]]);
    // A short payload in the long forms is still read correctly.
    assert.deepEqual(read(text("ab", { lengthForm: 64 })), [["text", "ab"]]);
  });

  test("several frames in one feed are all handled, in order", () => {
    const bytes = Buffer.concat([text("one"), encodeFrame(OP.ping, "p"), text("two"), encodeFrame(OP.pong, "q"), text("three")]);
    assert.deepEqual(read(bytes), [["text", "one"], ["ping", "p"], ["text", "two"], ["pong", "q"], ["text", "three"]]);
  });

  test("a frame split across feeds byte by byte is handled once complete", () => {
    const { reader, events } = recorder();
    const bytes = Buffer.concat([text("x".repeat(200)), text("tail")]);
    const firstEnd = bytes.length - text("tail").length;
    for (let i = 0; i < bytes.length; i++) {
      reader.feed(bytes.subarray(i, i + 1));
      if (i < firstEnd - 1) assert.deepEqual(events, [], `nothing before byte ${i + 1} of ${firstEnd}`);
    }
    assert.deepEqual(events, [["text", "x".repeat(200)], ["text", "tail"]]);
  });

  test("a 64-bit length header split across feeds", () => {
    const { reader, events } = recorder();
    const bytes = text("y".repeat(65536));
    reader.feed(bytes.subarray(0, 5));
    reader.feed(bytes.subarray(5, 12));
    assert.deepEqual(events, []);
    reader.feed(bytes.subarray(12));
    assert.deepEqual(events, [["text", "y".repeat(65536)]]);
  });

  test("fragmented text with a ping between fragments: the ping is answered first, the text reassembled", () => {
    const bytes = Buffer.concat([
      text("Hel", { fin: false }),
      encodeFrame(OP.ping, "mid"),
      encodeFrame(OP.continuation, "lo ", { fin: false }),
      encodeFrame(OP.continuation, "world"),
    ]);
    assert.deepEqual(read(bytes), [["ping", "mid"], ["text", "Hello world"]]);
  });

  test("fragments in separate feeds", () => {
    const { reader, events } = recorder();
    reader.feed(text("a", { fin: false }));
    reader.feed(encodeFrame(OP.continuation, "b", { fin: false }));
    assert.deepEqual(events, []);
    reader.feed(encodeFrame(OP.continuation, "c"));
    reader.feed(text("d"));
    assert.deepEqual(events, [["text", "abc"], ["text", "d"]]);
  });

  test("a pong is reported with its payload", () => {
    assert.deepEqual(read(encodeFrame(OP.pong, "xyz")), [["pong", "xyz"]]);
  });
});

describe("WebSocketReader: protocol errors", () => {
  test("continuation without a started message → 1002", () => {
    assert.deepEqual(read(encodeFrame(OP.continuation, "x")), [["error", 1002]]);
  });

  test("a new message while one is fragmented → 1002", () => {
    assert.deepEqual(read(Buffer.concat([text("a", { fin: false }), text("b")])), [["error", 1002]]);
  });

  test("reserved opcodes 3-7 and 11-15 → 1002", () => {
    for (const opcode of [3, 7, 0xb, 0xf]) {
      assert.deepEqual(read(encodeFrame(opcode, "x")), [["error", 1002]], `opcode ${opcode}`);
    }
  });

  test("any RSV bit without an extension → 1002", () => {
    for (const rsv of [0b100, 0b010, 0b001]) {
      assert.deepEqual(read(text("x", { rsv })), [["error", 1002]], `rsv ${rsv}`);
    }
  });

  test("an unmasked client frame → 1002", () => {
    assert.deepEqual(read(text("x", { mask: false })), [["error", 1002]]);
  });

  test("a control frame longer than 125 bytes → 1002, decided from the header alone", () => {
    const { reader, events } = recorder();
    reader.feed(encodeFrame(OP.ping, "p".repeat(126)).subarray(0, 2));
    assert.deepEqual(events, [["error", 1002]]);
  });

  test("a fragmented (not final) control frame → 1002", () => {
    assert.deepEqual(read(encodeFrame(OP.ping, "p", { fin: false })), [["error", 1002]]);
    assert.deepEqual(read(encodeFrame(OP.close, closePayload(1000), { fin: false })), [["error", 1002]]);
  });

  test("a 64-bit length with its most significant bit set → 1002", () => {
    const { reader, events } = recorder();
    reader.feed(encodeFrame(OP.text, "", { declaredLength: 0x8000_0000_0000_0001n }).subarray(0, 10));
    assert.deepEqual(events, [["error", 1002]]);
  });

  test("a message over the limit → 1009 from the header, without waiting for (or buffering) the payload", () => {
    const { reader, events } = recorder(1000);
    reader.feed(text("z".repeat(1001)).subarray(0, 4)); // header only: 81 FE 03 E9
    assert.deepEqual(events, [["error", 1009]]);
    assert.equal(reader.done, true);
    // Nothing more is read (no buffering of the rest).
    reader.feed(text("later"));
    assert.deepEqual(events, [["error", 1009]]);
  });

  test("a message exactly at the limit is accepted", () => {
    assert.deepEqual(read(text("z".repeat(1000)), 1000), [["text", "z".repeat(1000)]]);
  });

  test("a huge declared length → 1009 at once", () => {
    const { reader, events } = recorder(1000);
    reader.feed(encodeFrame(OP.text, "", { declaredLength: 2n ** 40n }).subarray(0, 10));
    assert.deepEqual(events, [["error", 1009]]);
  });

  test("fragments that together pass the limit → 1009 when the fragment that crosses it starts", () => {
    const { reader, events } = recorder(1000);
    reader.feed(text("a".repeat(600), { fin: false }));
    assert.deepEqual(events, []);
    reader.feed(encodeFrame(OP.continuation, "b".repeat(401)).subarray(0, 4));
    assert.deepEqual(events, [["error", 1009]]);
  });

  test("the limit is per message: many fragmented messages whose total passes it are all accepted", () => {
    const { reader, events } = recorder(1000);
    const expected: Event[] = [];
    for (let n = 0; n < 20; n++) {
      // 3 fragments of 300 bytes: 900 per message, 18 000 in all against a limit of 1000.
      const letter = String.fromCharCode(0x61 + n);
      reader.feed(text(letter.repeat(300), { fin: false }));
      reader.feed(encodeFrame(OP.continuation, letter.repeat(300), { fin: false }));
      reader.feed(encodeFrame(OP.continuation, letter.repeat(300)));
      expected.push(["text", letter.repeat(900)]);
    }
    assert.deepEqual(events, expected);
    assert.equal(reader.done, false);
    // A single unfragmented message at the limit still fits after all of them.
    reader.feed(text("z".repeat(1000)));
    assert.deepEqual(events.at(-1), ["text", "z".repeat(1000)]);
  });

  test("invalid UTF-8 in one frame → 1007", () => {
    assert.deepEqual(read(encodeFrame(OP.text, Buffer.from([0x61, 0xff, 0x62]))), [["error", 1007]]);
    assert.deepEqual(read(encodeFrame(OP.text, Buffer.from([0xed, 0xa0, 0x80]))), [["error", 1007]], "a UTF-16 surrogate");
    assert.deepEqual(read(encodeFrame(OP.text, Buffer.from([0xe2, 0x82]))), [["error", 1007]], "a truncated sequence");
  });

  test("a UTF-8 character split across fragments is valid; an invalid one across fragments → 1007", () => {
    const euro = Buffer.from("€"); // e2 82 ac
    const valid = Buffer.concat([encodeFrame(OP.text, euro.subarray(0, 2), { fin: false }), encodeFrame(OP.continuation, euro.subarray(2))]);
    assert.deepEqual(read(valid), [["text", "€"]]);
    const invalid = Buffer.concat([encodeFrame(OP.text, euro.subarray(0, 2), { fin: false }), encodeFrame(OP.continuation, Buffer.from([0x41]))]);
    assert.deepEqual(read(invalid), [["error", 1007]]);
  });

  test("binary → 1003", () => {
    assert.deepEqual(read(encodeFrame(OP.binary, Buffer.from([1, 2, 3]))), [["error", 1003]]);
  });

  test("after an error nothing more is read", () => {
    const { reader, events } = recorder();
    reader.feed(Buffer.concat([encodeFrame(OP.binary, "b"), text("after")]));
    reader.feed(text("later"));
    assert.deepEqual(events, [["error", 1003]]);
  });
});

describe("WebSocketReader: close frames", () => {
  test("close with a code and reason", () => {
    assert.deepEqual(read(encodeFrame(OP.close, closePayload(1000, "bye"))), [["close", 1000, "bye"]]);
    assert.deepEqual(read(encodeFrame(OP.close, closePayload(4000))), [["close", 4000, ""]]);
  });

  test("close without a code", () => {
    assert.deepEqual(read(encodeFrame(OP.close)), [["close", undefined, ""]]);
  });

  test("nothing is read after a close", () => {
    const { reader, events } = recorder();
    reader.feed(Buffer.concat([encodeFrame(OP.close, closePayload(1001)), text("after")]));
    reader.feed(text("later"));
    assert.deepEqual(events, [["close", 1001, ""]]);
    assert.equal(reader.done, true);
  });

  test("invalid close codes → 1002", () => {
    for (const code of [0, 999, 1004, 1005, 1006, 1015, 2999, 5000]) {
      assert.deepEqual(read(encodeFrame(OP.close, closePayload(code))), [["error", 1002]], `code ${code}`);
    }
  });

  test("valid close codes are accepted", () => {
    for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999]) {
      assert.deepEqual(read(encodeFrame(OP.close, closePayload(code))), [["close", code, ""]], `code ${code}`);
    }
  });

  test("a one-byte close payload → 1002", () => {
    assert.deepEqual(read(encodeFrame(OP.close, Buffer.from([0x03]))), [["error", 1002]]);
  });

  test("a close reason that is not UTF-8 → 1007", () => {
    assert.deepEqual(read(encodeFrame(OP.close, Buffer.concat([closePayload(1000), Buffer.from([0xff])]))), [["error", 1007]]);
  });
});
