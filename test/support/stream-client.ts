import { connect, type Socket } from "node:net";
import { headerMap } from "./helpers.js";

/**
 * A raw-socket HTTP/1.x client for responses that stay open (streaming, EventSource): it keeps
 * the exact head, de-chunks the body as bytes arrive and lets a test wait until the body holds
 * some text, with a bounded wait that fails clearly. One connection can carry several requests
 * in turn, so keep-alive after a finished stream can be checked on the same socket.
 */

/** No wait in these tests should need more than this; a longer one fails instead of hanging. */
const DEFAULT_WAIT_MS = 3000;

export interface StreamRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  /** "1.1" (default) or "1.0". */
  httpVersion?: string;
  /** A request body, sent with its Content-Length. */
  body?: string;
}

/** How a response ended. */
export type StreamEnd = "terminator" | "length" | "close";

/** One response on a {@link StreamConnection}, parsed as it arrives. */
export class StreamResponse {
  status = 0;
  /** Lower-cased header names → values. */
  headers = new Map<string, string>();
  /** The head exactly as sent, status line to the blank line (without it). */
  rawHead = "";
  /** Bytes after the head as they came over the wire (chunk sizes and all). */
  rawBody: Buffer = Buffer.alloc(0);
  /** Sizes of the chunks received, in order (chunked responses). */
  readonly chunkSizes: number[] = [];
  /** Set once the response is complete: `0\r\n\r\n`, Content-Length reached, or the socket closed. */
  ended: StreamEnd | undefined;
  /** Why the bytes could not be parsed as HTTP, if they could not (the connection is then cut). */
  framingError: string | undefined;
  private pieces: Buffer[] = [];
  private joined: Buffer | undefined;
  private waiters = new Set<() => void>();

  constructor(readonly label: string) {}

  /** The de-chunked body received so far. */
  get body(): Buffer {
    if (!this.joined) this.joined = Buffer.concat(this.pieces);
    return this.joined;
  }

  /** The body so far as latin1 text (one char per byte, so lengths are byte counts). */
  get text(): string {
    return this.body.toString("latin1");
  }

  get headComplete(): boolean {
    return this.status !== 0;
  }

  /** Waits until the head arrived. */
  head(ms = DEFAULT_WAIT_MS): Promise<this> {
    return this.until(() => this.headComplete, "response head", ms).then(() => this);
  }

  /** Waits until the body contains `needle`; resolves with the body text. */
  untilIncludes(needle: string, ms = DEFAULT_WAIT_MS): Promise<string> {
    return this.until(() => this.text.includes(needle), `body containing ${JSON.stringify(needle)}`, ms);
  }

  /** Waits until the body ends with `suffix`; resolves with the body text. */
  untilEndsWith(suffix: string, ms = DEFAULT_WAIT_MS): Promise<string> {
    return this.until(() => this.text.endsWith(suffix), `body ending with ${JSON.stringify(suffix)}`, ms);
  }

  /** Waits until the body is at least `length` bytes. */
  untilLength(length: number, ms = DEFAULT_WAIT_MS): Promise<string> {
    return this.until(() => this.body.length >= length, `${length} body bytes`, ms);
  }

  /** Waits until the response is complete; resolves with the body text. */
  untilEnd(ms = DEFAULT_WAIT_MS): Promise<string> {
    return this.until(() => this.ended !== undefined, "the end of the response", ms);
  }

