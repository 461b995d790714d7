import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { createServer as createTlsServer, type TlsOptions } from "node:tls";
import type { WheelEntry } from "../core/timer-wheel.js";
import type { PushContext } from "./context.js";
import { CONNECTION, LeanRequest, LeanResponse } from "./lean-response.js";
import { ChunkedBodySkipper, RequestParser, type HeadError, type RequestHead } from "./request-parser.js";

/**
 * The lean subscriber listener (`subscriberParser: "lean"`): node:net or node:tls with pushwire's
 * own request-head parser instead of node:http, for servers whose locations are all subscribers.
 * A held long-poll then costs its socket, one small LeanConnection and one LeanResponse — no
 * IncomingMessage, no parser, no headers object, no timer. It calls the same request and upgrade
 * listeners as node:http would, and reports unparsable requests as node:http's 'clientError'.
 *
 * Requests on a connection are served in order: bytes that arrive while a response is open (a
 * pipelined request) wait and are parsed when it ends. A request body (Content-Length or chunked)
 * is read and dropped, so the connection stays usable.
 */

export interface LeanServerOptions {
  maxHeaderSize: number;
  keepAliveMs: number;
  headersTimeoutMs: number;
  /** Set: TLS (the same options node:https gets). */
  tls?: TlsOptions | undefined;
}

/** A node:net (or node:tls) server with node:http's connection-closing methods. */
export type LeanServer = NetServer & {
  closeIdleConnections(): void;
  closeAllConnections(): void;
  setSecureContext?(options: TlsOptions): void;
};

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/** After our FIN, how long a client may keep its side open before the socket is cut. */
const LINGER_MS = 5000;
/** Pipelined bytes kept while a response is open, in units of maxHeaderSize; past it reading pauses. */
const PENDING_HEADS = 2;
const EMPTY = Buffer.alloc(0);
const CONTINUE_EXPECTED = /(?:^|\W)100-continue(?:$|\W)/i;
const CONTINUE = Buffer.from("HTTP/1.1 100 Continue\r\n\r\n", "latin1");
type LeanSocket = Socket & { [CONNECTION]?: LeanConnection };

/** What every connection of one lean listener shares. */
export class LeanListener {
  /** Open connections, an intrusive list (for closeIdleConnections / closeAllConnections). */
  first: LeanConnection | null = null;

  constructor(
    readonly ctx: PushContext,
    readonly options: LeanServerOptions,
    readonly server: LeanServer,
    readonly onRequest: RequestListener,
  ) {}

  readonly accept = (socket: Socket): void => {
    const connection = new LeanConnection(this, socket as LeanSocket);
    const first = this.first;
    connection.next = first;
    if (first) first.prev = connection;
    this.first = connection;
  };

  unlink(connection: LeanConnection): void {
    const { prev, next } = connection;
    if (prev) prev.next = next;
    else if (this.first === connection) this.first = next;
    if (next) next.prev = prev;
    connection.prev = connection.next = null;
  }

  closeIdle(): void {
    for (let c = this.first; c; ) {
      const next = c.next;
      if (c.idle) c.socket.destroy();
      c = next;
    }
  }

  closeAll(): void {
    for (let c = this.first; c; ) {
      const next = c.next;
      c.socket.destroy();
      c = next;
    }
  }
}

const leanServers = new WeakSet<object>();

/** Whether a listener's server is a lean one (a reload that changes the answer replaces the server). */
export function isLeanServer(server: object): boolean {
  return leanServers.has(server);
}

export function createLeanServer(ctx: PushContext, options: LeanServerOptions, onRequest: RequestListener): LeanServer {
  const server = (options.tls
    ? createTlsServer({ ...options.tls, allowHalfOpen: true, noDelay: true } as TlsOptions)
    : createNetServer({ allowHalfOpen: true, noDelay: true })) as LeanServer;
  const listener = new LeanListener(ctx, options, server, onRequest);
  server.on(options.tls ? "secureConnection" : "connection", listener.accept);
  server.closeIdleConnections = () => listener.closeIdle();
  server.closeAllConnections = () => listener.closeAll();
  leanServers.add(server);
  return server;
}

const enum Timing {
  None,
  /** Waiting for a request head: headersTimeoutMs. */
  Head,
  /** Between requests: keepAliveMs. */
  Idle,
  /** Our FIN is sent: LINGER_MS. */
  Linger,
}

