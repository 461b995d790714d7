import { METHODS } from "node:http";

/**
 * A strict, incremental HTTP/1.x request-head parser with no I/O, for the lean listener
 * (lean-listener.ts). It reads the request line and headers only; what follows the head
 * (a Content-Length body, pipelined requests) is the caller's. Where llhttp (node:http)
 * refuses something, this refuses it too: bare LF line ends, obs-fold, control bytes in values,
 * whitespace before the colon, repeated or non-numeric Content-Length, Content-Length together with
 * Transfer-Encoding, a Transfer-Encoding whose last coding is not chunked (or that is chunked twice),
 * a request target that is not `/…`, `*…`, `scheme://host…` (or `host:port` for CONNECT). A few
 * things llhttp takes are refused (never the other way round): HTTP/0.9 and versions other than
 * 1.0/1.1, a CR or LF alone before the request line, a tab inside a Content-Length,
 * Transfer-Encoding or Connection value (llhttp and RFC readers take it differently). A chunked
 * body is read by ChunkedBodyReader. test/unit/request-parser-fuzz.test.ts holds both to this.
 */

/** One parsed request head. */
export interface RequestHead {
  method: string;
  url: string;
  versionMajor: number;
  versionMinor: number;
  /** Lower-cased names; repeated headers joined as node:http joins them. Null prototype. */
  headers: Record<string, string>;
  /** HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`. */
  keepAlive: boolean;
  /** Body bytes that follow the head (0 when there is no Content-Length). */
  contentLength: number;
  /** Transfer-Encoding was given: a body of unknown length follows. */
  chunked: boolean;
  /** `Connection: upgrade` with an `Upgrade` header (a WebSocket handshake). */
  upgrade: boolean;
}

/**
 * Why a head was refused: the status to answer, and llhttp's name for the same failure, so the
 * log line reads the same whichever parser saw the request.
 */
export interface HeadError {
  status: 400 | 405 | 408 | 431;
  code: "HPE_INVALID" | "HPE_INVALID_METHOD" | "HPE_HEADER_OVERFLOW" | "HPE_HEADERS_TIMEOUT";
  reason: string;
  /** The request line as received (for the log and the unknown-method check), if it was complete. */
  requestLine: string | undefined;
}

export type ParseOutcome =
  | { kind: "incomplete" }
  | { kind: "head"; head: RequestHead; /** Offset in the last chunk fed where the head ended. */ next: number }
  | { kind: "error"; error: HeadError };

const INCOMPLETE: ParseOutcome = { kind: "incomplete" };
const KNOWN_METHODS = new Set(METHODS);
const CR = 0x0d;
const LF = 0x0a;

/** RFC 9110 tchar, as a lookup table. */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;

/** The headers that decide where a request ends (and whether another follows). */
const FRAMING = new Set(["content-length", "transfer-encoding", "connection"]);

/** Headers node:http keeps only the first of when repeated (the others it joins with ", "). */
const FIRST_WINS = new Set([
  "host", "user-agent", "content-type", "authorization", "proxy-authorization", "referer", "from",
  "if-modified-since", "if-unmodified-since", "location", "max-forwards", "retry-after", "etag",
  "last-modified", "server", "age", "expires",
]);

/**
 * Feed it the bytes of one connection; it returns a head once the empty line arrives, an error as
 * soon as the bytes cannot be a valid head, or "incomplete". One parser per request head: after a
 * head or an error, make a new one. Work is linear in the bytes fed, however they are split.
 */
export class RequestParser {
  /** Bytes of the line not complete yet (grown by doubling, never past the limit). */
  private partial: Buffer | null = null;
  private partialLength = 0;
  /** Head bytes seen so far, counted against the limit (request line, headers, line ends). */
  private seen = 0;
  private method = "";
  private url = "";
  private versionMinor = -1;
  private headers: Record<string, string> | null = null;
  private contentLengths = 0;
  private contentLength = 0;
  private transferEncoding = false;
  /** An Upgrade header with a value arrived. */
  private upgradeNamed = false;
  private requestLine: string | undefined;
  /** The method token is still arriving: its bytes are checked as they come, so a TLS hello or binary junk is refused at once. */
  private methodOpen = true;

  constructor(private readonly maxHeaderSize: number) {}

  /** Whether any byte of a head arrived (a connection with a started request is not idle). */
  get started(): boolean {
    return this.seen > 0 || this.partialLength > 0;
  }

