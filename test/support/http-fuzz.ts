import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { Duplex } from "node:stream";
import { clientErrorStatus, type NodeClientError } from "../../src/http/node-listener.js";
import { ChunkedBodyReader, RequestParser, type BodySink } from "../../src/http/request-parser.js";
import type { Prng } from "./prng.js";

/**
 * The HTTP request fuzzer's parts: a grammar of requests (valid, nearly valid, hostile), node's
 * llhttp as the oracle (a node:http server fed the bytes through an in-memory socket), and what
 * pushwire's lean parser and body reader make of the same bytes, framed as the lean listener
 * frames them (src/http/lean-listener.ts): pipelined requests, Content-Length and chunked bodies,
 * a stop after an upgrade, an error or a request that does not keep the connection.
 */

/** What one side made of a byte stream, request by request. */
export type HttpEvent = RequestEvent | ErrorEvent;

/** A refusal: the status it is answered with, and pushwire's reason (llhttp's code for node). */
export interface ErrorEvent {
  kind: "error";
  status: number;
  code: string;
  reason: string;
}

/** A request head (and its body) one side read. */
export interface RequestEvent {
  kind: "request" | "upgrade";
  method: string;
  url: string;
  version: string;
  headers: Record<string, string>;
  keepAlive: boolean;
  /** Body bytes as latin1 (what arrived of it), and whether it ended. Not read for an upgrade. */
  body: string;
  complete: boolean;
}

// --- the grammar

