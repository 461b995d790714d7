import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import { headerMap } from "./helpers.js";

/**
 * A raw WebSocket test client on node:net, written for tests that need exact bytes: any request
 * head for the handshake, frames of any opcode/fin/RSV/length, masked or not, written whole, split
 * or coalesced; and the server's frames parsed from the bytes exactly as they arrived.
 */

export const OP = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

/** The handshake key of RFC 6455 §1.3 and its accept value. */
export const SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ==";
export const SAMPLE_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

export interface FrameOptions {
  fin?: boolean;
  /** RSV1..3 as the three bits 0b100, 0b010, 0b001. */
  rsv?: number;
  /** Mask the payload (clients must); default true. */
  mask?: boolean;
  maskKey?: Buffer;
  /** Write this length in the header instead of the payload's (for lying or huge lengths). */
  declaredLength?: number | bigint;
  /** Force the 16- or 64-bit length form even for short payloads. */
  lengthForm?: 7 | 16 | 64;
}

/** Encodes one frame exactly as asked (the reader's tests need malformed ones too). */
export function encodeFrame(opcode: number, payload: Buffer | string = Buffer.alloc(0), options: FrameOptions = {}): Buffer {
  const data = typeof payload === "string" ? Buffer.from(payload) : payload;
  const fin = options.fin ?? true;
  const mask = options.mask ?? true;
  const length = BigInt(options.declaredLength ?? data.length);
  const form = options.lengthForm ?? (length < 126n ? 7 : length < 0x10000n ? 16 : 64);
  const head: number[] = [(fin ? 0x80 : 0) | ((options.rsv ?? 0) << 4) | opcode];
  const maskBit = mask ? 0x80 : 0;
  if (form === 7) head.push(maskBit | Number(length));
  else if (form === 16) head.push(maskBit | 126, Number(length >> 8n) & 0xff, Number(length) & 0xff);
  else {
    head.push(maskBit | 127);
    for (let shift = 56n; shift >= 0n; shift -= 8n) head.push(Number((length >> shift) & 0xffn));
  }
  if (!mask) return Buffer.concat([Buffer.from(head), data]);
  const key = options.maskKey ?? randomBytes(4);
  const masked = Buffer.allocUnsafe(data.length);
  for (let i = 0; i < data.length; i++) masked[i] = data[i]! ^ key[i & 3]!;
  return Buffer.concat([Buffer.from(head), key, masked]);
}

/** A close frame payload: a status code and an optional reason. */
export function closePayload(code: number, reason = ""): Buffer {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return payload;
}

/** A frame as the server sent it. */
export interface ParsedFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Buffer;
  /** Every byte of the frame, header included. */
  raw: Buffer;
  /** The status code of a close frame with one. */
  closeCode?: number;
}

/** Parses the frame at the start of `data`; undefined until it is complete. */
export function parseFrame(data: Buffer): ParsedFrame | undefined {
  if (data.length < 2) return undefined;
  const first = data[0]!;
  const second = data[1]!;
  let length = second & 0x7f;
  let at = 2;
  if (length === 126) {
    if (data.length < 4) return undefined;
    length = data.readUInt16BE(2);
    at = 4;
  } else if (length === 127) {
    if (data.length < 10) return undefined;
    length = Number(data.readBigUInt64BE(2));
    at = 10;
  }
  const masked = (second & 0x80) !== 0;
  const key = masked ? data.subarray(at, at + 4) : undefined;
  if (masked) at += 4;
  if (data.length < at + length) return undefined;
  const payload = Buffer.from(data.subarray(at, at + length));
  if (key) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ key[i & 3]!;
  const opcode = first & 0x0f;
  const frame: ParsedFrame = { fin: (first & 0x80) !== 0, rsv: (first >> 4) & 7, opcode, masked, payload, raw: Buffer.from(data.subarray(0, at + length)) };
  if (opcode === OP.close && payload.length >= 2) frame.closeCode = payload.readUInt16BE(0);
  return frame;
}

export interface HandshakeOptions {
  key?: string;
  /** Sec-WebSocket-Version; null leaves it out. */
  version?: string | null;
  method?: string;
  httpVersion?: "1.0" | "1.1";
  /** Extra header lines; a name given here replaces the default one, value null removes it. */
  headers?: Record<string, string | null>;
}