  feed(chunk: Buffer, offset = 0): ParseOutcome {
    let start = offset;
    while (start < chunk.length) {
      const lf = chunk.indexOf(LF, start);
      // Junk in the method is refused before the size is counted, so the answer does not depend on where a read ends.
      if (this.headers === null && this.methodOpen && !this.methodBytesValid(chunk, start, lf < 0 ? chunk.length : lf)) return this.fail("malformed request line");
      if (lf < 0) {
        if (this.seen + this.partialLength + chunk.length - start > this.maxHeaderSize) return this.overflow();
        this.keep(chunk, start, chunk.length);
        return INCOMPLETE;
      }
      if (this.seen + this.partialLength + lf + 1 - start > this.maxHeaderSize) return this.overflow();
      let line: Buffer;
      if (this.partialLength > 0) {
        this.keep(chunk, start, lf);
        line = this.partial!.subarray(0, this.partialLength);
      } else {
        line = chunk.subarray(start, lf);
      }
      this.seen += line.length + 1;
      this.partialLength = 0;
      start = lf + 1;
      const outcome = this.line(line);
      if (outcome === INCOMPLETE) continue;
      if (outcome.kind === "head") outcome.next = start;
      return outcome;
    }
    return INCOMPLETE;
  }

  /** The start of a request line: bytes up to the first space must be tchar (or a CR). */
  private methodBytesValid(chunk: Buffer, from: number, to: number): boolean {
    for (let i = from; i < to; i++) {
      const c = chunk[i]!;
      if (c === 0x20) {
        this.methodOpen = false;
        return true;
      }
      if (c !== CR && !(c < 128 && TCHAR[c])) return false;
    }
    return true;
  }

  private keep(chunk: Buffer, from: number, to: number): void {
    const needed = this.partialLength + to - from;
    if (!this.partial || this.partial.length < needed) {
      const grown = Buffer.allocUnsafe(Math.min(Math.max(256, needed * 2), this.maxHeaderSize + 1));
      if (this.partial) this.partial.copy(grown, 0, 0, this.partialLength);
      this.partial = grown;
    }
    chunk.copy(this.partial, this.partialLength, from, to);
    this.partialLength = needed;
  }

  /** One line without its LF. */
  private line(line: Buffer): ParseOutcome {
    const length = line.length;
    if (length === 0 || line[length - 1] !== CR) return this.fail("bare LF line end");
    const content = length - 1;
    if (this.headers === null) {
      if (content === 0 && this.method === "") return INCOMPLETE; // empty lines before a request are ignored
      return this.requestLineOf(line, content);
    }
    if (content === 0) return this.finish();
    return this.header(line, content);
  }

  /** `METHOD SP request-target SP HTTP/1.x` */
  private requestLineOf(line: Buffer, end: number): ParseOutcome {
    const text = line.toString("latin1", 0, end);
    this.requestLine = text;
    let i = 0;
    while (i < end && line[i]! < 128 && TCHAR[line[i]!]) i++;
    const methodEnd = i;
    if (methodEnd === 0 || line[i] !== 0x20) return this.fail("malformed request line");
    while (line[i] === 0x20) i++;
    const urlStart = i;
    while (i < end && line[i]! > 0x20 && line[i]! < 0x7f) i++;
    if (i === urlStart || line[i] !== 0x20) return this.fail("malformed request target");
    const urlEnd = i;
    if (!targetForm(line, urlStart, urlEnd, methodEnd === 7 && text.startsWith("CONNECT"))) return this.fail("malformed request target");
    while (line[i] === 0x20) i++;
    const version = text.slice(i);
    if (version !== "HTTP/1.1" && version !== "HTTP/1.0") return this.fail("unsupported HTTP version");
    const method = text.slice(0, methodEnd);
    if (!KNOWN_METHODS.has(method)) {
      return { kind: "error", error: { status: 405, code: "HPE_INVALID_METHOD", reason: "unknown method", requestLine: text } };
    }
    this.method = method;
    this.url = text.slice(urlStart, urlEnd);
    this.versionMinor = version === "HTTP/1.1" ? 1 : 0;
    this.headers = Object.create(null) as Record<string, string>;
    return INCOMPLETE;
  }

