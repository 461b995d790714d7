import { createHash, randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import type { Socket } from "node:net";
import { encodeFrame, parseFrame } from "./ws-client.js";

/**
 * A browser-style WebSocket for Node 20 (which has no global one), on node:http's upgrade and a
 * small RFC 6455 client framer, so Bitrix's pull client can use its WebSocket connector in a test.
 * What a browser does that the client or pushwire can observe:
 *
 * - handshake with `Origin`, a random `Sec-WebSocket-Key`, and a checked `Sec-WebSocket-Accept`;
 *   a refused handshake is an `error` event then `close` 1006;
 * - client frames are masked; server frames must not be (else the connection fails, 1006);
 * - fragmented messages are reassembled; pings are answered with pongs; text → string `data`,
 *   binary → ArrayBuffer (`binaryType` "arraybuffer", which is what the SDK sets);
 * - a server close frame is echoed, and `close` carries its code and reason (1005 when it had no
 *   code, 1006 when the TCP connection ended without one), `wasClean` accordingly;
 * - `close(code)` accepts only 1000 or 3000–4999, like a browser.
 *
 * Events go through EventTarget (addEventListener) and the on* properties.
 */

export interface WebSocketEnvironment {
  /** The page's origin, sent as `Origin`. */
  origin: string;
  /** Called for each connection's end, for tests to inspect. */
  onClose?: (url: string, code: number, reason: string) => void;
}

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

export class NodeWebSocket extends EventTarget {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  static environment: WebSocketEnvironment | null = null;

  readyState = NodeWebSocket.CONNECTING;
  binaryType: "blob" | "arraybuffer" = "blob";
  readonly url: string;
  readonly protocol = "";
  readonly extensions = "";
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: Event) => void) | null = null;
  onclose: ((event: Event) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;

  private socket: Socket | null = null;
  private buffer: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragmentOpcode = 0;
  private closeSent = false;
  private closeReceived: { code: number; reason: string } | null = null;
  private finished = false;
  private readonly abortHandshake: () => void;

  constructor(url: string) {
    super();
    const env = NodeWebSocket.environment;
    if (!env) throw new Error("NodeWebSocket.environment is not set");
    const target = new URL(url);
    if (target.protocol !== "ws:") throw new SyntaxError(`only ws: URLs are supported here: ${url}`);
    this.url = target.href;
    const key = randomBytes(16).toString("base64");
    const expected = createHash("sha1").update(key + GUID).digest("base64");
    const req = httpRequest({
      host: target.hostname,
      port: target.port || 80,
      path: target.pathname + target.search,
      agent: false,
      headers: {
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Key": key,
        "Sec-WebSocket-Version": "13",
        Origin: env.origin,
      },
    });
    this.abortHandshake = () => req.destroy();
    req.on("upgrade", (res, socket, head) => {
      if (this.finished) return void socket.destroy();
      if (res.statusCode !== 101 || res.headers["sec-websocket-accept"] !== expected) {
        socket.destroy();
        return this.fail();
      }
      this.socket = socket;
      socket.setNoDelay(true);
      socket.on("data", (chunk: Buffer) => this.onData(chunk));
      socket.on("close", () => this.onSocketClosed());
      socket.on("error", () => {});
      this.readyState = NodeWebSocket.OPEN;
      this.emit("open", {});
      if (head.length > 0) this.onData(head);
    });
    req.on("response", (res) => {
      res.resume();
      this.fail();
    });
    req.on("error", () => this.fail());
    req.end();
  }

  send(data: string | ArrayBuffer | Uint8Array): void {
    if (this.readyState === NodeWebSocket.CONNECTING) throw new Error("InvalidStateError: still connecting");
    if (this.readyState !== NodeWebSocket.OPEN) return; // a browser drops it silently (and counts bufferedAmount)
    const text = typeof data === "string";
    const payload = text ? Buffer.from(data) : Buffer.from(data instanceof ArrayBuffer ? new Uint8Array(data) : data);
    this.write(text ? 0x1 : 0x2, payload);
  }

  close(code?: number, reason = ""): void {
    if (code !== undefined && code !== 1000 && (code < 3000 || code > 4999)) {
      throw new Error(`InvalidAccessError: close code ${code}`);
    }
    if (this.readyState === NodeWebSocket.CLOSING || this.readyState === NodeWebSocket.CLOSED) return;
    if (this.readyState === NodeWebSocket.CONNECTING) {
      this.abortHandshake();
      return this.fail();
    }
    this.readyState = NodeWebSocket.CLOSING;
    this.sendClose(code, reason);
    // If the server never answers, give up like a browser's close timeout would.
    setTimeout(() => this.socket?.destroy(), 2000).unref();
  }

  private sendClose(code: number | undefined, reason: string): void {
    if (this.closeSent) return;
    this.closeSent = true;
    let payload = Buffer.alloc(0);
    if (code !== undefined) {
      const text = Buffer.from(reason);
      payload = Buffer.alloc(2 + text.length);
      payload.writeUInt16BE(code, 0);
      text.copy(payload, 2);
    }
    this.write(0x8, payload);
  }

  private write(opcode: number, payload: Buffer): void {
    const socket = this.socket;
    if (!socket || socket.destroyed) return;
    socket.write(encodeFrame(opcode, payload));
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const frame = parseFrame(this.buffer);
      if (!frame) return;
      if (frame.masked) return this.failConnection(); // servers must not mask
      this.buffer = this.buffer.subarray(frame.raw.length);
      this.onFrame(frame.fin, frame.opcode, frame.payload);
      if (this.finished) return;
    }
  }

  private onFrame(fin: boolean, opcode: number, payload: Buffer): void {
    switch (opcode) {
      case 0x0:
        this.fragments.push(Buffer.from(payload));
        if (fin) this.deliver(this.fragmentOpcode, Buffer.concat(this.fragments.splice(0)));
        return;
      case 0x1:
      case 0x2:
        if (fin) return this.deliver(opcode, payload);
        this.fragmentOpcode = opcode;
        this.fragments = [Buffer.from(payload)];
        return;
      case 0x8: {
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        const reason = payload.length > 2 ? payload.subarray(2).toString("utf8") : "";
        this.closeReceived = { code, reason };
        if (!this.closeSent) this.sendClose(payload.length >= 2 ? code : undefined, "");
        this.readyState = NodeWebSocket.CLOSING;
        // The server closes the TCP connection after a close exchange; wait for it.
        setTimeout(() => this.socket?.destroy(), 1000).unref();
        return;
      }
      case 0x9:
        return this.write(0xa, Buffer.from(payload));
      case 0xa:
        return;
      default:
        return this.failConnection();
    }
  }

  private deliver(opcode: number, payload: Buffer): void {
    if (this.readyState !== NodeWebSocket.OPEN) return;
    const data = opcode === 0x1
      ? payload.toString("utf8")
      : payload.buffer.slice(payload.byteOffset, payload.byteOffset + payload.length);
    this.emit("message", { data, origin: new URL(this.url).origin });
  }

  private failConnection(): void {
    this.socket?.destroy();
  }

  private onSocketClosed(): void {
    if (this.finished) return;
    this.finished = true;
    this.readyState = NodeWebSocket.CLOSED;
    const received = this.closeReceived;
    if (!received) this.emit("error", {});
    const code = received ? received.code : 1006;
    const reason = received ? received.reason : "";
    NodeWebSocket.environment?.onClose?.(this.url, code, reason);
    this.emit("close", { code, reason, wasClean: received !== null });
  }

  /** The handshake failed or was aborted: error, then close 1006. */
  private fail(): void {
    if (this.finished) return;
    this.finished = true;
    this.readyState = NodeWebSocket.CLOSED;
    this.emit("error", {});
    NodeWebSocket.environment?.onClose?.(this.url, 1006, "");
    this.emit("close", { code: 1006, reason: "", wasClean: false });
  }

  private emit(type: "open" | "message" | "close" | "error", fields: Record<string, unknown>): void {
    const event = Object.assign(new Event(type), fields);
    const handler = { open: this.onopen, message: this.onmessage, close: this.onclose, error: this.onerror }[type];
    handler?.call(this, event);
    this.dispatchEvent(event);
  }
}
