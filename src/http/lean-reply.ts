import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { AnswerFraming, BodyFailure, ClientWatcher, Headers, PushReply, PushRequest, SharedAnswer, UpgradedSocket } from "./exchange.js";
import type { RequestHead } from "./request-parser.js";

/**
 * The lean listener's side of the contract: a request read by pushwire's own parser and a reply
 * written straight to the socket, with node:http's framing on the wire (Date, Connection /
 * Keep-Alive, chunked bodies for streams on HTTP/1.1, close-delimited ones on 1.0). Also what
 * answers an upgrade request on either stack, over its raw socket.
 */

/** Whom a lean request and reply belong to: a kept-alive connection, or an upgrade socket answered once. */
export interface LeanOwner {
  readonly socket: Socket;
  /** The Keep-Alive timeout to announce in seconds, or undefined: the connection closes after this reply. */
  keepAliveSeconds(): number | undefined;
  /** The reply ended: keep the connection for the next request (`keepAlive`), or close it. */
  finished(reply: LeanReply, keepAlive: boolean): void;
  readBody(limit: number, done: (body: Buffer | BodyFailure) => void): void;
  /** Only an upgrade request's owner hands its socket over. */
  takeSocket?(): UpgradedSocket;
}

/** The request: the parsed head and its owner; nothing else is kept. */
export class LeanRequest implements PushRequest {
  readonly method: string;
  readonly url: string;
  readonly versionMajor: number;
  readonly versionMinor: number;
  readonly upgrade: boolean;
  private readonly headers: Record<string, string>;

  constructor(head: RequestHead, private readonly owner: LeanOwner) {
    this.method = head.method;
    this.url = head.url;
    this.versionMajor = head.versionMajor;
    this.versionMinor = head.versionMinor;
    this.upgrade = head.upgrade;
    this.headers = head.headers;
  }

  get remoteAddress(): string | undefined {
    return this.owner.socket.remoteAddress;
  }

  header(name: string): string | undefined {
    return this.headers[name];
  }