  /** `name: value` — a token, a colon right after it, optional whitespace around the value. */
  private header(line: Buffer, end: number): ParseOutcome {
    let i = 0;
    while (i < end && line[i]! < 128 && TCHAR[line[i]!]) i++;
    if (i === 0) return this.fail(line[0] === 0x20 || line[0] === 0x09 ? "obsolete line folding" : "malformed header name");
    if (line[i] !== 0x3a) return this.fail("malformed header name");
    const name = line.toString("latin1", 0, i).toLowerCase();
    let from = i + 1;
    let to = end;
    while (from < to && (line[from] === 0x20 || line[from] === 0x09)) from++;
    // llhttp ends the tokens of these three at a space or comma only (`chunked<TAB>` is not chunked
    // to it, `1<TAB>` no length); an RFC reader takes the tab as whitespace. Such a request means
    // two things to two parsers, so it is refused.
    if (FRAMING.has(name)) {
      const tab = line.indexOf(0x09, from);
      if (tab >= 0 && tab < end) return this.fail("tab inside a framing header value");
    }
    while (to > from && (line[to - 1] === 0x20 || line[to - 1] === 0x09)) to--;
    for (let j = from; j < to; j++) {
      const c = line[j]!;
      if ((c < 0x20 && c !== 0x09) || c === 0x7f) return this.fail("control character in a header value");
    }
    const value = line.toString("latin1", from, to);
    if (name === "content-length") {
      if (++this.contentLengths > 1) return this.fail("repeated Content-Length");
      if (!/^\d{1,15}$/.test(value)) return this.fail("invalid Content-Length");
      this.contentLength = Number(value);
    } else if (name === "transfer-encoding") {
      this.transferEncoding = true;
    } else if (name === "upgrade" && to > from) {
      this.upgradeNamed = true; // an empty Upgrade names no protocol: not an upgrade to llhttp
    }
    const headers = this.headers!;
    const existing = headers[name];
    if (existing === undefined) headers[name] = value;
    else if (name === "cookie") headers[name] = `${existing}; ${value}`;
    else if (!FIRST_WINS.has(name)) headers[name] = `${existing}, ${value}`;
    return INCOMPLETE;
  }

  private finish(): ParseOutcome {
    if (this.transferEncoding && this.contentLengths > 0) return this.fail("Content-Length with Transfer-Encoding");
    const headers = this.headers!;
    // A body whose last coding is not chunked has no length but the connection's end: refused. So
    // is chunked applied twice or before another coding (RFC 9112 §6.1; llhttp refuses both).
    if (this.transferEncoding) {
      const codings = headers["transfer-encoding"]!.split(",");
      if (listItem(codings.pop()!) !== "chunked") return this.fail("Transfer-Encoding without chunked last");
      if (codings.some((coding) => listItem(coding) === "chunked")) return this.fail("Transfer-Encoding with chunked twice");
    }
    const connection = headers["connection"];
    const keepAlive = this.versionMinor === 1 ? !hasToken(connection, "close") : hasToken(connection, "keep-alive");
    const head: RequestHead = {
      method: this.method,
      url: this.url,
      versionMajor: 1,
      versionMinor: this.versionMinor,
      headers,
      keepAlive,
      contentLength: this.contentLength,
      chunked: this.transferEncoding,
      upgrade: this.upgradeNamed && hasToken(connection, "upgrade"),
    };
    this.partial = null;
    this.headers = null;
    return { kind: "head", head, next: 0 };
  }

  private fail(reason: string): ParseOutcome {
    this.partial = null;
    return { kind: "error", error: { status: 400, code: "HPE_INVALID", reason, requestLine: this.requestLine } };
  }

  private overflow(): ParseOutcome {
    this.partial = null;
    return { kind: "error", error: { status: 431, code: "HPE_HEADER_OVERFLOW", reason: "head larger than clientMaxHeaderSize", requestLine: this.requestLine } };
  }
}

/** Characters of a host (or host:port) in an absolute or authority target, as llhttp allows them. */
const HOST_CHAR = new Uint8Array(128);
for (const c of "-._~!$&'()*+,;=%:@[]0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") HOST_CHAR[c.charCodeAt(0)] = 1;

/**
 * The forms of request target llhttp takes (RFC 9112 §3.2): origin (`/…`) and asterisk (`*…`) as
 * they come; absolute (`scheme://host…`, the scheme letters only) and, for CONNECT, authority
 * (`host:port`) with host characters up to the path or query. Bytes are already known visible ASCII.
 */
