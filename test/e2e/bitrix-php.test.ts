import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { envelopes, headerMap, hexId, publish, request, sleep, waitFor, withServer, EPOCH } from "../support/helpers.js";
import { phpRequestBytes } from "../support/bitrix-site.js";

/**
 * Exactly what the Bitrix `pull` module's PHP side sends to the publisher (BITRIX.md §1.2–1.5),
 * as raw bytes: HTTP/1.0 POSTs with `Connection: close`, a JSON body labelled form-urlencoded,
 * `Message-Expiry`, multi-channel `CHANNEL_ID=a/b`, and the online check (a GET with a body).
 */

const CATCH_UP = `tag=0&time=${encodeURIComponent(EPOCH)}`;
const CATCH_UP_BITRIX = "tag=0&time=Thu,%2001%20Jan%201970%2000:00:00%20GMT";

function bitrixBody(text: string): string {
  return JSON.stringify({
    module_id: "im",
    command: "message",
    params: { dialogId: "chat12", message: { id: 345, text, senderId: 1 } },
    extra: {
      server_time: "2024-05-09T21:16:33+03:00",
      server_time_unix: 1715278593.1234,
      server_name: "bitrix.example.com",
      revision_web: 19,
      revision_mobile: 3,
    },
  });
}

interface RawReply {
  statusLine: string;
  status: number;
  headers: Map<string, string>;
  body: Buffer;
}

/** One parsed response from the front of `buf`, or undefined when more bytes are needed. */
function parseReply(buf: Buffer, closed: boolean): { reply: RawReply; used: number } | undefined {
  const end = buf.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const [statusLine, ...lines] = buf.subarray(0, end).toString("latin1").split("\r\n");
  const headers = headerMap(lines);
  const status = Number(/^HTTP\/1\.[01] (\d{3})( |$)/.exec(statusLine!)?.[1]);
  const start = end + 4;
  const length = headers.get("content-length");
  if (length !== undefined) {
    const total = start + Number(length);
    if (buf.length < total) return undefined;
    return { reply: { statusLine: statusLine!, status, headers, body: buf.subarray(start, total) }, used: total };
  }
  if (headers.get("transfer-encoding") === "chunked") {
    const parts: Buffer[] = [];
    let at = start;
    for (;;) {
      const eol = buf.indexOf("\r\n", at);
      if (eol < 0) return undefined;
      const size = parseInt(buf.subarray(at, eol).toString("latin1"), 16);
      if (buf.length < eol + 2 + size + 2) return undefined;
      if (size === 0) return { reply: { statusLine: statusLine!, status, headers, body: Buffer.concat(parts) }, used: eol + 4 };
      parts.push(buf.subarray(eol + 2, eol + 2 + size));
      at = eol + 2 + size + 2;
    }
  }
  if (status === 304 || status === 204) return { reply: { statusLine: statusLine!, status, headers, body: Buffer.alloc(0) }, used: start };
  if (!closed) return undefined;
  return { reply: { statusLine: statusLine!, status, headers, body: buf.subarray(start) }, used: buf.length };
}

