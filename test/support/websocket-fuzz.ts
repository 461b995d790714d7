import { WebSocketReader, type WebSocketSink } from "../../src/websocket/frame.js";
import type { Prng } from "./prng.js";
import { closePayload, encodeFrame, OP, type FrameOptions } from "./ws-client.js";

/**
 * The WebSocket frame reader's fuzzer parts: a grammar of client frame sequences (valid, nearly
 * valid, hostile), a reference decoder written plainly from RFC 6455 and the reader's documented
 * rules (whole input, no state carried between reads), and the reader under test fed in pieces.
 * Events are short strings: `text:<hex>`, `binary:<hex>`, `ping:<hex>`, `pong:<hex>`,
 * `close:<code>:<reason hex>`, `error:<close code>`.
 */

const TEXTS = ["", "a", "hello", "żółw", "€", "😀", "\u0000", "\ufffd", "x".repeat(60), "ąę".repeat(20)];
const INVALID_UTF8 = [Buffer.from([0xff]), Buffer.from([0xc3]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xc0, 0xaf]), Buffer.from([0xf4, 0x90, 0x80, 0x80])];
const CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1014, 3000, 4999, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535, 0];
const CONTROL_OPCODES = [OP.ping, OP.pong];
const UNKNOWN_OPCODES = [0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf];

function text(rng: Prng): Buffer {
  if (rng.chance(0.08)) return rng.pick(INVALID_UTF8);
  return Buffer.from(rng.pick(TEXTS));
}

/** Pieces of `payload` cut anywhere (a UTF-8 character may be split between fragments). */
function pieces(rng: Prng, payload: Buffer): Buffer[] {
  const cuts = rng.cuts(payload.length, 3);
  const out: Buffer[] = [];
  let from = 0;
  for (const to of [...cuts, payload.length]) {
    out.push(payload.subarray(from, to));
    from = to;
  }
  return out.length > 1 ? out : [payload.subarray(0, 0), payload];
}

function options(rng: Prng, extra: FrameOptions = {}): FrameOptions {
  const o: FrameOptions = { maskKey: rng.bytes(4), ...extra };
  if (rng.chance(0.1)) o.lengthForm = rng.pick([16, 64] as const);
  return o;
}

/** One to eight frames or messages, mostly well formed. */
export function generateFrames(rng: Prng, maxMessageSize: number): Buffer {
  const frames: Buffer[] = [];
  for (let n = rng.between(1, 8); n > 0; n--) {
    switch (rng.below(12)) {
      case 0:
      case 1:
        frames.push(encodeFrame(OP.text, text(rng), options(rng)));
        break;
      case 2: {
        // A fragmented message, sometimes with a control frame between its fragments.
        const opcode = rng.chance(0.8) ? OP.text : OP.binary;
        const parts = pieces(rng, rng.chance(0.5) ? text(rng) : rng.bytes(rng.below(maxMessageSize + 8)));
        parts.forEach((part, i) => {
          frames.push(encodeFrame(i === 0 ? opcode : OP.continuation, part, options(rng, { fin: i === parts.length - 1 })));
          if (rng.chance(0.2)) frames.push(encodeFrame(rng.pick(CONTROL_OPCODES), rng.bytes(rng.below(8)), options(rng)));
        });
        break;
      }
      case 3:
        frames.push(encodeFrame(OP.binary, rng.bytes(rng.below(16)), options(rng)));
        break;
      case 4:
      case 5:
        frames.push(encodeFrame(rng.pick(CONTROL_OPCODES), rng.bytes(rng.chance(0.95) ? rng.below(126) : rng.between(126, 130)), options(rng)));
        break;
      case 6: {
        const kind = rng.below(4);
        const payload = kind === 0 ? Buffer.alloc(0) : kind === 1 ? Buffer.from([rng.below(256)])
          : Buffer.concat([closePayload(rng.pick(CLOSE_CODES)), rng.chance(0.8) ? text(rng) : rng.bytes(rng.below(4))]);
        frames.push(encodeFrame(OP.close, payload, options(rng)));
        break;
      }
      case 7:
        // A message around the size limit.
        frames.push(encodeFrame(OP.text, Buffer.alloc(maxMessageSize + rng.between(-2, 2), 0x61), options(rng)));
        break;
      case 8: {
        // A broken header: reserved bits, an unknown opcode, no mask, a fragmented control frame, a stray continuation.
        const broken = rng.below(5);
        if (broken === 0) frames.push(encodeFrame(OP.text, text(rng), options(rng, { rsv: rng.between(1, 7) })));
        else if (broken === 1) frames.push(encodeFrame(rng.pick(UNKNOWN_OPCODES), rng.bytes(rng.below(4)), options(rng)));
        else if (broken === 2) frames.push(encodeFrame(OP.text, text(rng), { mask: false }));
        else if (broken === 3) frames.push(encodeFrame(rng.pick([OP.ping, OP.pong, OP.close]), rng.bytes(2), options(rng, { fin: false })));
        else frames.push(encodeFrame(OP.continuation, text(rng), options(rng, { fin: rng.chance(0.5) })));
        break;
      }
      case 9: {
        // A lying or huge length: the MSB of the 64-bit form, more than the limit, more than what follows.
        const declared = rng.pick([2n ** 63n + 5n, 2n ** 53n, BigInt(maxMessageSize + 1), 2n ** 32n, 70000n]);
        frames.push(encodeFrame(rng.pick([OP.text, OP.continuation, OP.binary]), rng.bytes(rng.below(8)), options(rng, { declaredLength: declared, lengthForm: 64 })));
        break;
      }
      case 10:
        // A fragment left open, then a new message.
        frames.push(encodeFrame(OP.text, text(rng), options(rng, { fin: false })));
        break;
      default:
        frames.push(rng.bytes(rng.between(1, 6)));
    }
  }
  return Buffer.concat(frames);
}