function targetForm(line: Buffer, start: number, end: number, connect: boolean): boolean {
  const first = line[start]!;
  if (first === 0x2f || first === 0x2a) return true;
  let i = start;
  if (!connect) {
    while (i < end && ((line[i]! | 0x20) >= 0x61 && (line[i]! | 0x20) <= 0x7a)) i++;
    if (i === start || line[i] !== 0x3a || line[i + 1] !== 0x2f || line[i + 2] !== 0x2f) return false;
    i += 3;
  }
  for (; i < end && line[i] !== 0x2f && line[i] !== 0x3f; i++) if (!HOST_CHAR[line[i]!]) return false;
  return true;
}

/** Whether a comma-separated header value lists `token` (case-insensitive). */
function hasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  for (const part of value.split(",")) if (listItem(part) === token) return true;
  return false;
}

/**
 * One item of a comma-separated list, lower-cased, without the spaces and tabs around it — only
 * those (String#trim would also take a latin1 0xA0, which llhttp keeps as part of the token).
 */
function listItem(part: string): string {
  let from = 0;
  let to = part.length;
  while (from < to && (part.charCodeAt(from) === 0x20 || part.charCodeAt(from) === 0x09)) from++;
  while (to > from && (part.charCodeAt(to - 1) === 0x20 || part.charCodeAt(to - 1) === 0x09)) to--;
  return part.slice(from, to).toLowerCase();
}

const enum Chunk {
  Size,
  SizeLf,
  /** After `;`: an extension name (or `=`, `;`) must follow. */
  ExtensionName,
  ExtensionNameRest,
  /** After `=`: a token, a quoted string, or nothing. */
  ExtensionValue,
  ExtensionToken,
  ExtensionQuoted,
  ExtensionQuotedPair,
  ExtensionQuoteEnd,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  TrailerName,
  TrailerValue,
  TrailerLf,
  EndLf,
}

/** Where the bytes after a chunk extension's name, token or closing quote may go: another extension or the line end. */
function afterExtensionPart(c: number, state: Chunk): Chunk | -1 {
  if (c === 0x3b /* ; */) return Chunk.ExtensionName;
  if (c === CR) return Chunk.SizeLf;
  return c < 128 && TCHAR[c] && state !== Chunk.ExtensionQuoteEnd ? state : -1;
}

/** qdtext of a quoted string (RFC 9110 §5.6.4): HTAB, SP, visible ASCII but `"` and `\`, obs-text. */
function isQdText(c: number): boolean {
  return c === 0x09 || c === 0x20 || c === 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || c >= 0x80;
}

/** Where a chunked body's data goes: `chunk[start, end)` is the next piece of it. */
export interface BodySink {
  bodyData(chunk: Buffer, start: number, end: number): void;
}

/**
 * Reads a chunked request body, handing its data to a sink (or dropping it: a keep-alive
 * connection must find the next request after a body nobody reads). Strict like llhttp: hex
 * sizes, CRLF line ends, extensions `;name[=token|"quoted"]` right after the size, trailers
 * shaped as header lines; extensions and trailers are skipped, within `maxLineBytes` per line.
 */
export class ChunkedBodyReader {
  private state = Chunk.Size;
  private size = 0;
  private digits = 0;
  private lineBytes = 0;
  /** The name of the trailer being read, lower-cased. */
  private trailerName = "";

  constructor(private readonly maxLineBytes: number) {}