const METHODS = ["GET", "GET", "GET", "POST", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PURGE", "M-SEARCH", "CONNECT", "PATCH", "TRACE", "SOURCE"];
const ODD_METHODS = ["get", "FOO", "G", "GETT", "BREW", "", "GET\0", "G\tET", "PRI", "HTTP/1.1", "\x16\x03\x01"];
const TARGETS = ["/", "/bitrix/sub?CHANNEL_ID=a&tag=1", "/bitrix/pub/?CHANNEL_ID=a", "*", "http://h/a?b", "/a%20b", "/?x=%FF", "//a", "/a#frag", "/ws/abc"];
const VERSIONS = ["HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/0.9", "HTTP/2.0", "HTTP/1.2", "http/1.1", "HTTP/1.1 ", "HTTP/1.", "HTTP/11", "HTTP/1.1\t", ""];
const EOLS = ["\r\n", "\r\n", "\r\n", "\r\n", "\r\n", "\r\n", "\n", "\r", "\r\r\n", "\n\r"];
const NAMES = [
  "Host", "Content-Length", "Transfer-Encoding", "Connection", "Upgrade", "Expect", "Cookie", "Set-Cookie", "X-Y",
  "User-Agent", "If-None-Match", "If-Modified-Since", "Sec-WebSocket-Key", "Content-Type", "Authorization", "Referer",
  "content-length", "TRANSFER-ENCODING", "connection", "Proxy-Connection", "Keep-Alive", "Trailer", "TE",
];
const ODD_NAMES = ["", "X Y", "X(Y", "X\0Y", "\x80", "Content-Length ", " Host", "X-\xff", "Transfer_Encoding", "Content-Length\t"];
const VALUES: Record<string, string[]> = {
  "content-length": ["0", "1", "3", "5", "10", "abc", "-1", "+1", "1, 1", "", " 3", "3 ", "0x10", "99999999999999999999", "007", "1.0"],
  "transfer-encoding": ["chunked", "chunked", "gzip, chunked", "chunked, gzip", "identity", "Chunked", "chunked ", "xchunked", "chunked, chunked", ",chunked", ""],
  connection: ["close", "keep-alive", "upgrade", "Upgrade", "keep-alive, Upgrade", "close, upgrade", "Keep-Alive", "foo", "", "closed"],
  upgrade: ["websocket", "h2c", "WebSocket", ""],
  expect: ["100-continue", "100-Continue", "200-ok", ""],
};
const FREE_VALUES = ["x", "", "a b", "\ta\t", "é", "\xe9t\xe9", "a\x01b", "a\0b", "a\x7fb", "a\rb", "v ", " v", "1", "W/\"1\"", "a;b=c", "=?utf-8?q?x?="];

function headerValue(rng: Prng, name: string): string {
  const known = VALUES[name.toLowerCase()];
  if (known && rng.chance(0.85)) return rng.pick(known);
  if (rng.chance(0.1)) return rng.bytes(rng.between(1, 12)).toString("latin1");
  return rng.pick(FREE_VALUES);
}

/** A chunked body: sizes in hex (some wrong), extensions, data, trailers. */
function chunkedBody(rng: Prng): string {
  let body = "";
  for (let n = rng.below(4); n > 0; n--) {
    const size = rng.below(20);
    let sizeText = size.toString(16);
    if (rng.chance(0.2)) sizeText = sizeText.toUpperCase().padStart(rng.between(1, 5), "0");
    if (rng.chance(0.05)) sizeText = rng.pick(["", "x", "-1", "1 1", "fffffffffffffff"]);
    const extension = rng.chance(0.15) ? rng.pick([";a=b", "; a", ";", " ;x", "\t"]) : "";
    let data = "d".repeat(size);
    if (rng.chance(0.05)) data = data.slice(0, -1) || "dd";
    body += `${sizeText}${extension}${rng.pick(EOLS)}${data}${rng.pick(EOLS)}`;
  }
  body += `0${rng.chance(0.1) ? ";e" : ""}${rng.pick(EOLS)}`;
  if (rng.chance(0.2)) body += `X-Trailer: ${rng.pick(FREE_VALUES)}${rng.pick(EOLS)}`;
  body += rng.chance(0.9) ? rng.pick(EOLS) : "";
  return body;
}

function oneRequest(rng: Prng): string {
  const method = rng.chance(0.9) ? rng.pick(METHODS) : rng.pick(ODD_METHODS);
  const target = rng.chance(0.9) ? rng.pick(TARGETS) : rng.bytes(rng.between(1, 8)).toString("latin1");
  const version = rng.pick(VERSIONS);
  const space = (): string => (rng.chance(0.95) ? " " : rng.pick(["  ", "\t", ""]));
  let text = rng.chance(0.05) ? rng.pick(EOLS) : "";
  text += version === "" && rng.chance(0.5) ? `${method}${space()}${target}` : `${method}${space()}${target}${space()}${version}`;
  text += rng.pick(EOLS);
  let contentLength: number | undefined;
  let chunked = false;
  if (rng.chance(0.5)) text += `Host: x${rng.pick(EOLS)}`;
  for (let n = rng.below(7); n > 0; n--) {
    const name = rng.chance(0.92) ? rng.pick(NAMES) : rng.pick(ODD_NAMES);
    const value = headerValue(rng, name);
    const lower = name.toLowerCase();
    if (lower === "content-length" && /^\d+$/.test(value)) contentLength = Number(value);
    if (lower === "transfer-encoding" && /chunked\s*$/i.test(value)) chunked = true;
    const colon = rng.chance(0.95) ? ":" : rng.pick([" :", "::", ""]);
    const before = rng.pick(["", " ", " ", " ", "\t", "  "]);
    const after = rng.chance(0.9) ? "" : rng.pick([" ", "\t", "  "]);
    text += `${name}${colon}${before}${value}${after}${rng.pick(EOLS)}`;
    if (rng.chance(0.03)) text += ` folded${rng.pick(EOLS)}`;
  }
  text += rng.pick(EOLS);
  if (chunked && rng.chance(0.9)) text += chunkedBody(rng);
  else if (contentLength !== undefined && contentLength < 64) {
    const length = rng.chance(0.9) ? contentLength : Math.max(0, contentLength + rng.between(-2, 2));
    text += "b".repeat(length);
  }
  return text;
}

/** One to three pipelined requests, sometimes with a huge header or trailing junk. */
export function generateRequests(rng: Prng, maxHeaderSize: number): Buffer {
  let text = "";
  for (let n = rng.between(1, 3); n > 0; n--) text += oneRequest(rng);
  if (rng.chance(0.02)) {
    // Around the head limit: one header that brings the head close to it or over it.
    const at = text.indexOf("\r\n");
    if (at > 0) text = `${text.slice(0, at + 2)}X-Big: ${"a".repeat(maxHeaderSize - rng.between(-40, 200))}\r\n${text.slice(at + 2)}`;
  }
  if (rng.chance(0.05)) text += rng.bytes(rng.between(1, 8)).toString("latin1");
  return Buffer.from(text, "latin1");
}

export const HTTP_DICTIONARY: readonly Buffer[] = [
  "\r\n", "\r\n\r\n", "\n", ": ", ":", " ", "\t", ",", ";", "HTTP/1.1", "HTTP/1.0", "Content-Length: ", "Transfer-Encoding: chunked\r\n",
  "Connection: close\r\n", "Connection: upgrade\r\nUpgrade: websocket\r\n", "chunked", "0\r\n\r\n", "GET / HTTP/1.1\r\n", "Expect: 100-continue\r\n",
  "Host: x\r\n", "%00", "\x00", "\xff", "0", "9", "ffffffff", "Content-Length: 0\r\nContent-Length: 0\r\n",
].map((word) => Buffer.from(word, "latin1"));

// --- pushwire: the lean parser and body reader, framed as the lean listener frames them

/** Feeds `chunks` in order as the lean listener would receive them; returns the requests and the outcome. */
export function leanEvents(input: Buffer, cuts: readonly number[], maxHeaderSize: number): HttpEvent[] {
  const events: HttpEvent[] = [];
  let parser: RequestParser | null = null;
  let chunked: ChunkedBodyReader | null = null;
  let remaining = 0;
  /** The request whose body is being read. */
  const reading: { request: RequestEvent | null } = { request: null };
  let stopAfterBody = false;
  let stopped = false;
  const sink: BodySink = {
    bodyData(chunk, start, end) {
      reading.request!.body += chunk.toString("latin1", start, end);
    },
  };
  const bodyEnded = (): void => {
    reading.request!.complete = true;
    reading.request = null;
    if (stopAfterBody) stopped = true;
  };
  let from = 0;
  for (const to of [...cuts, input.length]) {
    const chunk = input.subarray(from, to);
    from = to;
    let at = 0;
    while (at < chunk.length && !stopped) {
      if (remaining > 0) {
        const taken = Math.min(remaining, chunk.length - at);
        reading.request!.body += chunk.toString("latin1", at, at + taken);
        remaining -= taken;
        at += taken;
        if (remaining === 0) bodyEnded();
        continue;
      }
      if (chunked) {
        const end = chunked.feed(chunk, at, sink);
        if (end === -1) break;
        chunked = null;
        if (typeof end !== "number") {
          events.push({ kind: "error", status: end.status, code: end.code, reason: end.reason });
          stopped = true;
          break;
        }
        at = end;
        bodyEnded();
        continue;
      }
      parser ??= new RequestParser(maxHeaderSize);
      const outcome = parser.feed(chunk, at);
      if (outcome.kind === "incomplete") break;
      parser = null;
      if (outcome.kind === "error") {
        events.push({ kind: "error", status: outcome.error.status, code: outcome.error.code, reason: outcome.error.reason });
        stopped = true;
        break;
      }
      at = outcome.next;
      const { head } = outcome;
      const upgrade = head.upgrade || head.method === "CONNECT";
      const event: HttpEvent = {
        kind: upgrade ? "upgrade" : "request",
        method: head.method,
        url: head.url,
        version: `${head.versionMajor}.${head.versionMinor}`,
        headers: { ...head.headers },
        keepAlive: head.keepAlive,
        body: "",
        complete: !upgrade && !head.chunked && head.contentLength === 0,
      };
      events.push(event);
      if (upgrade) {
        stopped = true;
        break;
      }
      reading.request = event as RequestEvent;
      stopAfterBody = !head.keepAlive;
      if (head.chunked) chunked = new ChunkedBodyReader(maxHeaderSize);
      else if (head.contentLength > 0) remaining = head.contentLength;
      else bodyEnded();
    }
    if (stopped) break;
  }
  return events;
}

// --- node: llhttp behind node:http, fed through an in-memory socket

/** What node made of one input so far. */
interface Connection {
  events: HttpEvent[];
  requests: Array<[RequestEvent, IncomingMessage]>;
}

/** A node:http server that never listens: each input is one "connection" emitted to it; several may run at once. */
export class LlhttpOracle {
  private readonly server: Server;
  private readonly connections = new Map<Duplex, Connection>();

  constructor(maxHeaderSize: number) {
    this.server = createServer({ maxHeaderSize, requireHostHeader: false, keepAliveTimeout: 0, headersTimeout: 0, requestTimeout: 0 });
    const record = (kind: "request" | "upgrade", req: IncomingMessage, res?: ServerResponse): RequestEvent | undefined => {
      const connection = this.connections.get(req.socket);
      if (!connection) return undefined;
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) headers[name] = Array.isArray(value) ? value.join(", ") : value!;
      const event: RequestEvent = {
        kind, method: req.method!, url: req.url!, version: req.httpVersion, headers,
        keepAlive: res ? res.shouldKeepAlive : true, body: "", complete: false,
      };
      connection.events.push(event);
      if (kind === "request") connection.requests.push([event, req]);
      return event;
    };
    const answer = (req: IncomingMessage, res: ServerResponse): void => {
      const event = record("request", req, res);
      if (!event) return;
      req.on("data", (chunk: Buffer) => void (event.body += chunk.toString("latin1")));
      res.end();
    };
    this.server.on("request", answer);
    this.server.on("checkExpectation", answer);
    const upgrade = (req: IncomingMessage, socket: Duplex): void => {
      if (record("upgrade", req)) socket.destroy();
    };
    this.server.on("upgrade", upgrade);
    this.server.on("connect", upgrade);
    this.server.on("clientError", (error: NodeClientError, socket: Duplex) => {
      this.connections.get(socket)?.events.push({ kind: "error", status: clientErrorStatus(error), code: error.code ?? "", reason: error.message });
      socket.destroy();
    });
  }

  /** What node makes of `input` arriving in one piece. */
  async events(input: Buffer): Promise<HttpEvent[]> {
    const socket = new Duplex({
      read() {},
      write(_chunk, _encoding, callback) {
        callback();
      },
    });
    Object.assign(socket, { setTimeout: () => socket, setNoDelay: () => socket, setKeepAlive: () => socket, remoteAddress: "127.0.0.1", remotePort: 1 });
    const connection: Connection = { events: [], requests: [] };
    this.connections.set(socket, connection);
    this.server.emit("connection", socket);
    socket.push(input);
    // Parsing is synchronous on the push; request bodies flow on the following ticks.
    for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    this.connections.delete(socket);
    socket.destroy();
    for (const [event, req] of connection.requests) event.complete = req.complete;
    return connection.events;
  }
}