/** The request head a browser would send, adjusted by `options`. */
export function handshakeRequest(path: string, options: HandshakeOptions = {}): string {
  const headers: Record<string, string | null> = {
    "Host": "127.0.0.1",
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Key": options.key ?? SAMPLE_KEY,
    "Sec-WebSocket-Version": options.version === undefined ? "13" : options.version,
    ...options.headers,
  };
  const lines = Object.entries(headers).filter(([, value]) => value !== null).map(([name, value]) => `${name}: ${value}\r\n`);
  return `${options.method ?? "GET"} ${path} HTTP/${options.httpVersion ?? "1.1"}\r\n${lines.join("")}\r\n`;
}

const WAIT_MS = 3000;

/**
 * One connection. Everything the server sends after the response head is kept in `buffer`;
 * frames are taken from it in order with {@link nextFrame}.
 */
export class WsClient {
  /** Every client not yet closed, so a failing test can cut them all (a server's close waits for its sockets). */
  static readonly live = new Set<WsClient>();

  /** Destroys every client still open. */
  static destroyAll(): void {
    for (const client of WsClient.live) client.destroy();
  }

  /** The response head, up to and including the blank line, as latin1 text. */
  head = "";
  status = 0;
  headers = new Map<string, string>();
  /** Bytes after the head not yet taken as frames. */
  buffer = Buffer.alloc(0);
  private readonly chunks: Buffer[] = [];
  /** Every byte received after the head. */
  get received(): Buffer {
    return Buffer.concat(this.chunks);
  }
  /** How many bytes arrived after the head. */
  receivedLength = 0;
  /** The server sent FIN. */
  ended = false;
  /** The socket is closed (by either side). */
  closed = false;
  private wake: (() => void) | null = null;
  private readonly closedPromise: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on("error", () => {}); // a reset after a close is expected in these tests; 'close' follows
    WsClient.live.add(this);
    this.closedPromise = new Promise((resolve) => socket.on("close", () => {
      WsClient.live.delete(this);
      this.closed = true;
      this.notify();
      resolve();
    }));
    socket.on("end", () => {
      this.ended = true;
      this.notify();
    });
  }

  /** Connects and sends `request` (a head from {@link handshakeRequest} or any bytes), without waiting. */
  static open(port: number, request: string | Buffer): Promise<WsClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, "127.0.0.1");
      const client = new WsClient(socket);
      socket.on("data", (chunk: Buffer) => client.onData(chunk));
      socket.once("connect", () => {
        socket.write(request);
        resolve(client);
      });
      socket.once("error", reject);
    });
  }

  /** Connects, sends the handshake and waits for the whole response head (any status). */
  static async connect(port: number, path: string, options: HandshakeOptions = {}, extra?: Buffer): Promise<WsClient> {
    const request = handshakeRequest(path, options);
    const client = await WsClient.open(port, extra ? Buffer.concat([Buffer.from(request), extra]) : request);
    await client.waitHead();
    return client;
  }

  /** Connects and asserts a 101; the client is ready for frames. */
  static async upgrade(port: number, path: string, options: HandshakeOptions = {}): Promise<WsClient> {
    const client = await WsClient.connect(port, path, options);
    if (client.status !== 101) {
      client.destroy();
      throw new Error(`expected 101, got ${JSON.stringify(client.head)}`);
    }
    return client;
  }

  private pendingHead = Buffer.alloc(0);

  private onData(chunk: Buffer): void {
    if (!this.head) {
      this.pendingHead = Buffer.concat([this.pendingHead, chunk]);
      const end = this.pendingHead.indexOf("\r\n\r\n");
      if (end < 0) return;
      this.head = this.pendingHead.subarray(0, end + 4).toString("latin1");
      const [statusLine, ...lines] = this.head.slice(0, end).split("\r\n");
      this.status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine!)?.[1] ?? 0);
      this.headers = headerMap(lines);
      chunk = this.pendingHead.subarray(end + 4);
      this.pendingHead = Buffer.alloc(0);
    }
    this.buffer = Buffer.concat([this.buffer, chunk]);
    this.chunks.push(chunk);
    this.receivedLength += chunk.length;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /** Resolves when `ready()` holds, re-checking on every arrival; fails after `ms` with `what`. */
  private async until(ready: () => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!ready()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}; got ${this.describe()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  private describe(): string {
    return `head ${JSON.stringify(this.head)}, ${this.buffer.length} unread bytes ${this.buffer.subarray(0, 32).toString("hex")}, ended ${this.ended}, closed ${this.closed}`;
  }

  waitHead(ms = WAIT_MS): Promise<void> {
    return this.until(() => this.head !== "" || this.closed, ms, "the response head").then(() => {
      if (!this.head) throw new Error(`connection closed before a response head: ${JSON.stringify(this.pendingHead.toString("latin1"))}`);
    });
  }

  /** The next server frame; fails if none arrives within `ms` or the connection closes first. */
  async nextFrame(ms = WAIT_MS): Promise<ParsedFrame> {
    let frame: ParsedFrame | undefined;
    await this.until(() => (frame = parseFrame(this.buffer)) !== undefined || this.closed || this.ended, ms, "a frame");
    frame ??= parseFrame(this.buffer);
    if (!frame) throw new Error(`connection ended before a frame; got ${this.describe()}`);
    this.buffer = this.buffer.subarray(frame.raw.length);
    return frame;
  }

  /** The next frame's payload as text, asserting it is a final text frame. */
  async nextText(ms = WAIT_MS): Promise<string> {
    const frame = await this.nextFrame(ms);
    if (frame.opcode !== OP.text || !frame.fin) throw new Error(`expected a text frame, got ${frame.raw.subarray(0, 16).toString("hex")}`);
    return frame.payload.toString("utf8");
  }

  /** Waits until at least `n` bytes are unread (for exact-byte assertions on what follows). */
  async bytes(n: number, ms = WAIT_MS): Promise<Buffer> {
    await this.until(() => this.buffer.length >= n || this.closed || this.ended, ms, `${n} bytes`);
    const taken = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(taken.length);
    return Buffer.from(taken);
  }

  /** Sends one frame (masked unless told otherwise). */
  send(opcode: number, payload: Buffer | string = Buffer.alloc(0), options: FrameOptions = {}): void {
    this.socket.write(encodeFrame(opcode, payload, options));
  }

  sendText(text: string, options: FrameOptions = {}): void {
    this.send(OP.text, text, options);
  }

  /** Writes raw bytes in one write (several frames coalesced into one TCP segment). */
  write(bytes: Buffer | string): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(bytes, (error) => (error ? reject(error) : resolve())));
  }

  /** Writes `bytes` in pieces of `size`, each in its own write after a short pause, so the server reads them apart. */
  async writeSplit(bytes: Buffer, size = 1, pauseMs = 2): Promise<void> {
    for (let at = 0; at < bytes.length; at += size) {
      await this.write(bytes.subarray(at, at + size));
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  }

  /** Waits until the server has closed the TCP connection (FIN received, or closed). */
  async waitEnd(ms = WAIT_MS): Promise<void> {
    await this.until(() => this.ended || this.closed, ms, "the server to close the connection");
  }

  /** Waits until the socket is fully closed. */
  async waitClosed(ms = WAIT_MS): Promise<void> {
    await this.until(() => this.closed, ms, "the connection to close");
    await this.closedPromise;
  }

  /** Asserts nothing (no byte) arrives for `ms`. Returns the unread bytes (which must be empty). */
  async quietFor(ms: number): Promise<Buffer> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.buffer;
  }

  /**
   * Stops reading and sends 125-byte pings, batch after batch, until `stop()` holds, the socket
   * fails, or `maxBytes` are sent (a client that wants pongs it never reads). Returns the bytes sent.
   */
  async floodPingsWithoutReading(stop: () => boolean, maxBytes: number): Promise<number> {
    this.socket.pause();
    const batch = Buffer.concat(Array.from({ length: 512 }, () => encodeFrame(OP.ping, Buffer.alloc(125, 0x70))));
    let sent = 0;
    while (sent < maxBytes && !stop() && !this.closed) {
      try {
        await this.write(batch);
      } catch {
        break; // the server cut the connection
      }
      sent += batch.length;
    }
    return sent;
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}