  /** Returns the offset after the body's end, -1 when more bytes are needed, or an error. */
  feed(chunk: Buffer, offset = 0, sink?: BodySink): number | HeadError {
    let i = offset;
    while (i < chunk.length) {
      const c = chunk[i]!;
      const state = this.state;
      switch (state) {
        case Chunk.Size: {
          const digit = hexValue(c);
          if (digit >= 0) {
            if (++this.digits > 13) return chunkError("chunk size too large");
            this.size = this.size * 16 + digit;
            i++;
            continue;
          }
          if (this.digits === 0) return chunkError("chunk size expected");
          if (c === CR) this.state = Chunk.SizeLf;
          else if (c === 0x3b /* ; */) this.state = Chunk.ExtensionName;
          else return chunkError("malformed chunk size");
          i++;
          continue;
        }
        case Chunk.ExtensionName:
        case Chunk.ExtensionNameRest:
        case Chunk.ExtensionValue:
        case Chunk.ExtensionToken:
        case Chunk.ExtensionQuoted:
        case Chunk.ExtensionQuotedPair:
        case Chunk.ExtensionQuoteEnd: {
          if (++this.lineBytes > this.maxLineBytes) return chunkError("chunk extension too long");
          const next = extensionStep(state, c);
          if (next === -1) return chunkError("malformed chunk extension");
          this.state = next;
          i++;
          continue;
        }
        case Chunk.SizeLf:
          if (c !== LF) return chunkError("bare CR after chunk size");
          i++;
          this.digits = 0;
          this.lineBytes = 0;
          this.state = this.size === 0 ? Chunk.TrailerStart : Chunk.Data;
          continue;
        case Chunk.Data: {
          const take = Math.min(this.size, chunk.length - i);
          if (sink && take > 0) sink.bodyData(chunk, i, i + take);
          this.size -= take;
          i += take;
          if (this.size === 0) this.state = Chunk.DataCr;
          continue;
        }
        case Chunk.DataCr:
          if (c !== CR) return chunkError("chunk data longer than its size");
          this.state = Chunk.DataLf;
          i++;
          continue;
        case Chunk.DataLf:
          if (c !== LF) return chunkError("bare CR after chunk data");
          this.state = Chunk.Size;
          i++;
          continue;
        case Chunk.TrailerStart:
          if (c === LF) return chunkError("bare LF in trailer");
          if (c === CR) this.state = Chunk.EndLf;
          else if (c < 128 && TCHAR[c]) {
            this.state = Chunk.TrailerName;
            this.trailerName = lowerChar(c);
          } else return chunkError("malformed trailer");
          i++;
          continue;
        case Chunk.TrailerName:
        case Chunk.TrailerValue:
          if (++this.lineBytes > this.maxLineBytes) return chunkError("trailer too long");
          if (state === Chunk.TrailerName) {
            if (c === 0x3a /* : */) {
              // llhttp applies these in a trailer too (refusing two of them, closing on the third): refused here.
              if (FRAMING.has(this.trailerName)) return chunkError("framing header in a trailer");
              this.state = Chunk.TrailerValue;
            } else if (c < 128 && TCHAR[c]) this.trailerName += lowerChar(c);
            else return chunkError("malformed trailer");
          } else if (c === CR) this.state = Chunk.TrailerLf;
          else if ((c < 0x20 && c !== 0x09) || c === 0x7f) return chunkError("control character in a trailer");
          i++;
          continue;
        case Chunk.TrailerLf:
          if (c !== LF) return chunkError("bare CR in trailer");
          this.lineBytes = 0;
          this.state = Chunk.TrailerStart;
          i++;
          continue;
        case Chunk.EndLf:
          if (c !== LF) return chunkError("bare CR after the last chunk");
          return i + 1;
      }
    }
    return -1;
  }
}

/** One byte of a chunk extension (`;name`, `;name=token`, `;name="quoted"`, repeated): the next state, or -1. */
function extensionStep(state: Chunk, c: number): Chunk | -1 {
  switch (state) {
    case Chunk.ExtensionName:
      // As llhttp: the name may be empty before `=` or `;`, not before the line end.
      if (c === 0x3d /* = */) return Chunk.ExtensionValue;
      if (c === 0x3b /* ; */) return state;
      return c < 128 && TCHAR[c] ? Chunk.ExtensionNameRest : -1;
    case Chunk.ExtensionNameRest:
      return c === 0x3d /* = */ ? Chunk.ExtensionValue : afterExtensionPart(c, state);
    case Chunk.ExtensionValue:
      if (c === 0x22 /* " */) return Chunk.ExtensionQuoted;
      return afterExtensionPart(c, Chunk.ExtensionToken);
    case Chunk.ExtensionToken:
      return afterExtensionPart(c, state);
    case Chunk.ExtensionQuoted:
      if (c === 0x22) return Chunk.ExtensionQuoteEnd;
      if (c === 0x5c /* \ */) return Chunk.ExtensionQuotedPair;
      return isQdText(c) ? state : -1;
    case Chunk.ExtensionQuotedPair:
      return c === 0x09 || (c >= 0x20 && c !== 0x7f) ? Chunk.ExtensionQuoted : -1;
    default:
      return afterExtensionPart(c, state);
  }
}

function lowerChar(c: number): string {
  return String.fromCharCode(c >= 0x41 && c <= 0x5a ? c | 0x20 : c);
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

function chunkError(reason: string): HeadError {
  return { status: 400, code: "HPE_INVALID", reason, requestLine: undefined };
}
