import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ChunkedBodyReader, RequestParser, type ParseOutcome, type RequestHead } from "../../src/http/request-parser.js";

/**
 * The lean listener's request-head parser (src/http/request-parser.ts) without sockets: what it
 * accepts, what it refuses and with which status, however the bytes are split.
 */

const LIMIT = 16384;

/** Feeds `bytes` in pieces cut at `cuts`; returns the outcome and, for a head, its offset in the whole input. */
function parse(bytes: string | Buffer, cuts: number[] = [], limit = LIMIT): ParseOutcome & { at?: number } {
  const input = typeof bytes === "string" ? Buffer.from(bytes, "latin1") : bytes;
  const parser = new RequestParser(limit);
  let from = 0;
  for (const to of [...cuts, input.length]) {
    const outcome = parser.feed(input.subarray(from, to));
    if (outcome.kind === "head") return { kind: "head", head: outcome.head, next: 0, at: from + outcome.next };
    if (outcome.kind === "error") return outcome;
    from = to;
  }
  return { kind: "incomplete" };
}

function head(bytes: string): RequestHead {
  const outcome = parse(bytes);
  assert.equal(outcome.kind, "head", `${JSON.stringify(bytes)} parses: ${JSON.stringify(outcome)}`);
  return (outcome as { head: RequestHead }).head;
}

function status(bytes: string | Buffer, limit = LIMIT): number | "head" | "incomplete" {
  const outcome = parse(bytes, [], limit);
  return outcome.kind === "error" ? outcome.error.status : outcome.kind;
}