/** A raw client connection that reads responses one at a time (for keep-alive tests). */
class RawConnection {
  private buf = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  closed = false;

  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      this.wake?.();
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      this.closed = true;
      this.wake?.();
    });
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, "127.0.0.1", () => resolve(new RawConnection(socket)));
      socket.once("error", reject);
    });
  }

  write(bytes: string | Buffer): void {
    this.socket.write(bytes);
  }

  async reply(timeoutMs = 2000): Promise<RawReply> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const parsed = parseReply(this.buf, this.closed);
      if (parsed) {
        this.buf = this.buf.subarray(parsed.used);
        return parsed.reply;
      }
      if (this.closed) throw new Error(`connection closed before a complete reply: ${JSON.stringify(this.buf.toString("latin1"))}`);
      const left = until - Date.now();
      if (left <= 0) throw new Error(`no complete reply within ${timeoutMs} ms: ${JSON.stringify(this.buf.toString("latin1"))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** Resolves true if the server closes within `ms`. */
  async closesWithin(ms: number): Promise<boolean> {
    const until = Date.now() + ms;
    while (!this.closed && Date.now() < until) await sleep(5);
    return this.closed;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** One PHP-style exchange: send, read until the server closes. */
async function phpExchange(port: number, bytes: string): Promise<{ reply: RawReply; headersAfterMs: number; closedByServer: boolean }> {
  const started = Date.now();
  const conn = await RawConnection.open(port);
  conn.write(bytes);
  const reply = await conn.reply(3000);
  const headersAfterMs = Date.now() - started;
  const closedByServer = await conn.closesWithin(1000);
  conn.destroy();
  return { reply, headersAfterMs, closedByServer };
}

describe("Bitrix publish (BITRIX.md §1.2–1.3)", () => {
  test("HTTP/1.0 POST of two 32-hex channels: 200, closed by the server, both channels get the message", async () => {
    await withServer({}, async (app) => {
      const [a, b] = [hexId(0xa11ce), hexId(0xb0b)];
      const body = bitrixBody("Привет, мир — \"quoted\" \\ slash");
      const { reply, headersAfterMs, closedByServer } = await phpExchange(app.port(1), phpRequestBytes("POST", app.port(1), `${a}/${b}`, body, 86400));
      assert.match(reply.statusLine, /^HTTP\/1\.[01] 200 OK$/);
      assert.ok(closedByServer, "the server closes an HTTP/1.0 Connection: close exchange");
      assert.ok(headersAfterMs < 1000, `headers at once (PHP waits at most 5 s), took ${headersAfterMs} ms`);
      assert.equal(reply.headers.get("content-type"), "application/json");
      assert.equal(reply.headers.get("content-length"), String(reply.body.length));
      const info = JSON.parse(reply.body.toString("utf8")) as { infos: Array<Record<string, unknown>> };
      assert.deepEqual(info.infos, [
        { channel: a, published_messages: 1, stored_messages: 1, subscribers: 0 },
        { channel: b, published_messages: 1, stored_messages: 1, subscribers: 0 },
      ]);

      const sub = await request(app.port(0), `/bitrix/sub?CHANNEL_ID=${a}/${b}&${CATCH_UP_BITRIX}`, { timeoutMs: 3000 });
      assert.equal(sub.status, 200);
      const got = envelopes(sub.text);
      assert.deepEqual(got.map((e) => [e.id, e.channel, e.eventid]), [[1, a, ""], [1, b, ""]]);
      for (const e of got) assert.deepEqual(e.text, JSON.parse(body));
      // The second message has the later cursor: same second, next tag (or a later second).
      const [first, second] = got;
      const t1 = Date.parse(first!.time) / 1000;
      const t2 = Date.parse(second!.time) / 1000;
      assert.ok(t2 > t1 || (t2 === t1 && Number(second!.tag) === Number(first!.tag) + 1), "publish order cursor");
      // The body went into the message byte for byte (UTF-8 text, quotes, backslash).
      assert.ok(sub.body.includes(Buffer.from(`"text":${body}}#!NGINXNME!#`)), "raw body inside the envelope");
    });
  });

  test("a single channel, a %-encoded list, and a message a browser long-poll is waiting for", async () => {
    await withServer({}, async (app) => {
      const [a, b] = [hexId(1), hexId(2)];
      const single = await phpExchange(app.port(1), phpRequestBytes("POST", app.port(1), a, bitrixBody("first"), 86400));
      assert.equal(single.reply.status, 200);
      assert.equal(single.reply.body.toString("latin1"), `{"channel": "${a}", "published_messages": 1, "stored_messages": 1, "subscribers": 0}\r\n`);

      const encoded = await phpExchange(app.port(1), phpRequestBytes("POST", app.port(1), `${a}%2F${b}`, bitrixBody("second"), 86400));
      assert.equal(encoded.reply.status, 200);
      assert.deepEqual((JSON.parse(encoded.reply.body.toString()) as { infos: Array<{ channel: string }> }).infos.map((i) => i.channel), [a, b]);

      // A browser holds on `a` with the cursor of the last message it saw; the next publish wakes it.
      const seen = envelopes((await request(app.port(0), `/bitrix/sub?CHANNEL_ID=${a}&${CATCH_UP}`)).text);
      assert.deepEqual(seen.map((e) => e.id), [1, 2]);
      const last = seen[seen.length - 1]!;
      const held = request(app.port(0), `/bitrix/sub?CHANNEL_ID=${a}&tag=${last.tag}&time=${encodeURIComponent(last.time)}`, { timeoutMs: 3000 });
      await waitFor(() => (app.push.ctx.store.find(a)?.subscribers.size ?? 0) === 1, 2000, "long-poll held");
      const live = await phpExchange(app.port(1), phpRequestBytes("POST", app.port(1), a, bitrixBody("live"), 86400));
      assert.equal(live.reply.body.toString("latin1"), `{"channel": "${a}", "published_messages": 3, "stored_messages": 3, "subscribers": 0}\r\n`);
      const woke = await held;
      assert.equal(woke.status, 200);
      assert.deepEqual(envelopes(woke.text).map((e) => [e.id, (e.text as { params: { message: { text: string } } }).params.message.text]), [[3, "live"]]);
    });
  });
});