  /** Waits until `predicate` holds (checked on every arrival); fails after `ms` showing what came. */
  until(predicate: () => boolean, what: string, ms = DEFAULT_WAIT_MS): Promise<string> {
    if (predicate()) return Promise.resolve(this.text);
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (predicate()) {
          finish();
          resolve(this.text);
        } else if (this.ended !== undefined) {
          // The response is over and the condition never came: fail now rather than at the timeout.
          finish();
          const why = this.framingError ? ` (bad framing: ${this.framingError})` : "";
          reject(new Error(`${this.label}: response ended (${this.ended})${why} without ${what}; head ${JSON.stringify(this.rawHead)}, body ${JSON.stringify(this.text)}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`${this.label}: no ${what} within ${ms} ms; head ${JSON.stringify(this.rawHead)}, body so far ${JSON.stringify(this.text)}`));
      }, ms);
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check(); // the response may be over already
    });
  }

  /** @internal */
  append(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.pieces.push(bytes);
    this.joined = undefined;
  }

  /** @internal */
  notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/**
 * One TCP connection speaking HTTP/1.x. Requests are answered in order; each `send` returns the
 * response that will be parsed from the bytes after the previous response ended.
 */
export class StreamConnection {
  private readonly socket: Socket;
  private readonly queue: StreamResponse[] = [];
  private buffer: Buffer = Buffer.alloc(0);
  /** Parser state of the response at the head of the queue. */
  private state: "head" | "chunk-size" | "chunk-data" | "chunk-crlf" | "trailer" | "length" | "until-close" = "head";
  private remaining = 0;
  private sent = 0;
  /** True once the socket closed (by either side). */
  closed = false;
  readonly closedPromise: Promise<void>;

  constructor(readonly port: number) {
    this.socket = connect(port, "127.0.0.1");
    this.socket.setNoDelay(true);
    this.socket.on("error", () => {});
    this.socket.on("data", (data: Buffer) => this.receive(data));
    this.closedPromise = new Promise((resolve) => {
      this.socket.on("close", () => {
        this.closed = true;
        for (const response of this.queue.splice(0)) {
          response.ended = "close";
          response.notify();
        }
        resolve();
      });
    });
  }

  /** The client's local port (to tell connections apart). */
  get localPort(): number | undefined {
    return this.socket.localPort;
  }

  /** Writes a request and returns its response, which fills in as bytes arrive. */
  send(path: string, options: StreamRequestOptions = {}): StreamResponse {
    const headers: Record<string, string> = { Host: `127.0.0.1:${this.port}`, ...options.headers };
    if (options.body !== undefined) headers["Content-Length"] = String(Buffer.byteLength(options.body));
    const lines = [`${options.method ?? "GET"} ${path} HTTP/${options.httpVersion ?? "1.1"}`];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    const response = new StreamResponse(`${options.method ?? "GET"} ${path} (#${++this.sent} on this connection)`);
    this.queue.push(response);
    this.socket.write(`${lines.join("\r\n")}\r\n\r\n${options.body ?? ""}`);
    return response;
  }

  /** Waits until the server closed the connection (fails after `ms`). */
  async untilClosed(ms = DEFAULT_WAIT_MS): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`connection still open after ${ms} ms`)), ms);
    });
    try {
      await Promise.race([this.closedPromise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops reading from the socket (a client that stalls); the kernel buffers fill, then the server's. */
  pause(): void {
    this.socket.pause();
  }

  /** Reads again after {@link pause}. */
  resume(): void {
    this.socket.resume();
  }

  /** Hangs up (the client going away). */
  close(): void {
    this.socket.destroy();
  }

  private receive(data: Buffer): void {
    this.buffer = this.buffer.length === 0 ? data : Buffer.concat([this.buffer, data]);
    const touched = new Set<StreamResponse>();
    try {
      while (this.queue.length > 0 && this.step(touched));
    } catch (error) {
      // Bad framing from the server: the waiting test fails with the reason instead of crashing the run.
      const current = this.queue[0];
      if (current) current.framingError = (error as Error).message;
      this.socket.destroy();
    }
    for (const response of touched) response.notify();
  }

  /** Parses what it can for the current response; false when more bytes are needed. */
  private step(touched: Set<StreamResponse>): boolean {
    const response = this.queue[0]!;
    touched.add(response);
    switch (this.state) {
      case "head": {
        const end = this.buffer.indexOf("\r\n\r\n");
        if (end < 0) return false;
        response.rawHead = this.buffer.subarray(0, end).toString("latin1");
        const [statusLine, ...lines] = response.rawHead.split("\r\n");
        response.status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine!)?.[1] ?? -1);
        response.headers = headerMap(lines);
        this.consume(end + 4, response, false);
        const length = response.headers.get("content-length");
        if (response.headers.get("transfer-encoding")?.toLowerCase() === "chunked") {
          this.state = "chunk-size";
        } else if (length !== undefined) {
          this.remaining = Number(length);
          this.state = "length";
          if (this.remaining === 0) this.finishCurrent("length");
        } else if (response.status === 304 || response.status === 204 || (response.status >= 100 && response.status < 200)) {
          this.finishCurrent("length");
        } else {
          this.state = "until-close";
        }
        return true;
      }
      case "chunk-size": {
        const end = this.buffer.indexOf("\r\n");
        if (end < 0) return false;
        const size = parseInt(this.buffer.subarray(0, end).toString("latin1"), 16);
        if (!Number.isFinite(size)) throw new Error(`bad chunk size line ${JSON.stringify(this.buffer.subarray(0, end).toString("latin1"))}`);
        this.consume(end + 2, response, true);
        if (size === 0) {
          this.state = "trailer";
        } else {
          response.chunkSizes.push(size);
          this.remaining = size;
          this.state = "chunk-data";
        }
        return true;
      }
      case "chunk-data": {
        if (this.buffer.length === 0) return false;
        const take = Math.min(this.remaining, this.buffer.length);
        response.append(Buffer.from(this.buffer.subarray(0, take)));
        this.consume(take, response, true);
        this.remaining -= take;
        if (this.remaining === 0) this.state = "chunk-crlf";
        return true;
      }
      case "chunk-crlf": {
        if (this.buffer.length < 2) return false;
        if (this.buffer[0] !== 0x0d || this.buffer[1] !== 0x0a) throw new Error("chunk data not followed by CRLF");
        this.consume(2, response, true);
        this.state = "chunk-size";
        return true;
      }
      case "trailer": {
        // No trailers are expected: the terminator is `0\r\n\r\n`.
        if (this.buffer.length < 2) return false;
        if (this.buffer[0] !== 0x0d || this.buffer[1] !== 0x0a) throw new Error(`unexpected trailer ${JSON.stringify(this.buffer.toString("latin1"))}`);
        this.consume(2, response, true);
        this.finishCurrent("terminator");
        return true;
      }
      case "length": {
        if (this.buffer.length === 0) return false;
        const take = Math.min(this.remaining, this.buffer.length);
        response.append(Buffer.from(this.buffer.subarray(0, take)));
        this.consume(take, response, true);
        this.remaining -= take;
        if (this.remaining === 0) this.finishCurrent("length");
        return true;
      }
      case "until-close": {
        if (this.buffer.length === 0) return false;
        response.append(Buffer.from(this.buffer));
        this.consume(this.buffer.length, response, true);
        return false;
      }
    }
  }

  private consume(count: number, response: StreamResponse, isBody: boolean): void {
    if (isBody) response.rawBody = Buffer.concat([response.rawBody, this.buffer.subarray(0, count)]);
    this.buffer = this.buffer.subarray(count);
  }

  private finishCurrent(how: StreamEnd): void {
    const response = this.queue.shift()!;
    response.ended = how;
    this.state = "head";
    response.notify();
  }
}

/** Opens a new connection and sends one GET (or `options.method`) to `path`. */
export function openStream(port: number, path: string, options: StreamRequestOptions = {}): { connection: StreamConnection; response: StreamResponse } {
  const connection = new StreamConnection(port);
  return { connection, response: connection.send(path, options) };
}
