import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { Held } from "./context.js";
import type { LeanConnection } from "./lean-server.js";
import type { RequestHead } from "./request-parser.js";
import type { ServerMetrics } from "./server-metrics.js";

/**
 * The request and response objects of the lean listener: exactly the part of node:http's
 * IncomingMessage and ServerResponse (with PushResponse's slots) that pushwire's subscriber
 * handlers, the router and the access log use, with node:http's framing on the wire (Date,
 * Connection / Keep-Alive, chunked bodies for streams on HTTP/1.1, close-delimited ones on 1.0).
 */

/** The request: the parsed head and the socket; nothing else is kept. */
export class LeanRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly httpVersionMajor: number;
  readonly httpVersionMinor: number;
  readonly complete = true;
  readonly aborted = false;

  constructor(head: RequestHead, readonly socket: Socket) {
    this.method = head.method;
    this.url = head.url;
    this.headers = head.headers;
    this.httpVersionMajor = head.versionMajor;
    this.httpVersionMinor = head.versionMinor;
  }

  get httpVersion(): string {
    return `${this.httpVersionMajor}.${this.httpVersionMinor}`;
  }
}

type Listener = (this: LeanResponse) => void;

/** The socket's slot for its LeanConnection. */
export const CONNECTION = Symbol("pushwire.lean");
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const LAST_CHUNK = Buffer.from("0\r\n\r\n", "latin1");

// Flags, one small integer instead of several booleans.
const HEAD_REQUEST = 1;
const HTTP_1_0 = 2;
const NO_BODY = 4;
const CHUNKED = 8;
/** The connection ends after this response (Connection: close was sent). */
const LAST = 16;
const CLOSE_EMITTED = 32;
const DESTROYED = 64;

/**
 * One response. Until the first write its head waits as text; then head and first body bytes
 * leave in one socket write.
 */
export class LeanResponse {
  /** PushResponse's slots. */
  held: Held | null = null;
  upgradeHead: Buffer | null = null;
  metrics: ServerMetrics | null = null;
  statusCode = 200;
  shouldKeepAlive: boolean;
  headersSent = false;
  writableEnded = false;
  /** The connection until the response ends (then null, as node:http detaches the socket). */
  private connection: LeanConnection | null;
  private flags: number;
  private head: string | null = null;
  /** A lone 'close' listener (the usual case: a held subscriber's), or [event, listener, …]. */
  private listeners: Listener | Array<string | Listener> | null = null;

  constructor(connection: LeanConnection, head: RequestHead) {
    this.connection = connection;
    this.shouldKeepAlive = head.keepAlive;
    this.flags = (head.method === "HEAD" ? HEAD_REQUEST : 0) | (head.versionMinor === 0 ? HTTP_1_0 : 0);
  }

  get socket(): Socket | null {
    return this.connection?.socket ?? null;
  }

  get writableFinished(): boolean {
    return this.writableEnded && !(this.flags & DESTROYED);
  }

  get destroyed(): boolean {
    return (this.flags & DESTROYED) !== 0;
  }

  get writableLength(): number {
    return this.socket?.writableLength ?? 0;
  }

  get finished(): boolean {
    return this.writableEnded;
  }