// --- the comparison

/**
 * What pushwire refuses on purpose where llhttp accepts (README "Subscriber HTTP parser"), by
 * the lean parser's reason: never the other way round.
 */
const STRICTER: Record<string, string> = {
  "unsupported HTTP version": "HTTP/0.9 and 2.0 refused",
  "bare LF line end": "bare LF line ends refused",
  "Transfer-Encoding without chunked last": "Transfer-Encoding not ending in chunked refused",
  "tab inside a framing header value": "tab inside Content-Length, Transfer-Encoding or Connection refused",
  "framing header in a trailer": "Content-Length, Transfer-Encoding or Connection in a trailer refused",
  "Content-Length with Transfer-Encoding": "Content-Length with any Transfer-Encoding refused (llhttp skips an empty one before it)",
  "malformed chunk extension": "chunk extension outside RFC 9112's grammar refused (llhttp takes a few, `;a=b\"c\"`)",
  "chunk size too large": "chunk size of more than 13 hex digits refused (llhttp waits for 2^56 bytes)",
};
/** llhttp skips a CR before a request line; pushwire refuses it with the line. */
const STRAY_CR = /(?:^|\n)\r*\r(?!\n)/;
/** Versions llhttp takes and pushwire refuses, whatever else is wrong with the line. */
const REFUSED_VERSIONS = new Set(["0.9", "2.0"]);
/** Within this many bytes of the limit, the two count the head differently (pushwire includes the request line). */
const LIMIT_MARGIN = 512;