describe("request heads", () => {
  test("request line, lower-cased headers with trimmed values, version and offset of what follows", () => {
    const text = "GET /bitrix/sub?CHANNEL_ID=a&tag=1 HTTP/1.1\r\nHost: example\r\nIf-None-Match:\t 5 \r\nX-Empty:\r\n\r\nNEXT";
    const outcome = parse(text);
    assert.equal(outcome.kind, "head");
    const { head: h, at } = outcome as { head: RequestHead; at: number };
    assert.equal(h.method, "GET");
    assert.equal(h.url, "/bitrix/sub?CHANNEL_ID=a&tag=1");
    assert.equal(h.versionMajor, 1);
    assert.equal(h.versionMinor, 1);
    assert.deepEqual({ ...h.headers }, { host: "example", "if-none-match": "5", "x-empty": "" });
    assert.equal(Object.getPrototypeOf(h.headers), null, "no inherited names (a header called constructor is just a header)");
    assert.equal(text.slice(at), "NEXT");
    assert.equal(h.contentLength, 0);
    assert.equal(h.chunked, false);
    assert.equal(h.upgrade, false);
  });

  test("repeated headers are joined as node:http joins them", () => {
    const h = head("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nUser-Agent: one\r\nUser-Agent: two\r\nX-Y: 1\r\nx-y: 2\r\nCookie: a=1\r\nCookie: b=2\r\nIf-Modified-Since: A\r\nIf-Modified-Since: B\r\n\r\n");
    assert.deepEqual({ ...h.headers }, { host: "a", "user-agent": "one", "x-y": "1, 2", cookie: "a=1; b=2", "if-modified-since": "A" });
  });

  test("header values keep bytes 0x80–0xFF as latin1, like node:http", () => {
    assert.equal(head("GET / HTTP/1.1\r\nX-A: \xe9t\xe9\r\n\r\n").headers["x-a"], "\xe9t\xe9");
  });

  test("empty lines before the request line are skipped; absolute and * targets are taken as they are", () => {
    assert.equal(head("\r\n\r\nGET /a HTTP/1.1\r\n\r\n").url, "/a");
    assert.equal(head("GET http://h/a?b HTTP/1.1\r\n\r\n").url, "http://h/a?b");
    assert.equal(head("OPTIONS * HTTP/1.1\r\n\r\n").url, "*");
    assert.equal(head("GET  /two-spaces HTTP/1.1\r\n\r\n").url, "/two-spaces");
  });

  test("request targets as llhttp takes them: origin, asterisk, absolute (letters, ://, host characters), authority for CONNECT", () => {
    assert.equal(head("GET /a  HTTP/1.1\r\n\r\n").url, "/a", "spaces before the version, as after the method");
    assert.equal(head("GET /a{}|\"<>^` HTTP/1.1\r\n\r\n").url, "/a{}|\"<>^`", "the path is not checked further");
    assert.equal(head("GET HTTPS://h_~!$&'()*+,;=%:@[]/{x}#y HTTP/1.1\r\n\r\n").url, "HTTPS://h_~!$&'()*+,;=%:@[]/{x}#y");
    assert.equal(head("GET http:// HTTP/1.1\r\n\r\n").url, "http://");
    assert.equal(head("GET ws://h?q HTTP/1.1\r\n\r\n").url, "ws://h?q");
    assert.equal(head("CONNECT h:80 HTTP/1.1\r\n\r\n").url, "h:80");
    assert.equal(head("GET //a HTTP/1.1\r\n\r\n").url, "//a");
  });

  test("every method node:http knows is accepted; the handler decides what it serves", () => {
    for (const method of ["GET", "OPTIONS", "HEAD", "POST", "PUT", "DELETE", "PURGE", "M-SEARCH"]) {
      assert.equal(head(`${method} / HTTP/1.1\r\n\r\n`).method, method);
    }
  });

  test("keep-alive: HTTP/1.1 unless Connection: close; HTTP/1.0 only with Connection: keep-alive", () => {
    assert.equal(head("GET / HTTP/1.1\r\n\r\n").keepAlive, true);
    assert.equal(head("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").keepAlive, false);
    assert.equal(head("GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n").keepAlive, false);
    assert.equal(head("GET / HTTP/1.1\r\nConnection:\xa0close\r\n\r\n").keepAlive, true, "0xA0 is no whitespace to llhttp: not `close` (found by the fuzzer)");
    assert.equal(head("GET / HTTP/1.0\r\n\r\n").keepAlive, false);
    assert.equal(head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keepAlive, true);
    assert.equal(head("GET / HTTP/1.0\r\n\r\n").versionMinor, 0);
  });

  test("upgrade: Connection lists upgrade and an Upgrade header is present", () => {
    assert.equal(head("GET /ws HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n").upgrade, true);
    assert.equal(head("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n").upgrade, false);
    assert.equal(head("GET /ws HTTP/1.1\r\nConnection: upgrade\r\n\r\n").upgrade, false);
    assert.equal(head("GET /ws HTTP/1.1\r\nConnection: upgraded\r\nUpgrade: websocket\r\n\r\n").upgrade, false);
    assert.equal(head("GET /ws HTTP/1.1\r\nConnection: upgrade\r\nUpgrade:\t\r\n\r\n").upgrade, false, "an empty Upgrade (llhttp: a plain request)");
    assert.equal(head("GET /ws HTTP/1.1\r\nConnection: upgrade\r\nUpgrade:\r\nUpgrade: x\r\n\r\n").upgrade, true, "one Upgrade with a value is enough");
  });

  test("Content-Length and chunked Transfer-Encoding are reported for the body that follows", () => {
    assert.equal(head("GET / HTTP/1.1\r\nContent-Length: 12\r\n\r\n").contentLength, 12);
    assert.equal(head("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").contentLength, 0);
    assert.equal(head("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").chunked, true);
    assert.equal(head("GET / HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n").chunked, true);
    assert.equal(head("GET / HTTP/1.1\r\nTransfer-Encoding:\tchunked\r\n\r\n").chunked, true, "a tab before the value is whitespace");
    assert.equal(head("GET / HTTP/1.1\r\nContent-Length:\t12 \r\n\r\n").contentLength, 12, "so is a space after it");
  });

  test("split at every byte, the outcome is the same as in one piece", () => {
    const text = "\r\nGET /bitrix/sub?CHANNEL_ID=a HTTP/1.1\r\nHost: x\r\nX-Y: 1\r\nX-Y: 2\r\nContent-Length: 3\r\n\r\nabcGET /next HTTP/1.1\r\n\r\n";
    const whole = parse(text);
    assert.equal(whole.kind, "head");
    for (let cut = 1; cut < text.length; cut++) {
      assert.deepEqual(parse(text, [cut]), whole, `cut at ${cut}`);
    }
    const everyByte = Array.from({ length: text.length - 1 }, (_, i) => i + 1);
    assert.deepEqual(parse(text, everyByte), whole);
    for (const bad of ["GET / HTTP/1.1\r\nHost : x\r\n\r\n", "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", "FOO / HTTP/1.1\r\n\r\n"]) {
      const refused = parse(bad);
      assert.equal(refused.kind, "error");
      for (let cut = 1; cut < bad.length; cut++) assert.deepEqual(parse(bad, [cut]), refused, `${JSON.stringify(bad)} cut at ${cut}`);
    }
  });
});

