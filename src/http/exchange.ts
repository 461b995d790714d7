import type { Server as NetServer, Socket } from "node:net";
import type { SecureContextOptions } from "node:tls";
import type { Clock } from "../core/clock.js";
import type { TimerWheel } from "../core/timer-wheel.js";
import type { Logger } from "../log.js";

/**
 * The request/reply contract pushwire owns: what a handler reads of a request and how it
 * answers. Every HTTP stack serves it through one adapter (the lean listener, node:http), so no
 * handler, router or subscriber sees node:http's types.
 */

/** Response headers as a flat [name, value, name, value, …] list: the cheapest form to write. */
export type Headers = string[];

/** Why a request body was not read: larger than the limit (not read further), or the connection failed. */
export type BodyFailure = "too-large" | "unreadable";

export interface PushRequest {
  readonly method: string;
  /** The request target as sent ("/bitrix/sub?CHANNEL_ID=a"). */
  readonly url: string;
  readonly versionMajor: number;
  readonly versionMinor: number;
  readonly remoteAddress: string | undefined;
  /** `Connection: upgrade` with an `Upgrade` header: the reply can hand over its socket (`takeSocket`). */
  readonly upgrade: boolean;
  /** A header by lower-case name; repeated headers joined as node:http joins them. */
  header(name: string): string | undefined;
  /**
   * Reads the whole body, at most `limit` bytes, and calls `done` once with its bytes or the
   * failure. A body over the limit is not read further: answer 413 with `Connection: close`.
   * A request whose handler never asks has its body read and dropped.
   */
  readBody(limit: number, done: (body: Buffer | BodyFailure) => void): void;
}

/** Told when the client goes away before its reply ended. */
export interface ClientWatcher {
  abort(): void;
}

/** The socket of an upgrade request, handed over with the bytes the client sent after its head. */
export interface UpgradedSocket {
  socket: Socket;
  head: Buffer;
}

/**
 * One whole answer given alike to many replies (a message fanned out to held long-polls). A reply
 * that writes its own framing (the lean one) frames it once per wire variant and shares the bytes;
 * `framings` is that reply's cache, which no one else reads.
 */
export class SharedAnswer {
  readonly framings: AnswerFraming[] = [];
  readonly bodyLength: number;

  /** `headers` without Content-Length: each reply adds its own copy with it. */
  constructor(
    readonly status: number,
    readonly headers: Headers,
    readonly body: readonly Buffer[],
  ) {
    let length = 0;
    for (const piece of body) length += piece.length;
    this.bodyLength = length;
  }
}

/** The answer's bytes on the wire for one variant: request kind, Keep-Alive seconds, Date second. */
export interface AnswerFraming {
  readonly variant: number;
  readonly keepAliveSeconds: number | undefined;
  readonly second: number;
  /** The reply's state after writing these bytes (whether the connection closes after them). */
  readonly replyFlags: number;
  readonly bytes: Buffer;
}

export interface PushReply {
  readonly remoteAddress: string | undefined;
  /** The head went out, or waits to leave with the first body bytes: no other answer is possible. */
  readonly headersSent: boolean;
  /** Answered in full, or the connection is gone: nothing more can be written. */
  readonly done: boolean;
  /** Bytes written but not yet taken by the client. */
  readonly backlog: number;
  /** A whole answer: status, headers and the body pieces; Content-Length is added here. */
  send(status: number, headers: Headers, body?: readonly Buffer[]): void;
  /** As `send`, with an answer many replies share: the same bytes, framed once per variant where the reply can. */
  sendShared(answer: SharedAnswer): void;
  /**
   * Starts an answer of unknown length (a stream): chunked on HTTP/1.1, ended by closing the
   * connection on HTTP/1.0. The head leaves with the first write (or `flush`).
   */
  start(status: number, headers: Headers): void;
  write(bytes: Buffer): void;
  /** Sends the head of a started answer now, if nothing was written yet. */
  flush(): void;
  /** Ends a started answer; while the server drains, the connection closes after it. */
  end(): void;
  /** Cuts the connection. */
  destroy(): void;
  /** Until the reply ends, a client that goes away calls `watcher.abort()`; null stops watching. */
  hold(watcher: ClientWatcher | null): void;
  /** An upgrade request's socket, taken over by the caller (a WebSocket); undefined for any other request. */
  takeSocket(): UpgradedSocket | undefined;
  /** Calls `listener` once when the reply is over: with its status, and whether it was answered in full (else the client left). */
  onEnd(listener: (status: number, answered: boolean) => void): void;
}

/** The one entry every adapter calls, for plain and upgrade requests alike. */
export type Serve = (request: PushRequest, reply: PushReply) => void;

/** What a listener needs of the running server. */
export interface ListenerContext {
  readonly wheel: TimerWheel;
  readonly clock: Clock;
  readonly log: Logger;
  /** A graceful stop began: connections close after their answer. */
  readonly draining: boolean;
  readonly metrics: { countRejected(status: number): void };
}

/** A listening server of either stack, with node:http's connection-closing methods. */
export type HttpServer = NetServer & {
  closeIdleConnections(): void;
  closeAllConnections(): void;
  setSecureContext?(options: SecureContextOptions): void;
};