/**
 * Both sides' events up to the point where the lean listener stops reading: the first error,
 * upgrade or request that does not keep the connection (node may parse on; nobody answers it).
 */
function untilStop(events: HttpEvent[]): HttpEvent[] {
  const index = events.findIndex((e) => e.kind !== "request" || !e.keepAlive);
  return index < 0 ? events : events.slice(0, index + 1);
}

/** A short text of one event, for reports and for telling outcomes apart. */
export function eventText(event: HttpEvent | undefined): string {
  if (!event) return "nothing";
  if (event.kind === "error") return `error ${event.status} (${event.reason})`;
  return `${event.kind} ${JSON.stringify(event.method)} ${JSON.stringify(event.url)} ${event.version}` +
    `${event.kind === "request" ? ` keepAlive=${event.keepAlive}` : ""} headers=${JSON.stringify(event.headers)}` +
    `${event.kind === "request" ? ` body=${JSON.stringify(event.body)}${event.complete ? "" : " (incomplete)"}` : ""}`;
}

/**
 * Two events that say the same: requests alike in every part, or two refusals (their statuses may
 * differ). Of a body that did not end, node may not have handed over the last bytes yet when a
 * refusal cut the connection: one must be the start of the other.
 */
function same(a: HttpEvent, b: HttpEvent): boolean {
  if (a.kind === "error" || b.kind === "error") return a.kind === b.kind;
  if (a.kind === "request" && b.kind === "request" && !a.complete && !b.complete && a.body !== b.body) {
    const [short, long] = a.body.length < b.body.length ? [a, b] : [b, a];
    return long.body.startsWith(short.body) && eventText({ ...a, body: "" }) === eventText({ ...b, body: "" });
  }
  return eventText(a) === eventText(b);
}