describe("refusals", () => {
  test("malformed heads → 400 (llhttp refuses the same)", () => {
    const cases: Record<string, string> = {
      "garbage": "GARBAGE\r\n\r\n",
      "method only": "GET\r\n\r\n",
      "HTTP/0.9 request line": "GET /a\r\n\r\n",
      "wrong protocol": "GET / XTTP/1.1\r\n\r\n",
      "HTTP/1.2": "GET / HTTP/1.2\r\n\r\n",
      "HTTP/2.0": "GET / HTTP/2.0\r\n\r\n",
      "space after the version": "GET / HTTP/1.1 \r\n\r\n",
      "space in the target": "GET /a b HTTP/1.1\r\n\r\n",
      "control byte in the target": "GET /a\x01 HTTP/1.1\r\n\r\n",
      "byte 0xFF in the target": "GET /a\xff HTTP/1.1\r\n\r\n",
      "bare LF after the request line": "GET / HTTP/1.1\nHost: x\r\n\r\n",
      "bare LF after a header": "GET / HTTP/1.1\r\nHost: x\n\r\n",
      "bare LF ending the head": "GET / HTTP/1.1\r\nHost: x\r\n\n",
      "only bare LFs": "GET / HTTP/1.1\nHost: x\n\n",
      "obs-fold": "GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n",
      "NUL in a value": "GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n",
      "CR in a value": "GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n",
      "DEL in a value": "GET / HTTP/1.1\r\nX-A: a\x7fb\r\n\r\n",
      "space before the colon": "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
      "no colon": "GET / HTTP/1.1\r\nHost\r\n\r\n",
      "empty name": "GET / HTTP/1.1\r\n: v\r\n\r\n",
      "separator in the name": "GET / HTTP/1.1\r\nX(A: 1\r\n\r\n",
      "NUL in the name": "GET / HTTP/1.1\r\nX\0A: 1\r\n\r\n",
      "repeated Content-Length, same value": "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
      "repeated Content-Length, different values": "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      "Content-Length list": "GET / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n",
      "negative Content-Length": "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
      "signed Content-Length": "GET / HTTP/1.1\r\nContent-Length: +1\r\n\r\n",
      "empty Content-Length": "GET / HTTP/1.1\r\nContent-Length:\r\n\r\n",
      "huge Content-Length": "GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
      "Content-Length with Transfer-Encoding": "GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
      "Transfer-Encoding not ending in chunked": "GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
      "chunked twice": "GET / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
      "0xA0 before chunked (llhttp: not chunked)": "GET / HTTP/1.1\r\nTransfer-Encoding: \xa0chunked\r\n\r\n",
      "tab after chunked (llhttp: not chunked)": "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\t\r\n\r\n",
      "tab between codings": "GET / HTTP/1.1\r\nTransfer-Encoding: gzip\t, chunked\r\n\r\n",
      "tab after close (llhttp: keep-alive)": "GET / HTTP/1.1\r\nConnection: close\t\r\n\r\n",
      "tab after a length (llhttp: invalid)": "GET / HTTP/1.1\r\nContent-Length: 1\t\r\n\r\n",
      "chunked twice over two headers": "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
      "target neither /, * nor absolute": "GET C HTTP/1.1\r\n\r\n",
      "relative target": "GET a/b HTTP/1.1\r\n\r\n",
      "query-only target": "GET ?a HTTP/1.1\r\n\r\n",
      "scheme without //": "GET http:/x HTTP/1.1\r\n\r\n",
      "scheme with a digit": "GET 1http://b HTTP/1.1\r\n\r\n",
      "scheme with punctuation": "GET x+y://b HTTP/1.1\r\n\r\n",
      "brace in the host": "GET http://h{}/ HTTP/1.1\r\n\r\n",
      "fragment right after the host": "GET http://h#x HTTP/1.1\r\n\r\n",
      "CONNECT to a host with a quote": "CONNECT h\"x:80 HTTP/1.1\r\n\r\n",
    };
    const got: Record<string, unknown> = {};
    for (const [name, bytes] of Object.entries(cases)) got[name] = status(bytes);
    assert.deepEqual(got, Object.fromEntries(Object.keys(cases).map((name) => [name, 400])));
  });

  test("binary junk (a TLS ClientHello) is refused at its first bytes, without waiting for a line end", () => {
    const hello = Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03]);
    assert.equal(status(hello), 400);
    assert.equal(status(Buffer.from("GE\0")), 400);
    assert.equal(status("GE"), "incomplete", "a method still arriving is fine");
  });

  test("an unknown method token → 405 Unknown request method (also lower-case get, as node:http answers)", () => {
    for (const line of ["FOO / HTTP/1.1\r\n\r\n", "get / HTTP/1.1\r\n\r\n", "BREW /pot HTTP/1.0\r\n\r\n"]) {
      const outcome = parse(line);
      assert.equal(outcome.kind, "error", line);
      assert.equal((outcome as { error: { status: number; code: string } }).error.status, 405, line);
      assert.equal((outcome as { error: { code: string } }).error.code, "HPE_INVALID_METHOD", line);
      assert.equal((outcome as { error: { requestLine?: string } }).error.requestLine, line.split("\r\n")[0]);
    }
  });

  test("the head limit counts request line, headers and line ends: exactly the limit passes, one byte more is 431", () => {
    const base = "GET / HTTP/1.1\r\nX-Pad: \r\n\r\n";
    const limit = 200;
    const fits = base.replace("X-Pad: ", `X-Pad: ${"a".repeat(limit - base.length)}`);
    assert.equal(fits.length, limit);
    assert.equal(status(fits, limit), "head");
    const over = base.replace("X-Pad: ", `X-Pad: ${"a".repeat(limit - base.length + 1)}`);
    assert.equal(status(over, limit), 431);
    // Byte by byte, the same.
    const everyByte = Array.from({ length: over.length - 1 }, (_, i) => i + 1);
    const outcome = parse(over, everyByte, limit);
    assert.equal(outcome.kind === "error" && outcome.error.status, 431);
  });

  test("a huge header without a line end is refused as soon as it passes the limit; so are many small ones", () => {
    const parser = new RequestParser(4096);
    assert.equal(parser.feed(Buffer.from("GET / HTTP/1.1\r\nX-Big: ")).kind, "incomplete");
    const outcome = parser.feed(Buffer.alloc(5000, 0x61));
    assert.equal(outcome.kind === "error" && outcome.error.status, 431);
    const many = `GET / HTTP/1.1\r\n${Array.from({ length: 300 }, (_, i) => `X-H${i}: bbbbbbbbbb\r\n`).join("")}\r\n`;
    assert.equal(status(many, 4096), 431);
    // Empty lines before the request count too: they cannot be used to keep a connection busy for free.
    assert.equal(status("\r\n".repeat(3000), 4096), 431);
  });
});