  /** Headers as a flat [name, value, …] array (what pushwire's handlers pass) or an object. */
  writeHead(status: number, headers?: string[] | Record<string, string | number>): this {
    if (this.headersSent || this.head !== null) throw new Error("Cannot write headers after they are sent to the client");
    this.statusCode = status;
    const flat: Array<string | number> = Array.isArray(headers) ? headers : headers ? Object.entries(headers).flat() : [];
    let text = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "unknown"}\r\n`;
    let contentLength = false;
    let connection = false;
    let date = false;
    let transferEncoding = false;
    let flags = this.flags;
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const name = String(flat[i]);
      const value = String(flat[i + 1]);
      // As node:http: a value with CR, LF or another control character (a percent-decoded CORS origin, say) is an error, never a split response.
      if (!HEADER_NAME.test(name)) throw new TypeError(`Invalid header name: ${JSON.stringify(name)}`);
      if (INVALID_VALUE.test(value)) throw new TypeError(`Invalid character in header content ${JSON.stringify(name)}`);
      text += `${name}: ${value}\r\n`;
      switch (name.length) {
        case 4:
          if (name.toLowerCase() === "date") date = true;
          break;
        case 10:
          if (name.toLowerCase() === "connection") {
            connection = true;
            if (/(?:^|\W)close(?:$|\W)/i.test(value)) flags |= LAST;
          }
          break;
        case 14:
          if (name.toLowerCase() === "content-length") contentLength = true;
          break;
        case 17:
          if (name.toLowerCase() === "transfer-encoding") transferEncoding = true;
          break;
      }
    }
    if (!date) text += `Date: ${httpDate()}\r\n`;
    if (status === 204 || status === 304 || (status >= 100 && status < 200) || flags & HEAD_REQUEST) flags |= NO_BODY;
    // A body of unknown length: chunked on HTTP/1.1, delimited by closing the connection on 1.0.
    const streamed = !(flags & NO_BODY) && !contentLength && !transferEncoding;
    if (streamed && flags & HTTP_1_0) flags |= LAST;
    if (!connection) {
      const listener = this.connection?.listener;
      if (this.shouldKeepAlive && !(flags & LAST) && listener && !listener.ctx.draining) {
        text += `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(listener.options.keepAliveMs / 1000)}\r\n`;
      } else {
        flags |= LAST;
        text += "Connection: close\r\n";
      }
    }
    if (streamed && !(flags & HTTP_1_0)) {
      flags |= CHUNKED;
      text += "Transfer-Encoding: chunked\r\n";
    }
    this.flags = flags;
    this.head = `${text}\r\n`;
    return this;
  }

  /** Sends the head now (a stream with nothing to say yet). */
  flushHeaders(): void {
    if (this.head === null && !this.headersSent) this.writeHead(this.statusCode);
    this.send(null, false);
  }

  write(chunk: Buffer | string): boolean {
    if (this.writableEnded || this.flags & DESTROYED) return false;
    if (this.head === null && !this.headersSent) this.writeHead(this.statusCode);
    return this.send(typeof chunk === "string" ? Buffer.from(chunk) : chunk, false);
  }

  end(chunk?: Buffer | string): this {
    if (this.writableEnded) return this;
    if (this.head === null && !this.headersSent) {
      // node:http's implicit head: the length is known now.
      const length = chunk === undefined ? 0 : Buffer.byteLength(chunk);
      this.writeHead(this.statusCode, ["Content-Length", String(length)]);
    }
    this.writableEnded = true;
    if (!(this.flags & DESTROYED)) this.send(chunk === undefined ? null : typeof chunk === "string" ? Buffer.from(chunk) : chunk, true);
    const connection = this.connection;
    this.connection = null;
    connection?.finished(this, !(this.flags & LAST) && this.shouldKeepAlive);
    this.emitLater("finish");
    this.emitLater("close");
    return this;
  }

  destroy(): this {
    if (this.flags & DESTROYED) return this;
    this.flags |= DESTROYED;
    this.socket?.destroy();
    return this;
  }

  /** A response has one socket until it ends; node's detach. */
  detachSocket(_socket: Socket): void {
    this.connection = null;
  }

  /** Only 'close' and 'finish' are emitted, each once. */
  once(event: string, listener: Listener): this {
    if (event !== "close" && event !== "finish") return this;
    const listeners = this.listeners;
    if (listeners === null && event === "close") this.listeners = listener;
    else if (Array.isArray(listeners)) listeners.push(event, listener);
    else this.listeners = listeners ? ["close", listeners, event, listener] : [event, listener];
    return this;
  }

  on(event: string, listener: Listener): this {
    return this.once(event, listener);
  }

  /** The socket closed before the response ended: it is destroyed; 'close' listeners learn it. */
  socketClosed(): void {
    this.connection = null;
    if (this.writableEnded) return;
    this.flags |= DESTROYED;
    this.emit("close");
  }

  /** One write: the head if still waiting, then the body bytes (framed when chunked). */
  private send(body: Buffer | null, last: boolean): boolean {
    const socket = this.socket;
    if (!socket || socket.destroyed) return false;
    const flags = this.flags;
    const head = this.head;
    if (flags & NO_BODY) body = null;
    const chunked = (flags & CHUNKED) !== 0;
    const size = body && body.length > 0 ? body.length : 0;
    const frame = chunked && size > 0 ? `${size.toString(16)}\r\n` : "";
    const tail = chunked && last ? LAST_CHUNK : null;
    if (head === null && frame === "" && tail === null) return size > 0 ? socket.write(body!) : true;
    const headLength = head === null ? 0 : head.length;
    const length = headLength + frame.length + size + (chunked && size > 0 ? 2 : 0) + (tail ? tail.length : 0);
    const bytes = Buffer.allocUnsafe(length);
    let at = head === null ? 0 : bytes.write(head, 0, "latin1");
    if (frame) at += bytes.write(frame, at, "latin1");
    if (size > 0) at += body!.copy(bytes, at);
    if (chunked && size > 0) at += bytes.write("\r\n", at, "latin1");
    if (tail) tail.copy(bytes, at);
    if (head !== null) {
      this.head = null;
      this.headersSent = true;
    }
    return socket.write(bytes);
  }

  private emitLater(event: "finish" | "close"): void {
    const listeners = this.listeners;
    if (listeners === null || (typeof listeners === "function" ? event !== "close" : !listeners.includes(event))) return;
    process.nextTick(emitNT, this, event);
  }

  private emit(event: string): void {
    if (event === "close") {
      if (this.flags & CLOSE_EMITTED) return;
      this.flags |= CLOSE_EMITTED;
    }
    const listeners = this.listeners;
    if (!listeners) return;
    if (typeof listeners === "function") {
      if (event !== "close") return;
      this.listeners = null;
      return listeners.call(this);
    }
    for (let i = 0; i < listeners.length; i += 2) {
      if (listeners[i] !== event) continue;
      const listener = listeners[i + 1] as Listener;
      listeners[i] = "";
      listener.call(this);
    }
  }

  /** @internal for emitNT */
  fire(event: string): void {
    this.emit(event);
  }
}

function emitNT(res: LeanResponse, event: string): void {
  res.fire(event);
}

let dateSecond = -1;
let dateText = "";

/** node:http's Date header, rendered once a second. */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second * 1000).toUTCString();
  }
  return dateText;
}