/** One client connection: the parser while a head is arriving, the response while one is open. */
export class LeanConnection implements WheelEntry {
  wheelDeadline = 0;
  wheelNext: WheelEntry | null = null;
  wheelPrev: WheelEntry | null = null;
  wheelSlot = -1;
  prev: LeanConnection | null = null;
  next: LeanConnection | null = null;
  private parser: RequestParser | null = null;
  response: LeanResponse | null = null;
  /** Body bytes of the current request still to be dropped. */
  private skip = 0;
  /** The current request's chunked body, being dropped. */
  private chunkedBody: ChunkedBodySkipper | null = null;
  /** Bytes received while a response was open (pipelined requests). */
  private pending: Buffer | null = null;
  private timing = Timing.None;
  /** No more requests are read: an error was answered, the connection ends or was handed over. */
  private done = false;

  constructor(
    readonly listener: LeanListener,
    readonly socket: LeanSocket,
  ) {
    socket[CONNECTION] = this;
    socket.on("data", onData);
    socket.on("end", onEnd);
    socket.on("close", onClose);
    socket.on("error", ignoreError);
    this.time(Timing.Head);
  }

  /** No request in progress (closeIdleConnections may cut it). */
  get idle(): boolean {
    return this.response === null && !(this.parser?.started ?? false);
  }

  received(chunk: Buffer, from = 0): void {
    let at = from;
    if (this.pending && !this.response) {
      // Pipelined bytes kept during the last response come first.
      chunk = Buffer.concat([this.pending, chunk.subarray(from)]);
      this.pending = null;
      at = 0;
      if (this.socket.isPaused()) this.socket.resume();
    }
    while (at < chunk.length && !this.done) {
      if (this.skip > 0) {
        const dropped = Math.min(this.skip, chunk.length - at);
        this.skip -= dropped;
        at += dropped;
        continue;
      }
      if (this.chunkedBody) {
        const end = this.chunkedBody.feed(chunk, at);
        if (end === -1) return;
        if (typeof end !== "number") {
          // Mid-response, there is no clean way to answer: cut.
          if (this.response) return void this.socket.destroy();
          return this.refuse(end);
        }
        this.chunkedBody = null;
        at = end;
        continue;
      }
      if (this.response) return this.hold(chunk, at);
      const parser = (this.parser ??= new RequestParser(this.listener.options.maxHeaderSize));
      const outcome = parser.feed(chunk, at);
      if (outcome.kind === "incomplete") {
        if (this.timing !== Timing.Head) this.time(Timing.Head);
        return;
      }
      this.parser = null;
      if (outcome.kind === "error") return this.refuse(outcome.error);
      at = outcome.next;
      const head = outcome.head;
      if (head.upgrade || head.method === "CONNECT") return this.upgrade(head, chunk.subarray(at));
      if (head.chunked) this.chunkedBody = new ChunkedBodySkipper(this.listener.options.maxHeaderSize);
      this.skip = head.contentLength;
      this.dispatch(head);
    }
  }

  /** Keeps pipelined bytes until the open response ends; past the cap, stops reading. */
  private hold(chunk: Buffer, at: number): void {
    const rest = chunk.subarray(at);
    this.pending = this.pending ? Buffer.concat([this.pending, rest]) : Buffer.from(rest);
    if (this.pending.length > PENDING_HEADS * this.listener.options.maxHeaderSize) this.socket.pause();
  }

  private dispatch(head: RequestHead): void {
    const { socket, listener } = this;
    this.time(Timing.None);
    const res = new LeanResponse(this, head);
    this.response = res;
    const expect = head.versionMinor === 1 ? head.headers["expect"] : undefined;
    if (expect !== undefined) {
      // As node:http without checkContinue/checkExpectation listeners: 100 Continue, or 417 for any other expectation.
      if (!CONTINUE_EXPECTED.test(expect)) return void res.writeHead(417, ["Content-Length", "0"]).end();
      socket.write(CONTINUE);
    }
    try {
      listener.onRequest(new LeanRequest(head, socket) as unknown as IncomingMessage, res as unknown as ServerResponse);
    } catch (error) {
      // The router answers its own failures; this is the last guard, so one request never takes the process down.
      listener.ctx.log.error(`lean listener: ${(error as Error).stack ?? error}`);
      socket.destroy();
    }
  }

