import { createServer as createNetServer, type Socket } from "node:net";
import { createServer as createTlsServer, type TlsOptions } from "node:tls";
import type { WheelEntry } from "../core/timer-wheel.js";
import { answerClientError, closeAfterAnswer, refuseExpectation } from "./client-error.js";
import type { BodyFailure, HttpServer, ListenerContext, Serve } from "./exchange.js";
import { LeanReply, LeanRequest, UpgradeOwner, type LeanOwner } from "./lean-reply.js";
import { ChunkedBodyReader, RequestParser, type BodySink, type HeadError, type RequestHead } from "./request-parser.js";

/**
 * The lean listener: node:net or node:tls with pushwire's own request-head parser instead of
 * node:http. A held long-poll then costs its socket, one small LeanConnection and one LeanReply —
 * no IncomingMessage, no parser, no headers object, no timer. Requests and upgrade requests go to
 * the same `serve` entry as node:http's adapter; unparsable requests are answered here.
 *
 * Requests on a connection are served in order: bytes that arrive while a reply is open (a
 * pipelined request) wait and are parsed when it ends. A request body (Content-Length or chunked)
 * goes to the handler that reads it, or is dropped, so the connection stays usable.
 */

export interface LeanServerOptions {
  maxHeaderSize: number;
  keepAliveMs: number;
  headersTimeoutMs: number;
  /** Set: TLS (the same options node:https gets). */
  tls?: TlsOptions | undefined;
}

/** After our FIN, how long a client may keep its side open before the socket is cut. */
const LINGER_MS = 5000;
/** Pipelined bytes kept while a reply is open, in units of maxHeaderSize; past it reading pauses. */
const PENDING_HEADS = 2;
const EMPTY = Buffer.alloc(0);
const CONTINUE_EXPECTED = /(?:^|\W)100-continue(?:$|\W)/i;
const CONTINUE = Buffer.from("HTTP/1.1 100 Continue\r\n\r\n", "latin1");
const HEADERS_TIMEOUT: HeadError = { status: 408, code: "HPE_HEADERS_TIMEOUT", reason: "headers timeout", requestLine: undefined };
const CONNECTION = Symbol("pushwire.lean");
type LeanSocket = Socket & { [CONNECTION]?: LeanConnection };

/** What every connection of one lean listener shares. */
class LeanListener {
  /** Open connections, an intrusive list (for closeIdleConnections / closeAllConnections). */
  first: LeanConnection | null = null;

