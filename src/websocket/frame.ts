/**
 * RFC 6455 framing, both directions, with no I/O: building the frames the server sends, and a
 * reader that turns client bytes into messages (reassembling fragments, allowing control frames
 * between them, handling several frames per read) or into a protocol error with its close code.
 */

export const OPCODE_CONTINUATION = 0x0;
export const OPCODE_TEXT = 0x1;
export const OPCODE_BINARY = 0x2;
export const OPCODE_CLOSE = 0x8;
export const OPCODE_PING = 0x9;
export const OPCODE_PONG = 0xa;

export const CLOSE_NORMAL = 1000;
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_PROTOCOL_ERROR = 1002;
export const CLOSE_UNSUPPORTED_DATA = 1003;
export const CLOSE_INVALID_PAYLOAD = 1007;
export const CLOSE_POLICY_VIOLATION = 1008;
export const CLOSE_TOO_BIG = 1009;

/** The accept key of the handshake: base64(sha1(key + GUID)) — computed by the caller's crypto. */
export const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** An empty ping, what the server sends every pingMessageInterval of silence. */
export const PING_FRAME = Buffer.from([0x80 | OPCODE_PING, 0x00]);
/** A close frame without a status code (push-stream's only close). */
export const EMPTY_CLOSE_FRAME = Buffer.from([0x80 | OPCODE_CLOSE, 0x00]);

/** The header of an unmasked, final frame carrying `length` payload bytes (7-, 16- or 64-bit length). */
export function frameHeader(opcode: number, length: number): Buffer {
  if (length < 126) return Buffer.from([0x80 | opcode, length]);
  if (length < 0x10000) {
    const header = Buffer.allocUnsafe(4);
    header[0] = 0x80 | opcode;
    header[1] = 126;
    header.writeUInt16BE(length, 2);
    return header;
  }
  const header = Buffer.allocUnsafe(10);
  header[0] = 0x80 | opcode;
  header[1] = 127;
  header.writeUInt32BE(Math.floor(length / 0x1_0000_0000), 2);
  header.writeUInt32BE(length >>> 0, 6);
  return header;
}

/** A whole unmasked frame. */
export function frame(opcode: number, payload: Buffer): Buffer {
  return Buffer.concat([frameHeader(opcode, payload.length), payload]);
}

/** A close frame with a status code and an optional reason (truncated to fit 125 bytes). */
export function closeFrame(code: number, reason = ""): Buffer {
  let text = Buffer.from(reason);
  if (text.length > 123) text = text.subarray(0, 123);
  const payload = Buffer.allocUnsafe(2 + text.length);
  payload.writeUInt16BE(code, 0);
  text.copy(payload, 2);
  return frame(OPCODE_CLOSE, payload);
}