describe("chunked bodies", () => {
  const body = "5;name=value\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n";

  test("extensions and trailers included, the end is found however the bytes are split", () => {
    const input = Buffer.from(`${body}GET /next`, "latin1");
    for (let cut = 0; cut <= body.length; cut++) {
      const skipper = new ChunkedBodyReader(1024);
      const first = skipper.feed(input.subarray(0, cut));
      const end = first === -1 ? skipper.feed(input.subarray(cut)) : first;
      assert.equal(typeof end === "number" && (first === -1 ? cut + end : end), body.length, `cut at ${cut}`);
    }
    const skipper = new ChunkedBodyReader(1024);
    let end: unknown = -1;
    for (let i = 0; i < input.length && end === -1; i++) end = skipper.feed(input.subarray(i, i + 1)) === 1 ? i + 1 : -1;
    assert.equal(end, body.length, "byte by byte");
    assert.equal(new ChunkedBodyReader(1024).feed(Buffer.from("0\r\n\r\n")), 5);
  });

  test("the data reaches the sink whole however the bytes are split, and nothing else does", () => {
    const input = Buffer.from(`${body}GET /next`, "latin1");
    for (let cut = 0; cut <= body.length; cut++) {
      const pieces: string[] = [];
      const sink = { bodyData: (chunk: Buffer, start: number, end: number) => pieces.push(chunk.toString("latin1", start, end)) };
      const reader = new ChunkedBodyReader(1024);
      const first = reader.feed(input.subarray(0, cut), 0, sink);
      if (first === -1) reader.feed(input.subarray(cut), 0, sink);
      assert.equal(pieces.join(""), "hello0123456789", `cut at ${cut}`);
    }
  });

  test("chunk sizes with every hex digit, either case, are read as hex", () => {
    const sizes: string[] = [];
    for (const digit of "0123456789abcdefABCDEF") sizes.push(`1${digit}`);
    sizes.push("f", "F", "ff", "FF", "fF", "Ff", "00000000000a", "000000000001f");
    let wire = "";
    let data = "";
    for (const [n, size] of sizes.entries()) {
      const piece = String.fromCharCode(0x41 + (n % 26)).repeat(Number.parseInt(size, 16));
      wire += `${size}\r\n${piece}\r\n`;
      data += piece;
    }
    wire += "0\r\n\r\n";
    const received: string[] = [];
    const sink = { bodyData: (chunk: Buffer, start: number, end: number) => void received.push(chunk.toString("latin1", start, end)) };
    const input = Buffer.from(wire, "latin1");
    assert.equal(new ChunkedBodyReader(1024).feed(input, 0, sink), input.length);
    assert.equal(received.join(""), data);
  });

  test("a body of hundreds of chunks: the size digits are counted per chunk, not per body", () => {
    // 500 chunks whose sizes have 12 digits each: 6000 digits in all, each size within the 13-digit cap.
    const wire = Buffer.from(`${"000000000001\r\nx\r\n".repeat(500)}0\r\n\r\n`, "latin1");
    let size = 0;
    const sink = { bodyData: (_chunk: Buffer, start: number, end: number) => void (size += end - start) };
    assert.equal(new ChunkedBodyReader(1024).feed(wire, 0, sink), wire.length);
    assert.equal(size, 500);
  });

  test("extensions as llhttp takes them: ;name, =token, =\"quoted\" (escapes, obs-text), =nothing, repeated", () => {
    for (const extension of [";a=b;c", ";a=", ';a="\\""', ';a="\xe9 x"', ";a;b=c;d=\"\"", ";!#$%&'*+-.^_`|~", ';="b"', ";a;;b"]) {
      const wire = Buffer.from(`1${extension}\r\nx\r\n0${extension}\r\nA: b\r\nC:\r\n\r\n`, "latin1");
      assert.equal(new ChunkedBodyReader(1024).feed(wire), wire.length, JSON.stringify(extension));
    }
  });

  test("malformed chunked bodies → 400", () => {
    const llhttpRefuses = [
      "1 1\r\n", "1 ;a\r\n", "1\t\r\n", "1;\r\n", "1;;\r\n", "1;a;\r\n", "1; a\r\n", "1;a =b\r\n", "1;a=b c\r\n", "1;a=b=c\r\n", '1;a="b"c\r\n',
      '1;a="\x01"\r\n', '1;a="x\r\n', "1;\x01\r\n", "1;a=\xe9\r\n", "1\r\nx\r\n0\r\nA b\r\n", "1\r\nx\r\n0\r\nA: \x01\r\n",
      "0\r\n: v\r\n", "0\r\n A: v\r\n",
      // Framing headers in trailers: llhttp refuses two and closes on the third.
      "0\r\nTransfer-Encoding: chunked\r\n", "0\r\nContent-Length: 5\r\n", "0\r\nX: y\r\nCONNECTION: close\r\n",
    ];
    for (const bad of ["x\r\n", "\r\n", "5\r\nhelloX\r\n", "5\nhello\r\n", "5\r\nhello\n", "1\r\na\r\n0\r\n\n", "fffffffffffffff\r\n", "0\r\nX: t\n", ...llhttpRefuses]) {
      const result = new ChunkedBodyReader(1024).feed(Buffer.from(bad, "latin1"));
      assert.equal(typeof result === "object" && result.status, 400, JSON.stringify(bad));
    }
    const longTrailer = new ChunkedBodyReader(16).feed(Buffer.from(`0\r\nX: ${"t".repeat(40)}`));
    assert.equal(typeof longTrailer === "object" && longTrailer.status, 400, "a trailer line over the limit");
  });
});