export const WEBSOCKET_DICTIONARY: readonly Buffer[] = [
  [0x81], [0x01], [0x80], [0x88], [0x89], [0x8a], [0x82], [0x00], [0xc1], [0x83], [0x80, 0x80], [0xfe], [0xff], [0x7e, 0x00, 0x7e], [0x7f, 0, 0, 0, 0, 0, 0, 0x01, 0x00],
  [0x03, 0xe8], [0x03, 0xed], [0xed, 0xa0, 0x80], [0xf0, 0x9f, 0x98],
].map((bytes) => Buffer.from(bytes));

// --- the reader under test

/** The reader's events for `input` fed in pieces cut at `cuts`. */
export function readerEvents(input: Buffer, cuts: readonly number[], maxMessageSize: number, acceptBinary: boolean): string[] {
  const events: string[] = [];
  const sink: WebSocketSink = {
    onText: (payload) => void events.push(`text:${payload.toString("hex")}`),
    onBinary: (payload) => void events.push(`binary:${payload.toString("hex")}`),
    onPing: (payload) => void events.push(`ping:${payload.toString("hex")}`),
    onPong: (payload) => void events.push(`pong:${payload.toString("hex")}`),
    onClose: (code, reason) => void events.push(`close:${code ?? ""}:${reason.toString("hex")}`),
    onProtocolError: (code) => void events.push(`error:${code}`),
  };
  const reader = new WebSocketReader(sink, maxMessageSize, acceptBinary);
  let from = 0;
  for (const to of [...cuts, input.length]) {
    // Each piece in its own buffer, as reads from a socket come.
    reader.feed(Buffer.from(input.subarray(from, to)));
    from = to;
  }
  return events;
}

// --- the reference

/** UTF-8 validity by a round trip (independent of the reader's TextDecoder). */
function validUtf8(bytes: Buffer): boolean {
  return Buffer.from(bytes.toString("utf8"), "utf8").equals(bytes);
}

function validCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/**
 * RFC 6455 §5 read from the whole input at once: frames until the input ends inside one (nothing
 * more is said about it, unless its header already breaks a rule) or a close or a protocol
 * error ends the connection. Rules in the order the reader documents them: reserved bits, opcode,
 * mask, control frame shape, 64-bit length MSB, message sequence, binary, size; then, once the
 * frame is whole, UTF-8 of text and close reasons, close codes.
 */
export function referenceEvents(input: Buffer, maxMessageSize: number, acceptBinary: boolean): string[] {
  const events: string[] = [];
  const fail = (code: number): string[] => {
    events.push(`error:${code}`);
    return events;
  };
  let at = 0;
  let fragments: Buffer[] | null = null;
  let binary = false;
  for (;;) {
    const available = input.length - at;
    if (available < 2) return events;
    const fin = (input[at]! & 0x80) !== 0;
    const opcode = input[at]! & 0x0f;
    const control = opcode >= 8;
    let length = input[at + 1]! & 0x7f;
    if (input[at]! & 0x70) return fail(1002);
    if (![0, 1, 2, 8, 9, 10].includes(opcode)) return fail(1002);
    if (!(input[at + 1]! & 0x80)) return fail(1002);
    if (control && (!fin || length > 125)) return fail(1002);
    let header = 2;
    if (length === 126) {
      if (available < 4) return events;
      length = input.readUInt16BE(at + 2);
      header = 4;
    } else if (length === 127) {
      if (available < 10) return events;
      const big = input.readBigUInt64BE(at + 2);
      if (big >= 2n ** 63n) return fail(1002);
      length = Number(big);
      header = 10;
    }
    if (!control) {
      if (opcode === 0 && !fragments) return fail(1002);
      if (opcode !== 0 && fragments) return fail(1002);
      if (opcode === 2 && !acceptBinary) return fail(1003);
      if (opcode !== 0) binary = opcode === 2;
      const sofar = fragments ? Buffer.concat(fragments).length : 0;
      if (sofar + length > maxMessageSize) return fail(1009);
    }
    if (available < header + 4 + length) return events;
    const mask = input.subarray(at + header, at + header + 4);
    const payload = Buffer.from(input.subarray(at + header + 4, at + header + 4 + length));
    for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ mask[i % 4]!;
    at += header + 4 + length;
    if (opcode === 9) events.push(`ping:${payload.toString("hex")}`);
    else if (opcode === 10) events.push(`pong:${payload.toString("hex")}`);
    else if (opcode === 8) {
      if (payload.length === 1) return fail(1002);
      if (payload.length === 0) {
        events.push("close::");
        return events;
      }
      const code = payload.readUInt16BE(0);
      if (!validCloseCode(code)) return fail(1002);
      if (!validUtf8(payload.subarray(2))) return fail(1007);
      events.push(`close:${code}:${payload.subarray(2).toString("hex")}`);
      return events;
    } else {
      (fragments ??= []).push(payload);
      if (!fin) continue;
      const message = Buffer.concat(fragments);
      fragments = null;
      if (binary) events.push(`binary:${message.toString("hex")}`);
      else if (!validUtf8(message)) return fail(1007);
      else events.push(`text:${message.toString("hex")}`);
    }
  }
}