  constructor(
    readonly ctx: ListenerContext,
    readonly options: LeanServerOptions,
    readonly server: HttpServer,
    readonly serve: Serve,
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

export function createLeanServer(ctx: ListenerContext, options: LeanServerOptions, serve: Serve): HttpServer {
  const server: HttpServer = Object.assign(
    // The TLS handshake gets the head's time (node's default is 120 s): the head timer only starts after it.
    options.tls
      ? createTlsServer({ ...options.tls, allowHalfOpen: true, noDelay: true, handshakeTimeout: options.headersTimeoutMs })
      : createNetServer({ allowHalfOpen: true, noDelay: true }),
    { closeIdleConnections: (): void => listener.closeIdle(), closeAllConnections: (): void => listener.closeAll() },
  );
  const listener = new LeanListener(ctx, options, server, serve);
  server.on(options.tls ? "secureConnection" : "connection", listener.accept);
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

/** A handler's wish for the current request's body. */
interface BodyRequest {
  limit: number;
  done: (body: Buffer | BodyFailure) => void;
  chunks: Buffer[];
  size: number;
}

/** One client connection: the parser while a head is arriving, the reply while one is open. */
class LeanConnection implements WheelEntry, LeanOwner, BodySink {
  wheelDeadline = 0;
  wheelNext: WheelEntry | null = null;
  wheelPrev: WheelEntry | null = null;
  wheelSlot = -1;
  prev: LeanConnection | null = null;
  next: LeanConnection | null = null;
  private parser: RequestParser | null = null;
  private reply: LeanReply | null = null;
  /** Body bytes of the current request still to come (Content-Length). */
  private remaining = 0;
  /** The current request's chunked body. */
  private chunkedBody: ChunkedBodyReader | null = null;
  /** Where the current request's body goes; null: it is dropped. */
  private body: BodyRequest | null = null;
  /** Bytes received while a reply was open (pipelined requests). */
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
    return this.reply === null && !(this.parser?.started ?? false);
  }

  received(chunk: Buffer, from = 0): void {
    let at = from;
    if (this.pending && !this.reply) {
      // Pipelined bytes kept during the last reply come first.
      chunk = Buffer.concat([this.pending, chunk.subarray(from)]);
      this.pending = null;
      at = 0;
      if (this.socket.isPaused()) this.socket.resume();
    }
    let dispatched = 0;
    try {
      while (at < chunk.length && !this.done) {
        if (this.remaining > 0) {
          const taken = Math.min(this.remaining, chunk.length - at);
          if (this.body) this.bodyData(chunk, at, at + taken);
          this.remaining -= taken;
          at += taken;
          if (this.remaining === 0) this.bodyEnded();
          continue;
        }
        if (this.chunkedBody) {
          const end = this.chunkedBody.feed(chunk, at, this.body ? this : undefined);
          if (end === -1) return;
          if (typeof end !== "number") return this.bodyMalformed(end);
          this.chunkedBody = null;
          at = end;
          this.bodyEnded();
          continue;
        }
        if (this.reply) return this.hold(chunk, at);
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
        if (head.chunked) this.chunkedBody = new ChunkedBodyReader(this.listener.options.maxHeaderSize);
        this.remaining = head.contentLength;
        // Pipelined requests answered at once (publishes in a row): their answers leave in one write.
        if (++dispatched === 2) this.socket.cork();
        this.dispatch(head);
      }
    } finally {
      if (dispatched >= 2) this.socket.uncork();
    }
  }

  /** Keeps pipelined bytes until the open reply ends; past the cap, stops reading. */
  private hold(chunk: Buffer, at: number): void {
    const rest = chunk.subarray(at);
    this.pending = this.pending ? Buffer.concat([this.pending, rest]) : Buffer.from(rest);
    if (this.pending.length > PENDING_HEADS * this.listener.options.maxHeaderSize) this.socket.pause();
  }

  private dispatch(head: RequestHead): void {
    const { socket, listener } = this;
    this.time(Timing.None);
    const reply = new LeanReply(this, head.method, head.versionMinor, head.keepAlive);
    this.reply = reply;
    const expect = head.versionMinor === 1 ? head.headers["expect"] : undefined;
    if (expect !== undefined) {
      // As node:http: 100 Continue, or 417 (with the explain header) for any other expectation.
      if (!CONTINUE_EXPECTED.test(expect)) return refuseExpectation(listener.ctx, reply);
      socket.write(CONTINUE);
    }
    try {
      listener.serve(new LeanRequest(head, this), reply);
    } catch (error) {
      // The router answers its own failures; this is the last guard, so one request never takes the process down.
      listener.ctx.log.error(`lean listener: ${(error as Error).stack ?? error}`);
      socket.destroy();
    }
  }

  keepAliveSeconds(): number | undefined {
    return this.listener.ctx.draining ? undefined : Math.floor(this.listener.options.keepAliveMs / 1000);
  }

  readBody(limit: number, done: (body: Buffer | BodyFailure) => void): void {
    if (this.remaining === 0 && !this.chunkedBody) return done(EMPTY);
    if (this.remaining > limit) return done("too-large");
    this.body = { limit, done, chunks: [], size: 0 };
  }

  bodyData(chunk: Buffer, start: number, end: number): void {
    const body = this.body!;
    body.size += end - start;
    if (body.size > body.limit) {
      this.body = null; // the rest is dropped; the 413 closes the connection
      return body.done("too-large");
    }
    body.chunks.push(chunk.subarray(start, end));
  }

  /** The current request's body is complete: its reader gets its own copy (never a slice of a larger read). */
  private bodyEnded(): void {
    const body = this.body;
    if (!body) return;
    this.body = null;
    body.done(Buffer.concat(body.chunks, body.size));
  }

  /** The open reply has ended: keep the connection for the next request, or close it. */
  finished(reply: LeanReply, keepAlive: boolean): void {
    if (this.reply !== reply) return;
    this.reply = null;
    if (!keepAlive || this.done || this.listener.ctx.draining || !this.listener.server.listening) return this.close();
    this.time(Timing.Idle);
    if (this.pending) process.nextTick(resumePending, this);
  }

  /** Parses what arrived while the reply was open (after the current call stack, never inside a publish). */
  resumePending(): void {
    if (this.pending && !this.reply && !this.done) this.received(EMPTY);
  }

  /** No more requests: FIN now, and cut the socket if the client does not close its side soon. */
  close(): void {
    this.done = true;
    this.pending = null;
    if (!this.socket.writableEnded && !this.socket.destroyed) this.socket.end();
    this.time(Timing.Linger);
  }

  /**
   * The current request's body cannot be read. While nothing of its answer is out, the 400 is its
   * answer (the reply is dropped: a held subscriber lets go). Once the answer began, a second one
   * would be read as the next request's: the connection only closes — a FIN after a finished
   * answer, a cut mid-answer (closed() then tells the reply).
   */
  private bodyMalformed(error: HeadError): void {
    const reply = this.reply;
    if (reply && !reply.headersSent) {
      this.reply = null;
      reply.socketClosed();
      return this.refuse(error);
    }
    this.done = true;
    this.pending = null;
    this.chunkedBody = null;
    closeAfterAnswer(this.listener.ctx, this.socket, error.code, reply === null);
    if (reply === null) this.close();
  }

  /** A head that cannot be served: answered (400/405/408/431), then the connection closes. */
  private refuse(error: HeadError): void {
    this.done = true;
    this.pending = null;
    this.remaining = 0;
    this.chunkedBody = null;
    answerClientError(this.listener.ctx, this.socket, error.status, error.code);
    this.close();
  }

  /** An upgrade request (a WebSocket handshake) leaves lean handling: its socket goes with the request. */
  private upgrade(head: RequestHead, rest: Buffer): void {
    const { socket, listener } = this;
    this.release();
    socket.removeListener("data", onData);
    socket.removeListener("end", onEnd);
    socket.removeListener("close", onClose);
    socket.removeListener("error", ignoreError);
    socket[CONNECTION] = undefined;
    if (head.method === "CONNECT") return void socket.destroy();
    const owner = new UpgradeOwner(socket, Buffer.from(rest));
    try {
      listener.serve(new LeanRequest(head, owner), owner.createReply(head.method, head.versionMinor));
    } catch (error) {
      listener.ctx.log.error(`lean listener: ${(error as Error).stack ?? error}`);
      socket.destroy();
    }
  }

  /** Leaves the list and the wheel; nothing more is read. */
  private release(): void {
    this.done = true;
    this.pending = null;
    this.parser = null;
    this.listener.unlink(this);
    this.time(Timing.None);
  }

  /** The socket closed: an open reply learns it (a held subscriber is released), a body reader too. */
  closed(): void {
    this.release();
    const body = this.body;
    this.body = null;
    body?.done("unreadable");
    const reply = this.reply;
    this.reply = null;
    reply?.socketClosed();
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
    if (this.reply) return;
    if (timing === Timing.Head && this.parser?.started) return this.refuse(HEADERS_TIMEOUT);
    this.socket.destroy();
  }
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