describe("adversarial input", () => {
  /** A small deterministic PRNG, so a failure names a reproducible case. */
  function random(seed: number): () => number {
    let state = seed >>> 0;
    return () => {
      state = (state * 1664525 + 1013904223) >>> 0;
      return state / 0x1_0000_0000;
    };
  }

  test("3000 mutated requests: never a throw, and the same outcome whole or split at a random byte", () => {
    const base = Buffer.from("GET /bitrix/sub?CHANNEL_ID=a&tag=1 HTTP/1.1\r\nHost: example\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nContent-Length: 2\r\nIf-None-Match: 5\r\n\r\nxy", "latin1");
    const next = random(42);
    const interesting = [0x00, 0x09, 0x0a, 0x0d, 0x20, 0x3a, 0x7f, 0x80, 0xff, 0x2c, 0x3b];
    const kinds = new Set<string>();
    for (let n = 0; n < 3000; n++) {
      const bytes = Buffer.from(base);
      for (let m = 1 + Math.floor(next() * 3); m > 0; m--) {
        const at = Math.floor(next() * bytes.length);
        bytes[at] = next() < 0.5 ? interesting[Math.floor(next() * interesting.length)]! : Math.floor(next() * 256);
      }
      // Errors compare by status and code: a refusal at the first bytes has no complete request line to report.
      const outcome = (cuts: number[]): unknown => {
        const o = parse(bytes, cuts, 256);
        return o.kind === "error" ? { status: o.error.status, code: o.error.code } : o;
      };
      const whole = parse(bytes, [], 256);
      kinds.add(whole.kind === "error" ? `error ${whole.error.status}` : whole.kind);
      const cut = 1 + Math.floor(next() * (bytes.length - 1));
      assert.deepEqual(outcome([cut]), outcome([]), `case ${n}: ${JSON.stringify(bytes.toString("latin1"))} cut at ${cut}`);
    }
    // The mutations reach every kind of outcome, so the property above is not vacuous.
    for (const kind of ["head", "incomplete", "error 400", "error 405"]) assert.ok(kinds.has(kind), `${kind} among ${[...kinds].join(", ")}`);
  });

  test("junk in the method is refused with 400 however the bytes are split, also on a line past the limit (found by the fuzzer)", () => {
    const line = `${"a".repeat(70)}\0${"a".repeat(300)}\r\nHost: x\r\n\r\n`;
    for (const cuts of [[], [40], [100], [371], Array.from({ length: line.length - 1 }, (_, i) => i + 1)]) {
      const outcome = parse(line, cuts, 256);
      assert.equal(outcome.kind === "error" && outcome.error.status, 400, `cut at ${cuts.length > 5 ? "every byte" : cuts.join(",")}`);
    }
  });

  test("a 16k head fed one byte at a time parses (the partial line grows by doubling, not by copying each byte)", () => {
    const text = `GET / HTTP/1.1\r\nX-Big: ${"a".repeat(16000)}\r\n\r\n`;
    const parser = new RequestParser(LIMIT + 1024);
    const bytes = Buffer.from(text);
    let outcome: ParseOutcome = { kind: "incomplete" };
    for (let i = 0; i < bytes.length && outcome.kind === "incomplete"; i++) outcome = parser.feed(bytes.subarray(i, i + 1));
    assert.equal(outcome.kind, "head");
    assert.equal((outcome as { head: RequestHead }).head.headers["x-big"]!.length, 16000);
  });
});
