import { createServer, IncomingMessage, ServerResponse, type ServerOptions } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { TlsOptions } from "node:tls";
import { answerClientError, closeAfterAnswer, refuseExpectation } from "./client-error.js";
import type { BodyFailure, ClientWatcher, Headers, HttpServer, ListenerContext, PushReply, PushRequest, Serve, SharedAnswer } from "./exchange.js";
import { UpgradeOwner } from "./lean-reply.js";

/**
 * The node:http (and node:https) adapter of the contract: node parses, pushwire's handlers see
 * PushRequest and PushReply. Unparsable requests are answered here; an upgrade request is
 * answered over its raw socket by the lean reply, as on the lean listener.
 */

export interface NodeServerOptions {
  maxHeaderSize: number;
  keepAliveMs: number;
  headersTimeoutMs: number;
  /** Set: node:https with these options. */
  tls?: TlsOptions | undefined;
}

/** The response to the latest request on a socket: a parse error while its answer is under way gets no answer of its own. */
const LAST_RESPONSE = Symbol("pushwire.lastResponse");
type ExchangeSocket = Socket & { [LAST_RESPONSE]?: PushResponse };

/** node's response with one extra slot, so one shared 'close' listener finds its reply without a closure per request. */
class PushResponse extends ServerResponse<IncomingMessage> {
  reply: NodeReply | null = null;
}

export function createNodeServer(ctx: ListenerContext, options: NodeServerOptions, serve: Serve): HttpServer {
  const serverOptions: ServerOptions<typeof IncomingMessage, typeof PushResponse> = {
    ServerResponse: PushResponse,
    maxHeaderSize: options.maxHeaderSize,
    keepAliveTimeout: options.keepAliveMs,
    headersTimeout: options.headersTimeoutMs,
    // node checks headersTimeout only this often (30 s by default, so a slow head lived up to twice the timeout)
    connectionsCheckingInterval: Math.min(1000, options.headersTimeoutMs / 4),
    requestTimeout: 0, // holds are timed by the wheel
    requireHostHeader: false, // the router answers it, with an explain header
  };
  const onRequest = (req: IncomingMessage, res: PushResponse): void => {
    (req.socket as ExchangeSocket)[LAST_RESPONSE] = res;
    serve(new NodeRequest(req, false), new NodeReply(res, ctx));
  };
  // A TLS handshake gets the head's time too (node's default is 120 s), as nginx's client_header_timeout covers it.
  const server: HttpServer = options.tls
    ? createHttpsServer({ ...serverOptions, ...options.tls, handshakeTimeout: options.headersTimeoutMs }, onRequest)
    : createServer(serverOptions, onRequest);
  server.on("clientError", (error: NodeClientError, socket: Socket) => answerNodeClientError(ctx, error, socket));
  // Without this listener node answers 417 itself, with no explain header.
  server.on("checkExpectation", (_req: IncomingMessage, res: PushResponse) => refuseExpectation(ctx, new NodeReply(res, ctx)));
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const owner = new UpgradeOwner(socket as Socket, head);
    serve(new NodeRequest(req, true), owner.createReply(req.method ?? "GET", req.httpVersionMinor));
  });
  return server;
}

const EMPTY = Buffer.alloc(0);
/** Sockets whose last answer said `Connection: close`. */
const lastAnswered = new WeakSet<object>();

/** Whether a header list (name, value, name, value…) has `Connection: close`. */
function saysClose(headers: Headers): boolean {
  for (let i = 0; i < headers.length; i += 2) {
    if (String(headers[i]).toLowerCase() === "connection" && String(headers[i + 1]).toLowerCase() === "close") return true;
  }
  return false;
}

class NodeRequest implements PushRequest {
  constructor(
    private readonly req: IncomingMessage,
    readonly upgrade: boolean,
  ) {}

  get method(): string {
    return this.req.method ?? "GET";
  }

  get url(): string {
    return this.req.url ?? "/";
  }

  get versionMajor(): number {
    return this.req.httpVersionMajor;
  }

  get versionMinor(): number {
    return this.req.httpVersionMinor;
  }

  get remoteAddress(): string | undefined {
    return this.req.socket.remoteAddress;
  }

  header(name: string): string | undefined {
    const value = this.req.headers[name];
    return Array.isArray(value) ? value.join(", ") : value;
  }