export interface Comparison {
  /** The first disagreement. */
  mismatch?: string;
  /** A documented divergence, or a difference that is not one (its name, for the tally). */
  allowed?: string;
}

/**
 * Where pushwire and llhttp must agree: the same requests (method, target, version, headers,
 * keep-alive, body, whether it ended), then the same end — both refuse, both wait for more, or
 * both see an upgrade. A refusal's status may differ (400 or 405 for a line that is wrong in
 * several ways); pushwire may refuse what STRICTER lists, and a head near the limit.
 */
export function compareEvents(oursAll: HttpEvent[], nodeAll: HttpEvent[], input: Buffer, limit: number): Comparison {
  const ours = untilStop(oursAll);
  const node = untilStop(nodeAll);
  let allowed: string | undefined;
  for (let i = 0; i < Math.max(ours.length, node.length); i++) {
    const a = ours[i];
    const b = node[i];
    if (a && b && same(a, b)) {
      if (a.kind === "error" && b.kind === "error" && a.status !== b.status) allowed ??= "refusal status differs";
      continue;
    }
    if (a?.kind === "error" && b?.kind !== "error") {
      // Pushwire refuses where llhttp accepts or still waits (a lone LF or CR before a request, say).
      const documented = STRICTER[a.reason];
      if (documented) return { allowed: documented };
      if (a.reason === "malformed request line" && STRAY_CR.test(input.toString("latin1"))) return { allowed: "stray CR before a request line refused" };
    }
    if (a?.kind === "error" && b && b.kind !== "error") {
      if (REFUSED_VERSIONS.has(b.version)) return { allowed: STRICTER["unsupported HTTP version"] };
      if (a.reason === "invalid Content-Length" && /^\d{16,}$/.test(b.headers["content-length"] ?? "")) return { allowed: "Content-Length of more than 15 digits refused" };
      if (a.status === 431 && input.length > limit - LIMIT_MARGIN) return { allowed: "head near the limit" };
    }
    // Pushwire refused in the body (a documented case) where llhttp read it on.
    const next = oursAll[i + 1];
    if (a?.kind === "request" && b?.kind === "request" && !a.complete && next?.kind === "error" && STRICTER[next.reason] && b.body.startsWith(a.body)) {
      if (eventText({ ...a, body: "", complete: true }) === eventText({ ...b, body: "", complete: true })) return { allowed: STRICTER[next.reason] };
    }
    // A refusal that one side makes at once and the other only when the line ends: confirmed by the caller.
    if (a?.kind === "error" && !b) return { allowed: "pushwire refuses earlier" };
    if (!a && b?.kind === "error") return { allowed: "llhttp refuses earlier" };
    return { mismatch: `request ${i + 1}: pushwire ${eventText(a)}; llhttp ${eventText(b)}` };
  }
  return allowed ? { allowed } : {};
}
