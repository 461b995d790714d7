import { test } from "node:test";
import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import { encodeCommand, RespError, RespParser, RespProtocolError, type RespReply } from "../../src/redis/resp.js";

test("a command is an array of bulk strings, byte lengths counted (UTF-8, Buffers, numbers)", () => {
  assert.equal(encodeCommand(["SET", "ключ", 42]).toString("utf8"), "*3\r\n$3\r\nSET\r\n$8\r\nключ\r\n$2\r\n42\r\n");
  assert.deepEqual(encodeCommand([Buffer.from([0, 13, 10, 255])]), Buffer.concat([Buffer.from("*1\r\n$4\r\n"), Buffer.from([0, 13, 10, 255]), Buffer.from("\r\n")]));
  assert.equal(encodeCommand([]).toString(), "*0\r\n");
});

const WIRE = "+OK\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n:-7\r\n$5\r\nhe\r\nl\r\n$-1\r\n$0\r\n\r\n*-1\r\n*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n*2\r\n:1\r\n*0\r\n";

function expected(): RespReply[] {
  return ["OK", new RespError("WRONGTYPE Operation against a key holding the wrong kind of value"), -7, Buffer.from("he\r\nl"), null, Buffer.alloc(0), null,
    [Buffer.from("message"), Buffer.from("ch"), [1, []]]];
}

test("every reply type, whole: simple, error, integer, bulk (CRLF inside, empty, null), arrays (null, nested, empty)", () => {
  const replies = new RespParser().push(Buffer.from(WIRE));
  assert.deepEqual(replies, expected());
  assert.equal((replies[1] as RespError).code, "WRONGTYPE");
});

test("any chunking gives the same replies: one byte at a time, and every split in two", () => {
  const bytes = Buffer.from(WIRE);
  const parser = new RespParser();
  const oneByOne: RespReply[] = [];
  for (let i = 0; i < bytes.length; i++) oneByOne.push(...parser.push(bytes.subarray(i, i + 1)));
  assert.deepEqual(oneByOne, expected());
  for (let cut = 1; cut < bytes.length; cut++) {
    const split = new RespParser();
    assert.deepEqual([...split.push(bytes.subarray(0, cut)), ...split.push(bytes.subarray(cut))], expected(), `cut at ${cut}`);
  }
});

test("a large nested reply (a catch-up: thousands of items, bulk strings of 100 KB) comes out whole in chunks of any size, chunk buffers reused", () => {
  const items: RespReply[] = [];
  for (let i = 0; i < 3000; i++) items.push([Buffer.from(`channel-${i}`), i, Buffer.alloc(i % 50 === 0 ? 100_000 : i, i % 251)]);
  const reply: RespReply[] = [Buffer.from("head"), items, null, []];
  const wire = Buffer.concat([encodeReply(reply), Buffer.from("+OK\r\n")]);
  for (const size of [1000, 4096, 65_536, 300_000]) {
    const parser = new RespParser();
    const out: RespReply[] = [];
    const scratch = Buffer.alloc(size);
    for (let at = 0; at < wire.length; at += size) {
      const n = wire.copy(scratch, 0, at, Math.min(wire.length, at + size));
      out.push(...parser.push(scratch.subarray(0, n)));
      scratch.fill(0x2a);
    }
    // Not deepEqual: its diff of megabytes would take the heap down.
    assert.ok(isDeepStrictEqual(out, [reply, "OK"]), `chunks of ${size}: the replies differ`);
  }
});

/** A reply as Redis would send it (bulk strings for Buffers, integers, nulls, arrays). */
function encodeReply(reply: RespReply): Buffer {
  if (reply === null) return Buffer.from("$-1\r\n");
  if (typeof reply === "number") return Buffer.from(`:${reply}\r\n`);
  if (Buffer.isBuffer(reply)) return Buffer.concat([Buffer.from(`$${reply.length}\r\n`), reply, Buffer.from("\r\n")]);
  if (Array.isArray(reply)) return Buffer.concat([Buffer.from(`*${reply.length}\r\n`), ...reply.map(encodeReply)]);
  throw new Error("not used here");
}

test("replies and an unfinished reply's bytes are copies: the caller may reuse its chunk", () => {
  const parser = new RespParser();
  const chunk = Buffer.from("$3\r\nabc\r\n$3\r\nde");
  const [first] = parser.push(chunk);
  chunk.fill(0x78);
  assert.deepEqual(first, Buffer.from("abc"));
  assert.deepEqual(parser.push(Buffer.from("f\r\n")), [Buffer.from("def")]);
});

test("bytes that are not RESP throw, so the connection is dropped rather than misread", () => {
  for (const wire of ["?what\r\n", ":12a\r\n", "$-2\r\n", "*99999999999\r\n", "\r\n"]) {
    assert.throws(() => new RespParser().push(Buffer.from(wire)), RespProtocolError, JSON.stringify(wire));
  }
  assert.throws(() => new RespParser().push(Buffer.from("*1\r\n".repeat(40))), /nested too deep/);
  assert.throws(() => new RespParser().push(Buffer.alloc(70 * 1024, 0x61)), /longer than 64 KiB/);
});