  readBody(limit: number, done: (body: Buffer | BodyFailure) => void): void {
    const req = this.req;
    if (this.upgrade) return done(EMPTY);
    if (Number(req.headers["content-length"] ?? 0) > limit) return done("too-large");
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on("data", (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        return done("too-large");
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (!failed) done(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    req.on("error", () => {
      if (failed) return;
      failed = true;
      done("unreadable");
    });
  }
}

class NodeReply implements PushReply {
  private watcher: ClientWatcher | null = null;
  private watching = false;
  /** The answer's headers say `Connection: close`. */
  private closes = false;

  constructor(
    private readonly res: PushResponse,
    private readonly ctx: ListenerContext,
  ) {
    res.reply = this;
  }

  get remoteAddress(): string | undefined {
    return this.res.socket?.remoteAddress;
  }

  get headersSent(): boolean {
    return this.res.headersSent;
  }

  get done(): boolean {
    return this.res.writableEnded || this.res.destroyed;
  }

  get backlog(): number {
    return this.res.writableLength;
  }

  send(status: number, headers: Headers, body: readonly Buffer[] = []): void {
    let length = 0;
    for (const piece of body) length += piece.length;
    headers.push("Content-Length", String(length));
    this.res.writeHead(status, headers);
    this.closes ||= saysClose(headers);
    // One write: headers and body leave in the same packet.
    if (body.length === 0) this.res.end();
    else this.res.end(body.length === 1 ? body[0] : Buffer.concat(body, length));
    this.ended();
  }

  sendShared(answer: SharedAnswer): void {
    this.send(answer.status, answer.headers.slice(), answer.body);
  }

  start(status: number, headers: Headers): void {
    this.res.writeHead(status, headers);
    this.closes ||= saysClose(headers);
  }

  write(bytes: Buffer): void {
    this.res.write(bytes);
  }

  flush(): void {
    this.res.flushHeaders();
  }

  end(): void {
    if (this.ctx.draining) this.res.shouldKeepAlive = false;
    this.res.end();
    this.ended();
  }

  /** An answer that closes the connection is the socket's last: nothing node parsed behind it is answered. */
  private ended(): void {
    const socket = this.res.socket;
    if (socket && (this.closes || !this.res.shouldKeepAlive)) lastAnswered.add(socket);
  }

  destroy(): void {
    this.res.destroy();
  }

  hold(watcher: ClientWatcher | null): void {
    this.watcher = watcher;
    if (watcher && !this.watching) {
      this.watching = true;
      this.res.once("close", onResponseClose);
    }
  }

  /** node's 'close' on the response: the client went away unless the reply ended first. */
  closed(): void {
    const watcher = this.watcher;
    if (!watcher) return;
    this.watcher = null;
    watcher.abort();
  }

  takeSocket(): undefined {
    return undefined;
  }

  onEnd(listener: (status: number, answered: boolean) => void): void {
    const res = this.res;
    res.once("close", () => listener(res.statusCode, res.writableFinished));
  }
}

function onResponseClose(this: PushResponse): void {
  this.reply?.closed();
}

export type NodeClientError = NodeJS.ErrnoException & { bytesParsed?: number; rawPacket?: Buffer };

/**
 * A request node:http could not parse: answered with the reason, then closed; nothing else is
 * affected. Unless an answer is already under way: the 400 would be read as that request's
 * answer (or the next one's), so the connection only closes. That is the case when the error is
 * in the body of a request whose answer began, or in a pipelined request while an earlier answer
 * is pending.
 */
function answerNodeClientError(ctx: ListenerContext, error: NodeClientError, socket: ExchangeSocket): void {
  // A pipelined request parsed in the same read as one answered with `Connection: close`: node
  // closes the socket once that answer is out; a second answer would follow the close.
  if (lastAnswered.has(socket)) return;
  if (!socket.writable || (error.bytesParsed === 0 && error.code === "ECONNRESET")) return void socket.destroy();
  const code = error.code ?? error.message;
  const last = socket[LAST_RESPONSE];
  if (last && (last.req.complete ? !last.writableEnded : last.headersSent)) return closeAfterAnswer(ctx, socket, code, last.writableEnded);
  answerClientError(ctx, socket, clientErrorStatus(error), code);
}

/** A request line with a method token we do not know (`FOO / HTTP/1.1`), as opposed to garbage. */
const UNKNOWN_METHOD_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ \S+ HTTP\/\d\.\d\r?$/;

/** The status a node:http parse error is answered with (exported for the parser fuzzer, which compares it with the lean parser's). */
export function clientErrorStatus(error: NodeClientError): number {
  switch (error.code) {
    case "HPE_HEADER_OVERFLOW":
      return 431;
    case "HPE_INVALID_METHOD": {
      const firstLine = error.rawPacket?.toString("latin1").split("\n", 1)[0] ?? "";
      return UNKNOWN_METHOD_LINE.test(firstLine) ? 405 : 400;
    }
    case "ERR_HTTP_REQUEST_TIMEOUT":
    case "HPE_HEADERS_TIMEOUT":
      return 408;
    default:
      return 400;
  }
}