  /** The open response has ended: keep the connection for the next request, or close it. */
  finished(res: LeanResponse, keepAlive: boolean): void {
    if (this.response !== res) return;
    this.response = null;
    if (!keepAlive || this.done || this.listener.ctx.draining || !this.listener.server.listening) return this.close();
    this.time(Timing.Idle);
    if (this.pending) process.nextTick(resumePending, this);
  }

  /** Parses what arrived while the response was open (after the current call stack, never inside a publish). */
  resumePending(): void {
    if (this.pending && !this.response && !this.done) this.received(EMPTY);
  }

  /** No more requests: FIN now, and cut the socket if the client does not close its side soon. */
  close(): void {
    this.done = true;
    this.pending = null;
    if (!this.socket.writableEnded && !this.socket.destroyed) this.socket.end();
    this.time(Timing.Linger);
  }

  /** A head that cannot be served: node:http's client-error path answers it (400/405/431), then we close. */
  private refuse(error: HeadError): void {
    this.done = true;
    this.pending = null;
    this.skip = 0;
    this.chunkedBody = null;
    const { server } = this.listener;
    if (server.listenerCount("clientError") === 0) return void this.socket.destroy();
    server.emit("clientError", clientError(error.code, error.reason, error.requestLine), this.socket);
    this.close();
  }

  /** An upgrade (WebSocket handshake) leaves lean handling: the socket goes to the 'upgrade' listener. */
  private upgrade(head: RequestHead, rest: Buffer): void {
    const { socket, listener } = this;
    this.release();
    socket.removeListener("data", onData);
    socket.removeListener("end", onEnd);
    socket.removeListener("close", onClose);
    socket.removeListener("error", ignoreError);
    socket[CONNECTION] = undefined;
    if (head.method === "CONNECT" || listener.server.listenerCount("upgrade") === 0) return void socket.destroy();
    listener.server.emit("upgrade", new LeanRequest(head, socket), socket, Buffer.from(rest));
  }

  /** Leaves the list and the wheel; nothing more is read. */
  private release(): void {
    this.done = true;
    this.pending = null;
    this.parser = null;
    this.listener.unlink(this);
    this.time(Timing.None);
  }

  /** The socket closed: an open response learns it (a held subscriber is released). */
  closed(): void {
    this.release();
    const res = this.response;
    this.response = null;
    res?.socketClosed();
  }

  ended(): void {
    // As node:http without allowHalfOpen: a client that shuts its side ends the exchange.
    this.done = true;
    if (!this.socket.writableEnded && !this.socket.destroyed) this.socket.end();
    if (this.timing !== Timing.Linger) this.time(Timing.Linger);
  }

  private time(timing: Timing): void {
    const { wheel, clock } = this.listener.ctx;
    this.timing = timing;
    if (timing === Timing.None) return wheel.cancel(this);
    const { options } = this.listener;
    const after = timing === Timing.Head ? options.headersTimeoutMs : timing === Timing.Idle ? options.keepAliveMs : LINGER_MS;
    wheel.schedule(this, clock.now() + after);
  }

  onWheelExpire(): void {
    const timing = this.timing;
    this.timing = Timing.None;
    if (this.response) return;
    if (timing === Timing.Head && this.parser?.started) {
      return this.refuse({ status: 400, code: "HPE_HEADERS_TIMEOUT" as HeadError["code"], reason: "headers timeout", requestLine: undefined });
    }
    this.socket.destroy();
  }
}

function clientError(code: string, reason: string, requestLine: string | undefined): Error {
  return Object.assign(new Error(`Parse Error: ${reason}`), {
    code,
    bytesParsed: 1,
    rawPacket: requestLine === undefined ? undefined : Buffer.from(`${requestLine}\r\n`, "latin1"),
  });
}

function onData(this: LeanSocket, chunk: Buffer): void {
  this[CONNECTION]?.received(chunk);
}

function onEnd(this: LeanSocket): void {
  this[CONNECTION]?.ended();
}

function onClose(this: LeanSocket): void {
  this[CONNECTION]?.closed();
}

function resumePending(connection: LeanConnection): void {
  connection.resumePending();
}

function ignoreError(): void {
  // 'close' follows every socket error; that is where the connection is released.
}