  readBody(limit: number, done: (body: Buffer | BodyFailure) => void): void {
    this.owner.readBody(limit, done);
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * The owner of an upgrade request's socket (a WebSocket handshake, on either stack): the reply
 * answers once with `Connection: close` and ends the socket, unless a handler takes it over.
 */
export class UpgradeOwner implements LeanOwner {
  /** The reply being given over this socket, told when the client goes away first. */
  private reply: LeanReply | null = null;

  constructor(
    readonly socket: Socket,
    private readonly head: Buffer,
  ) {
    socket.on("error", ignoreError);
    // The server allows half-open sockets and, after an upgrade, no longer closes them for us.
    socket.once("end", endSocket);
    (socket as UpgradeSocket)[UPGRADE_OWNER] = this;
    socket.once("close", upgradeSocketClosed);
  }

  /** The one reply to the upgrade request. */
  createReply(method: string, versionMinor: number): LeanReply {
    return (this.reply = new LeanReply(this, method, versionMinor, false));
  }

  keepAliveSeconds(): undefined {
    return undefined;
  }

  finished(): void {
    this.socket.end();
  }

  /** After an upgrade no body is read (the router refuses an upgrade request that has one). */
  readBody(_limit: number, done: (body: Buffer) => void): void {
    done(EMPTY);
  }

  takeSocket(): UpgradedSocket {
    const socket = this.socket;
    socket.removeListener("close", upgradeSocketClosed);
    (socket as UpgradeSocket)[UPGRADE_OWNER] = undefined;
    this.reply = null;
    return { socket, head: this.head };
  }

  closed(): void {
    const reply = this.reply;
    this.reply = null;
    reply?.socketClosed();
  }
}

const UPGRADE_OWNER = Symbol("pushwire.upgradeOwner");
type UpgradeSocket = Socket & { [UPGRADE_OWNER]?: UpgradeOwner | undefined };

/** One shared 'close' listener: a held reply over an upgrade socket (a long-poll, a stream) learns its client left. */
function upgradeSocketClosed(this: UpgradeSocket): void {
  const owner = this[UPGRADE_OWNER];
  this[UPGRADE_OWNER] = undefined;
  owner?.closed();
}

function endSocket(this: Socket): void {
  this.end();
}

function ignoreError(): void {
  // a reset during an upgrade: 'close' follows and releases whatever was attached
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const LAST_CHUNK = Buffer.from("0\r\n\r\n", "latin1");

// Flags, one small integer instead of several booleans.
const HEAD_REQUEST = 1;
const HTTP_1_0 = 2;
const NO_BODY = 4;
const CHUNKED = 8;
/** The connection ends after this reply (Connection: close was sent). */
const LAST = 16;
const ENDED = 32;
const DESTROYED = 64;
/** The socket was handed over (an upgrade): the reply writes nothing more. */
const TAKEN = 128;

type EndListener = (status: number, answered: boolean) => void;

/**
 * One reply. Until the first write its head waits as text; then head and first body bytes leave
 * in one socket write.
 */
export class LeanReply implements PushReply {
  /** The owner until the reply ends (then null: the connection may serve the next request). */
  private owner: LeanOwner | null;
  private flags: number;
  private head: string | null = null;
  private status = 200;
  private headWritten = false;
  private readonly keepAlive: boolean;
  private watcher: ClientWatcher | null = null;
  private endListener: EndListener | null = null;

  constructor(owner: LeanOwner, method: string, versionMinor: number, keepAlive: boolean) {
    this.owner = owner;
    this.keepAlive = keepAlive;
    this.flags = (method === "HEAD" ? HEAD_REQUEST : 0) | (versionMinor === 0 ? HTTP_1_0 : 0);
  }

  get remoteAddress(): string | undefined {
    return this.owner?.socket.remoteAddress;
  }

  get headersSent(): boolean {
    return this.headWritten || this.head !== null || (this.flags & TAKEN) !== 0;
  }

  get done(): boolean {
    return (this.flags & (ENDED | DESTROYED | TAKEN)) !== 0;
  }

  get backlog(): number {
    return this.owner?.socket.writableLength ?? 0;
  }

  send(status: number, headers: Headers, body: readonly Buffer[] = []): void {
    let length = 0;
    for (const piece of body) length += piece.length;
    headers.push("Content-Length", String(length));
    this.writeHead(status, headers);
    this.finish(body, length);
  }

  sendShared(answer: SharedAnswer): void {
    if (this.headersSent) throw new Error("Cannot write headers after they are sent to the client");
    const variant = this.flags & (HEAD_REQUEST | HTTP_1_0);
    const keepAliveSeconds = this.keepAlive ? this.owner?.keepAliveSeconds() : undefined;
    const second = Math.floor(Date.now() / 1000);
    const framing = findFraming(answer.framings, variant, keepAliveSeconds, second) ?? this.frame(answer, variant, keepAliveSeconds, second);
    this.status = answer.status;
    this.flags = framing.replyFlags | ENDED;
    this.headWritten = true;
    const socket = this.owner?.socket;
    if (socket && !socket.destroyed) socket.write(framing.bytes);
    this.over();
  }

  start(status: number, headers: Headers): void {
    this.writeHead(status, headers);
  }

  write(bytes: Buffer): void {
    if (this.done) return;
    if (this.head === null && !this.headWritten) this.writeHead(this.status, []);
    this.transmit(bytes, false);
  }

  flush(): void {
    if (this.head !== null) this.transmit(null, false);
  }

  end(): void {
    if (this.done) return;
    if (this.head === null && !this.headWritten) this.writeHead(this.status, ["Content-Length", "0"]);
    this.finish(null, 0);
  }

  destroy(): void {
    if (this.flags & (DESTROYED | TAKEN)) return;
    this.flags |= DESTROYED;
    this.owner?.socket.destroy();
  }

  hold(watcher: ClientWatcher | null): void {
    this.watcher = watcher;
  }

  takeSocket(): UpgradedSocket | undefined {
    const owner = this.owner;
    if (!owner?.takeSocket || this.headersSent) return undefined;
    this.flags |= TAKEN;
    this.owner = null;
    return owner.takeSocket();
  }

  onEnd(listener: EndListener): void {
    this.endListener = listener;
  }

  /** The socket closed before the reply ended: a held watcher and the end listener learn it. */
  socketClosed(): void {
    this.owner = null;
    if (this.flags & ENDED) return;
    this.flags |= DESTROYED;
    const watcher = this.watcher;
    this.watcher = null;
    watcher?.abort();
    const listener = this.endListener;
    this.endListener = null;
    listener?.(this.status, false);
  }

  /** Headers as a flat [name, value, …] list; throws on names and values node:http refuses (never a split response). */
  private writeHead(status: number, headers: Headers, second = Math.floor(Date.now() / 1000)): void {
    if (this.headersSent) throw new Error("Cannot write headers after they are sent to the client");
    this.status = status;
    let text = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "unknown"}\r\n`;
    let contentLength = false;
    let connection = false;
    let date = false;
    let transferEncoding = false;
    let flags = this.flags;
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const name = headers[i]!;
      const value = headers[i + 1]!;
      // As node:http: a value with CR, LF or another control character (a percent-decoded CORS origin, say) is an error.
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
    if (!date) text += `Date: ${httpDate(second)}\r\n`;
    if (status === 204 || status === 304 || (status >= 100 && status < 200) || flags & HEAD_REQUEST) flags |= NO_BODY;
    // A body of unknown length: chunked on HTTP/1.1, delimited by closing the connection on 1.0.
    const streamed = !(flags & NO_BODY) && !contentLength && !transferEncoding;
    if (streamed && flags & HTTP_1_0) flags |= LAST;
    if (!connection) {
      const seconds = this.keepAlive && !(flags & LAST) ? this.owner?.keepAliveSeconds() : undefined;
      if (seconds !== undefined) {
        text += `Connection: keep-alive\r\nKeep-Alive: timeout=${seconds}\r\n`;
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
  }

  /** Frames a shared answer for this reply's variant and keeps the bytes for the next reply like it. */
  private frame(answer: SharedAnswer, variant: number, keepAliveSeconds: number | undefined, second: number): AnswerFraming {
    const headers = answer.headers.slice();
    headers.push("Content-Length", String(answer.bodyLength));
    this.writeHead(answer.status, headers, second);
    const head = this.head!;
    this.head = null;
    const size = this.flags & NO_BODY ? 0 : answer.bodyLength;
    const bytes = Buffer.allocUnsafe(head.length + size);
    let at = bytes.write(head, 0, "latin1");
    if (size > 0) for (const piece of answer.body) at += piece.copy(bytes, at);
    const framings = answer.framings;
    // Only the current second's framings can serve again.
    if (framings.length > 0 && framings[0]!.second !== second) framings.length = 0;
    const framing = { variant, keepAliveSeconds, second, replyFlags: this.flags, bytes };
    framings.push(framing);
    return framing;
  }

  /** The last bytes of the reply, then the owner keeps or closes the connection. */
  private finish(body: readonly Buffer[] | null, length: number): void {
    this.flags |= ENDED;
    if (!(this.flags & DESTROYED)) this.transmit(body, true, length);
    this.over();
  }

  /** The reply ended: the owner keeps or closes the connection, the end listener learns it. */
  private over(): void {
    const owner = this.owner;
    this.owner = null;
    owner?.finished(this, !(this.flags & LAST) && this.keepAlive);
    const listener = this.endListener;
    if (listener) {
      this.endListener = null;
      process.nextTick(listener, this.status, true);
    }
  }

  /** One socket write: the head if still waiting, then the body bytes (framed when chunked). */
  private transmit(body: Buffer | readonly Buffer[] | null, last: boolean, length = body === null ? 0 : (body as Buffer).length): boolean {
    const socket = this.owner?.socket;
    if (!socket || socket.destroyed) return false;
    const flags = this.flags;
    const head = this.head;
    const size = flags & NO_BODY ? 0 : length;
    const chunked = (flags & CHUNKED) !== 0;
    const frame = chunked && size > 0 ? `${size.toString(16)}\r\n` : "";
    const tail = chunked && last ? LAST_CHUNK : null;
    if (head === null && frame === "" && tail === null && Buffer.isBuffer(body)) return size > 0 ? socket.write(body) : true;
    const headLength = head === null ? 0 : head.length;
    const bytes = Buffer.allocUnsafe(headLength + frame.length + size + (chunked && size > 0 ? 2 : 0) + (tail ? tail.length : 0));
    let at = head === null ? 0 : bytes.write(head, 0, "latin1");
    if (frame) at += bytes.write(frame, at, "latin1");
    if (size > 0) {
      if (Buffer.isBuffer(body)) at += body.copy(bytes, at);
      else for (const piece of body!) at += piece.copy(bytes, at);
    }
    if (chunked && size > 0) at += bytes.write("\r\n", at, "latin1");
    if (tail) tail.copy(bytes, at);
    if (head !== null) {
      this.head = null;
      this.headWritten = true;
    }
    return socket.write(bytes);
  }
}

let dateSecond = -1;
let dateText = "";

function findFraming(framings: readonly AnswerFraming[], variant: number, keepAliveSeconds: number | undefined, second: number): AnswerFraming | undefined {
  for (let i = 0; i < framings.length; i++) {
    const framing = framings[i]!;
    if (framing.variant === variant && framing.keepAliveSeconds === keepAliveSeconds && framing.second === second) return framing;
  }
  return undefined;
}

/** node:http's Date header for a second since the epoch, rendered once a second. */
function httpDate(second: number): string {
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second * 1000).toUTCString();
  }
  return dateText;
}