describe("online check (BITRIX.md §1.5)", () => {
  test("GET with the id list as body → infos[] with channel and subscribers; a held long-poll counts while held", async () => {
    await withServer({ sub: { longpollingConnectionTtl: "1s" } }, async (app) => {
      const ids = [hexId(11), hexId(12), hexId(13)];
      await publish(app.port(1), ids.join("/"), bitrixBody("hello"));
      const held = request(app.port(0), `/bitrix/sub?CHANNEL_ID=${ids[0]}`, { timeoutMs: 3000 });
      await waitFor(() => (app.push.ctx.store.find(ids[0]!)?.subscribers.size ?? 0) === 1, 2000, "long-poll held");

      const online = async (): Promise<Array<{ channel: string; subscribers: number }>> => {
        const list = ids.join("/");
        const { reply, closedByServer } = await phpExchange(app.port(1), phpRequestBytes("GET", app.port(1), list, list));
        assert.equal(reply.status, 200);
        assert.ok(closedByServer);
        assert.equal(reply.headers.get("content-type"), "application/json");
        const parsed = JSON.parse(reply.body.toString("utf8")) as { infos: Array<{ channel: string; subscribers: number }> };
        assert.ok(Array.isArray(parsed.infos));
        return parsed.infos.map(({ channel, subscribers }) => ({ channel, subscribers }));
      };

      assert.deepEqual(await online(), [
        { channel: ids[0]!, subscribers: 1 },
        { channel: ids[1]!, subscribers: 0 },
        { channel: ids[2]!, subscribers: 0 },
      ]);
      // The GET published nothing (the body is ignored).
      assert.equal(app.push.ctx.store.find(ids[1]!)!.lastMessageId, 1);

      const timedOut = await held;
      assert.equal(timedOut.status, 304);
      assert.deepEqual(await online(), [
        { channel: ids[0]!, subscribers: 0 },
        { channel: ids[1]!, subscribers: 0 },
        { channel: ids[2]!, subscribers: 0 },
      ]);

      // One channel: a single object, which PHP wraps into {"infos": [ … ]} itself.
      const one = await phpExchange(app.port(1), phpRequestBytes("GET", app.port(1), ids[2]!, ids[2]!));
      assert.equal(one.reply.body.toString("latin1"), `{"channel": "${ids[2]}", "published_messages": 1, "stored_messages": 1, "subscribers": 0}\r\n`);
    });
  });

  test("a GET with a body on a keep-alive HTTP/1.1 connection leaves it usable (PROTOCOL §18.10)", async () => {
    await withServer({}, async (app) => {
      const [a, b] = [hexId(21), hexId(22)];
      await publish(app.port(1), `${a}/${b}`, bitrixBody("x"));
      const conn = await RawConnection.open(app.port(1));
      try {
        const list = `${a}/${b}`;
        conn.write(`GET /bitrix/pub/?CHANNEL_ID=${list} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${list.length}\r\n\r\n${list}`);
        const first = await conn.reply();
        assert.equal(first.status, 200);
        assert.deepEqual((JSON.parse(first.body.toString()) as { infos: Array<{ channel: string }> }).infos.map((i) => i.channel), [a, b]);
        assert.notEqual(first.headers.get("connection"), "close");

        conn.write(`GET /bitrix/pub/?CHANNEL_ID=${a} HTTP/1.1\r\nHost: x\r\n\r\n`);
        const second = await conn.reply();
        assert.equal(second.status, 200);
        assert.equal(second.body.toString("latin1"), `{"channel": "${a}", "published_messages": 1, "stored_messages": 1, "subscribers": 0}\r\n`);

        // Refusals answered before the body is looked at (403 ALL, 400 too long, 404 unknown) with a body.
        const refused: Array<[string, number]> = [["ALL", 403], ["f".repeat(33), 400], [hexId(99), 404]];
        for (const [id, status] of refused) {
          conn.write(`GET /bitrix/pub/?CHANNEL_ID=${id} HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nsome/body`);
          assert.equal((await conn.reply()).status, status, id);
          conn.write(`POST /bitrix/pub/?CHANNEL_ID=${id} HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nsome/body`);
          assert.equal((await conn.reply()).status, status === 404 ? 200 : status, `POST ${id}`);
        }

        // Then a publish on the same connection still works and its body is intact.
        const body = bitrixBody("after");
        conn.write(`POST /bitrix/pub/?CHANNEL_ID=${a} HTTP/1.1\r\nHost: x\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
        const third = await conn.reply();
        assert.equal(third.status, 200);
        assert.equal(third.body.toString("latin1"), `{"channel": "${a}", "published_messages": 2, "stored_messages": 2, "subscribers": 0}\r\n`);
      } finally {
        conn.destroy();
      }
      const sub = await request(app.port(0), `/bitrix/sub?CHANNEL_ID=${a}&${CATCH_UP}`);
      assert.deepEqual(envelopes(sub.text).map((e) => e.id), [1, 2]);
      assert.equal(app.push.ctx.store.find("some"), undefined, "no body was taken for a request line");
    });
  });

  test("pipelined: a GET with a body and the next request in one write get two correct replies", async () => {
    await withServer({}, async (app) => {
      const a = hexId(31);
      await publish(app.port(1), a, bitrixBody("x"));
      const conn = await RawConnection.open(app.port(1));
      try {
        conn.write(`GET /bitrix/pub/?CHANNEL_ID=${a} HTTP/1.1\r\nHost: x\r\nContent-Length: ${a.length}\r\n\r\n${a}`
          + `GET /bitrix/pub/?CHANNEL_ID=${a}/${hexId(32)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
        const expected = `{"channel": "${a}", "published_messages": 1, "stored_messages": 1, "subscribers": 0}\r\n`;
        const first = await conn.reply();
        assert.equal(first.status, 200);
        assert.equal(first.body.toString("latin1"), expected);
        const second = await conn.reply();
        assert.equal(second.status, 200);
        assert.equal(second.body.toString("latin1"), expected);
        assert.ok(await conn.closesWithin(1000), "closed after Connection: close");
      } finally {
        conn.destroy();
      }
    });
  });
});

describe("Message-Expiry (BITRIX.md §1.2)", () => {
  test("a Message-Expiry: 1 message is gone from catch-up after ~1.2 s; the channel's other messages stay", async () => {
    await withServer({}, async (app) => {
      const ch = hexId(41);
      const send = (text: string, expiry?: number) => phpExchange(app.port(1), phpRequestBytes("POST", app.port(1), ch, bitrixBody(text), expiry));
      assert.equal((await send("long", 86400)).reply.status, 200);
      assert.equal((await send("short", 1)).reply.status, 200);
      assert.equal((await send("default")).reply.status, 200);
      assert.equal((await send("junk-expiry-header-is-ignored", Number.NaN)).reply.status, 200);

      const texts = async (): Promise<string[]> => {
        const sub = await request(app.port(0), `/bitrix/sub?CHANNEL_ID=${ch}&${CATCH_UP}`, { timeoutMs: 3000 });
        assert.equal(sub.status, 200);
        return envelopes(sub.text).map((e) => (e.text as { params: { message: { text: string } } }).params.message.text);
      };
      assert.deepEqual(await texts(), ["long", "short", "default", "junk-expiry-header-is-ignored"]);
      await sleep(1200);
      assert.deepEqual(await texts(), ["long", "default", "junk-expiry-header-is-ignored"]);
    }, { sweepMs: 50 });
  });

  test("an expired message no longer counts in stored_messages (first or in the middle of the channel)", async () => {
    await withServer({}, async (app) => {
      const [front, middle] = [hexId(51), hexId(52)];
      await publish(app.port(1), front, bitrixBody("short"), { "Message-Expiry": "1" });
      await publish(app.port(1), front, bitrixBody("long"), { "Message-Expiry": "86400" });
      await publish(app.port(1), middle, bitrixBody("long"), { "Message-Expiry": "86400" });
      await publish(app.port(1), middle, bitrixBody("short"), { "Message-Expiry": "1" });
      await publish(app.port(1), middle, bitrixBody("long2"), { "Message-Expiry": "86400" });
      await sleep(1200);
      const info = async (id: string): Promise<string> => (await request(app.port(1), `/bitrix/pub/?CHANNEL_ID=${id}`)).text;
      assert.equal(await info(front), `{"channel": "${front}", "published_messages": 2, "stored_messages": 1, "subscribers": 0}\r\n`);
      assert.equal(await info(middle), `{"channel": "${middle}", "published_messages": 3, "stored_messages": 2, "subscribers": 0}\r\n`);
    }, { sweepMs: 50 });
  });

  test("a channel whose only message expired loses its authorization (authorizedChannelsOnly → 403)", async () => {
    await withServer({}, async (app) => {
      const ch = hexId(61);
      await publish(app.port(1), ch, bitrixBody("open"), { "Message-Expiry": "1" });
      const before = await request(app.port(0), `/bitrix/sub?CHANNEL_ID=${ch}&${CATCH_UP}`, { timeoutMs: 3000 });
      assert.equal(before.status, 200);
      await sleep(1200);
      const after = await request(app.port(0), `/bitrix/sub?CHANNEL_ID=${ch}&${CATCH_UP}`, { timeoutMs: 3000 });
      assert.equal(after.status, 403);
      assert.equal(after.headers["x-nginx-pushstream-explain"], "Subscriber could not create channels.");
    }, { sweepMs: 50 });
  });
});