/** What the reader reports. */
export interface WebSocketSink {
  onText(payload: Buffer): void;
  /** A binary message; only called by a reader made with `acceptBinary`. */
  onBinary?(payload: Buffer): void;
  onPing(payload: Buffer): void;
  onPong(payload: Buffer): void;
  /** `code` is undefined for a close frame without a status. */
  onClose(code: number | undefined, reason: Buffer): void;
  /** The client broke the protocol: close with `code`; the reader accepts nothing more. */
  onProtocolError(code: number, reason: string): void;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function isUtf8(bytes: Buffer): boolean {
  try {
    utf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** Close codes a peer may send (RFC 6455 §7.4, IANA registry; 3000–4999 for applications). */
function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/**
 * Reads client frames. Client frames must be masked; a message (one frame or a fragmented series)
 * may not exceed `maxMessageSize`; binary messages are refused (push-stream speaks text only).
 */
/** A frame whose header has arrived and whose payload is still coming in. */
interface PartialFrame {
  fin: boolean;
  opcode: number;
  mask: Buffer;
  payload: Buffer;
  filled: number;
}

export class WebSocketReader {
  /** Bytes of a frame header not complete yet (at most 13). */
  private pending: Buffer | null = null;
  /** The frame being filled: its payload is allocated once, at its full length, and unmasked as it comes. */
  private partial: PartialFrame | null = null;
  private fragments: Buffer[] | null = null;
  private fragmentsLength = 0;
  /** Set after a close frame or a protocol error: nothing more is read. */
  done = false;
  /** The message being read is binary (its first frame had the binary opcode). */
  private binary = false;

  constructor(
    private readonly sink: WebSocketSink,
    private readonly maxMessageSize: number,
    /** Binary messages go to `sink.onBinary` instead of closing with 1003 (bitrix-push2). */
    private readonly acceptBinary = false,
  ) {}

  /** Feeds bytes from the socket; every complete frame in them is handled now. Linear in the bytes fed. */
  feed(chunk: Buffer): void {
    if (this.done) return;
    let offset = this.partial ? this.fill(chunk, 0) : 0;
    if (offset >= chunk.length) return;
    const data = this.pending ? Buffer.concat([this.pending, chunk.subarray(offset)]) : chunk;
    if (this.pending) offset = 0;
    this.pending = null;
    while (!this.done && offset < data.length) {
      const used = this.readFrame(data, offset);
      if (used === 0) break;
      offset += used;
    }
    // Only an incomplete header (under 14 bytes) waits here; payloads go to `partial`.
    if (!this.done && !this.partial && offset < data.length) this.pending = Buffer.from(data.subarray(offset));
  }

  /** Copies payload bytes of the partial frame from `data` at `offset`; returns the offset after them. */
  private fill(data: Buffer, offset: number): number {
    const frame = this.partial!;
    const count = Math.min(frame.payload.length - frame.filled, data.length - offset);
    const { payload, mask } = frame;
    for (let i = 0, at = frame.filled; i < count; i++, at++) payload[at] = data[offset + i]! ^ mask[at & 3]!;
    frame.filled += count;
    if (frame.filled === payload.length) {
      this.partial = null;
      this.dispatch(frame.fin, frame.opcode, payload);
    }
    return offset + count;
  }

  private dispatch(fin: boolean, opcode: number, payload: Buffer): void {
    if (opcode >= 0x8) this.control(opcode, payload);
    else this.data(fin, payload);
  }

  /**
   * Reads the frame at `offset`: returns the bytes it took (a whole frame, or a header and the
   * start of a payload that `partial` will complete), or 0 when the header is not complete yet.
   */
  private readFrame(data: Buffer, offset: number): number {
    const available = data.length - offset;
    if (available < 2) return 0;
    const first = data[offset]!;
    const second = data[offset + 1]!;
    const fin = (first & 0x80) !== 0;
    const opcode = first & 0x0f;
    if ((first & 0x70) !== 0) return this.fail(CLOSE_PROTOCOL_ERROR, "Reserved bits set without an extension.");
    const control = opcode >= 0x8;
    if (opcode > OPCODE_BINARY && opcode !== OPCODE_CLOSE && opcode !== OPCODE_PING && opcode !== OPCODE_PONG) {
      return this.fail(CLOSE_PROTOCOL_ERROR, `Unknown opcode ${opcode}.`);
    }
    if ((second & 0x80) === 0) return this.fail(CLOSE_PROTOCOL_ERROR, "Client frames must be masked.");
    let length = second & 0x7f;
    let headerLength = 2;
    if (control && (!fin || length > 125)) return this.fail(CLOSE_PROTOCOL_ERROR, "Control frames must be final and at most 125 bytes.");
    if (length === 126) {
      if (available < 4) return 0;
      length = data.readUInt16BE(offset + 2);
      headerLength = 4;
    } else if (length === 127) {
      if (available < 10) return 0;
      const high = data.readUInt32BE(offset + 2);
      if (high & 0x80000000) return this.fail(CLOSE_PROTOCOL_ERROR, "Payload length has its most significant bit set.");
      length = high * 0x1_0000_0000 + data.readUInt32BE(offset + 6);
      headerLength = 10;
    }
    if (!control) {
      if (opcode === OPCODE_CONTINUATION && !this.fragments) return this.fail(CLOSE_PROTOCOL_ERROR, "Continuation frame without a message to continue.");
      if (opcode !== OPCODE_CONTINUATION && this.fragments) return this.fail(CLOSE_PROTOCOL_ERROR, "New message before the fragmented one ended.");
      if (opcode === OPCODE_BINARY && !this.acceptBinary) return this.fail(CLOSE_UNSUPPORTED_DATA, "Binary messages are not accepted.");
      if (opcode !== OPCODE_CONTINUATION) this.binary = opcode === OPCODE_BINARY;
      if (this.fragmentsLength + length > this.maxMessageSize) return this.fail(CLOSE_TOO_BIG, `Message larger than ${this.maxMessageSize} bytes.`);
    }
    const payloadAt = offset + headerLength + 4;
    if (data.length < payloadAt) return 0;
    this.partial = { fin, opcode, mask: data.subarray(payloadAt - 4, payloadAt), payload: Buffer.allocUnsafe(length), filled: 0 };
    if (length === 0) {
      this.partial = null;
      this.dispatch(fin, opcode, Buffer.alloc(0));
      return headerLength + 4;
    }
    this.partial.mask = Buffer.from(this.partial.mask); // do not keep the whole read alive for 4 bytes
    return this.fill(data, payloadAt) - offset;
  }

  private data(fin: boolean, payload: Buffer): void {
    if (!fin) {
      (this.fragments ??= []).push(payload);
      this.fragmentsLength += payload.length;
      return;
    }
    let message = payload;
    if (this.fragments) {
      this.fragments.push(payload);
      message = Buffer.concat(this.fragments);
      this.fragments = null;
      this.fragmentsLength = 0;
    }
    if (this.binary) return this.sink.onBinary?.(message);
    if (!isUtf8(message)) return void this.fail(CLOSE_INVALID_PAYLOAD, "Text message is not valid UTF-8.");
    this.sink.onText(message);
  }

  private control(opcode: number, payload: Buffer): void {
    if (opcode === OPCODE_PING) return this.sink.onPing(payload);
    if (opcode === OPCODE_PONG) return this.sink.onPong(payload);
    // Close: an optional status code, then an optional UTF-8 reason.
    if (payload.length === 1) return void this.fail(CLOSE_PROTOCOL_ERROR, "Close frame with a one-byte payload.");
    let code: number | undefined;
    let reason = payload;
    if (payload.length >= 2) {
      code = payload.readUInt16BE(0);
      reason = payload.subarray(2);
      if (!isValidCloseCode(code)) return void this.fail(CLOSE_PROTOCOL_ERROR, `Invalid close code ${code}.`);
      if (!isUtf8(reason)) return void this.fail(CLOSE_INVALID_PAYLOAD, "Close reason is not valid UTF-8.");
    }
    this.done = true;
    this.sink.onClose(code, reason);
  }

  private fail(code: number, reason: string): 0 {
    this.done = true;
    this.pending = null;
    this.partial = null;
    this.fragments = null;
    this.sink.onProtocolError(code, reason);
    return 0;
  }
}
