import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { hostname } from "node:os";
import {
  assertCors, assertNoCache, assertRefusal, bitrixLikeConfig, parseHead, publish, rawExchange, request, waitFor, withServer,
  CACHE_CONTROL, EXPIRES, EXPLAIN, type RawConfig, type Reply, type Running,
} from "../support/helpers.js";

/**
 * Publisher locations over real sockets (PROTOCOL.md §4, error catalogue §13).
 * Server 0 is the subscriber server (with a `/poll` polling location used to read messages back),
 * server 1 the publisher server (`/bitrix/pub/`, admin, storeMessages on).
 */

/** A polling location that renders `template`, channels from `?id=`. */
function pollLocation(template: string, path = "/poll"): RawConfig {
  return { path, subscriber: "polling", channelsPath: "$arg_id", messageTemplate: template };
}

const pubPath = (channels: string): string => `/bitrix/pub/?CHANNEL_ID=${channels}`;

function single(channel: string, published: number, stored: number, subscribers = 0): string {
  return `{"channel": "${channel}", "published_messages": ${published}, "stored_messages": ${stored}, "subscribers": ${subscribers}}`;
}

/** Header names of a reply, lower-cased and sorted, leaving out the transport ones node adds. */
function headerNames(reply: Reply): string[] {
  const names: string[] = [];
  for (let i = 0; i < reply.rawHeaders.length; i += 2) {
    const name = reply.rawHeaders[i]!.toLowerCase();
    if (!["date", "connection", "keep-alive", "transfer-encoding"].includes(name)) names.push(name);
  }
  return names.sort();
}

/** A channel-info JSON reply: 200, application/json, the no-cache pair, Content-Length, exact body. */
function assertInfoReply(reply: Reply, body: string, extraHeaders: string[] = []): void {
  assert.equal(reply.status, 200);
  assert.equal(reply.text, body);
  assert.equal(reply.headers["content-type"], "application/json");
  assert.equal(reply.headers["expires"], EXPIRES);
  assert.equal(reply.headers["cache-control"], CACHE_CONTROL);
  assert.equal(reply.headers["content-length"], String(Buffer.byteLength(body)));
  assert.deepEqual(headerNames(reply), ["cache-control", "content-length", "content-type", "expires", ...extraHeaders].sort());
}

/** Checks the group JSON shape (§4.5) and returns its variable fields. */
function parseGroup(text: string, infos: string[], channels: number): { hostname: string; time: string; uptime: number } {
  const m = /^\{"hostname": "([^"]*)", "time": "(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})", "channels": (\d+), "wildcard_channels": 0, "uptime": (\d+), "infos": \[\r\n([\s\S]*)\]\}\r\n$/.exec(text);
  assert.ok(m, `group JSON shape: ${JSON.stringify(text)}`);
  assert.equal(m[1], hostname());
  assert.equal(Number(m[3]), channels, "server-wide channel count");
  assert.equal(m[5], infos.length === 0 ? "" : `${infos.join(",\r\n")}\r\n`);
  const time = Date.parse(`${m[2]}Z`);
  assert.ok(Math.abs(time - Date.now()) < 5000, `time ${m[2]} is current UTC`);
  const uptime = Number(m[4]);
  assert.ok(uptime >= 0 && uptime < 60, `uptime ${uptime}`);
  return { hostname: m[1]!, time: m[2]!, uptime };
}

function waitForSubscribers(app: Running, ids: string[]): Promise<void> {
  return waitFor(() => ids.every((id) => (app.push.ctx.store.find(id)?.subscribers.size ?? 0) > 0), 2000, `subscribers on ${ids.join(", ")}`);
}

describe("publish (POST, PUT)", () => {
  test("POST and PUT publish; the reply is the channel info JSON, byte-exact", async () => {
    await withServer({}, async (app) => {
      const first = await publish(app.port(1), "abc", "hello");
      assertInfoReply(first, `${single("abc", 1, 1)}\r\n`);
      assert.equal(first.text, '{"channel": "abc", "published_messages": 1, "stored_messages": 1, "subscribers": 0}\r\n');

      const put = await request(app.port(1), pubPath("abc"), { method: "PUT", body: "again" });
      assertInfoReply(put, `${single("abc", 2, 2)}\r\n`);
    });
  });

  test("multi-channel publish a/b/c: group JSON; each channel gets id 1 and the message", async () => {
    await withServer({ extraSubLocations: [pollLocation("~channel~:~id~:~text~\n")] }, async (app) => {
      const reply = await publish(app.port(1), "a/b/c", "hello");
      assert.equal(reply.status, 200);
      assert.equal(reply.headers["content-type"], "application/json");
      assert.equal(reply.headers["expires"], EXPIRES);
      assert.equal(reply.headers["cache-control"], CACHE_CONTROL);
      assert.equal(reply.headers["content-length"], String(reply.body.length));
      parseGroup(reply.text, [single("a", 1, 1), single("b", 1, 1), single("c", 1, 1)], 3);

      const back = await request(app.port(0), "/poll?id=a.b5/b.b5/c.b5");
      assert.equal(back.status, 200);
      assert.equal(back.text, "a:1:hello\nb:1:hello\nc:1:hello\n");

      // A second multi publish: every channel moves to id 2; the server-wide count includes d.
      const again = await publish(app.port(1), "a/d", "x");
      parseGroup(again.text, [single("a", 2, 2), single("d", 1, 1)], 4);
    });
  });

  test("published_messages counts up; stored_messages is capped by maxMessagesStoredPerChannel", async () => {
    await withServer({ http: { maxMessagesStoredPerChannel: 3 }, extraSubLocations: [pollLocation("~id~:~text~;")] }, async (app) => {
      const expected = [[1, 1], [2, 2], [3, 3], [4, 3], [5, 3]];
      for (const [published, stored] of expected) {
        const reply = await publish(app.port(1), "ring", `m${published}`);
        assertInfoReply(reply, `${single("ring", published!, stored!)}\r\n`);
      }
      const back = await request(app.port(0), "/poll?id=ring.b10");
      assert.equal(back.text, "3:m3;4:m4;5:m5;");
    });
  });

  test("storeMessages: false → stored_messages 0 and nothing to catch up", async () => {
    await withServer({ pub: { storeMessages: false }, extraSubLocations: [pollLocation("~text~")] }, async (app) => {
      assertInfoReply(await publish(app.port(1), "volatile", "one"), `${single("volatile", 1, 0)}\r\n`);
      assertInfoReply(await publish(app.port(1), "volatile", "two"), `${single("volatile", 2, 0)}\r\n`);
      const back = await request(app.port(0), "/poll?id=volatile.b5");
      assert.equal(back.status, 304);
      assert.equal(back.body.length, 0);
    });
  });

  test("channelInfoOnPublish: false → 200 with an empty body", async () => {
    await withServer({ pub: { channelInfoOnPublish: false } }, async (app) => {
      const reply = await publish(app.port(1), "quiet", "hello");
      assert.equal(reply.status, 200);
      assert.equal(reply.body.length, 0);
      assert.equal(reply.headers["content-length"], "0");
      assert.equal(reply.headers["expires"], EXPIRES);
      assert.equal(reply.headers["cache-control"], CACHE_CONTROL);
      // The message was still published and stored.
      const info = await request(app.port(1), pubPath("quiet"));
      assertInfoReply(info, `${single("quiet", 1, 1)}\r\n`);
    });
  });
});

describe("GET channel info", () => {
  test("single channel, several channels (group), some unknown, all unknown", async () => {
    await withServer({}, async (app) => {
      await publish(app.port(1), "one", "1");
      await publish(app.port(1), "one", "2");
      await publish(app.port(1), "two", "1");

      assertInfoReply(await request(app.port(1), pubPath("one")), `${single("one", 2, 2)}\r\n`);

      const group = await request(app.port(1), pubPath("one/two"));
      assert.equal(group.status, 200);
      assert.equal(group.headers["content-type"], "application/json");
      assert.equal(group.headers["expires"], EXPIRES);
      assert.equal(group.headers["cache-control"], CACHE_CONTROL);
      parseGroup(group.text, [single("one", 2, 2), single("two", 1, 1)], 2);

      // Exactly one found, even if several were asked for → the single object (§4.3).
      assertInfoReply(await request(app.port(1), pubPath("one/nothere")), `${single("one", 2, 2)}\r\n`);

      // GET never creates a channel.
      const unknown = await request(app.port(1), pubPath("nothere"));
      assertRefusal(unknown, 404, "Channel not found.");
      assertRefusal(await request(app.port(1), pubPath("nothere/either")), 404, "Channel not found.");
      assert.equal(app.push.ctx.store.find("nothere"), undefined);
    });
  });

  test("ALL and prefix* → 403 Channel id not authorized for this method.", async () => {
    await withServer({}, async (app) => {
      await publish(app.port(1), "prefix1", "x");
      for (const ids of ["ALL", "prefix*", "*", "prefix1/ALL"]) {
        const reply = await request(app.port(1), pubPath(ids));
        assertRefusal(reply, 403, "Channel id not authorized for this method.");
        assert.equal(reply.headers["expires"], EXPIRES);
      }
      // Publishing to them is refused the same way, and creates nothing.
      assertRefusal(await publish(app.port(1), "ALL", "x"), 403, "Channel id not authorized for this method.");
      assertRefusal(await publish(app.port(1), "a*b", "x"), 403, "Channel id not authorized for this method.");
      assert.equal(app.push.ctx.store.find("ALL"), undefined);
    });
  });
});

describe("DELETE and the method matrix", () => {
  test("admin DELETE: 200 Channel deleted.; unknown → 404; publish after delete restarts ids at 1", async () => {
    await withServer({ extraSubLocations: [pollLocation("~id~:~text~;")] }, async (app) => {
      await publish(app.port(1), "doomed", "1");
      await publish(app.port(1), "doomed", "2");
      const deleted = await request(app.port(1), pubPath("doomed"), { method: "DELETE" });
      assertRefusal(deleted, 200, "Channel deleted.");
      assert.equal(deleted.headers["expires"], EXPIRES);
      assert.equal(deleted.headers["cache-control"], CACHE_CONTROL);

      assertRefusal(await request(app.port(1), pubPath("doomed")), 404, "Channel not found.");
      assertRefusal(await request(app.port(1), pubPath("doomed"), { method: "DELETE" }), 404, "Channel not found.");
      assertRefusal(await request(app.port(1), pubPath("never"), { method: "DELETE" }), 404, "Channel not found.");

      assertInfoReply(await publish(app.port(1), "doomed", "fresh"), `${single("doomed", 1, 1)}\r\n`);
      const back = await request(app.port(0), "/poll?id=doomed.b10");
      assert.equal(back.text, "1:fresh;");
    });
  });

  test("DELETE tells held subscribers with the id -2 message; a DELETE body replaces its text (§4.4, §9)", async () => {
    const lp = { path: "/lp", subscriber: "long-polling", channelsPath: "$arg_id", messageTemplate: "~id~|~channel~|~text~", longpollingConnectionTtl: "2s" };
    await withServer({ extraSubLocations: [lp] }, async (app) => {
      await publish(app.port(1), "bye1/bye2", "x");
      const held1 = request(app.port(0), "/lp?id=bye1", { timeoutMs: 3000 });
      const held2 = request(app.port(0), "/lp?id=bye2", { timeoutMs: 3000 });
      await waitForSubscribers(app, ["bye1", "bye2"]);
      assertRefusal(await request(app.port(1), pubPath("bye1"), { method: "DELETE" }), 200, "Channel deleted.");
      assertRefusal(await request(app.port(1), pubPath("bye2"), { method: "DELETE", body: "Custom bye", headers: { "Content-Length": "10" } }), 200, "Channel deleted.");
      const [r1, r2] = await Promise.all([held1, held2]);
      assert.equal(r1.status, 200);
      assert.equal(r1.text, "-2|bye1|Channel deleted");
      assert.equal(r2.status, 200);
      assert.equal(r2.text, "-2|bye2|Custom bye");
    });
  });

  test("a duplicated id is processed twice (a/a stores two messages, §2.1) and answered twice", async () => {
    await withServer({}, async (app) => {
      const published = await publish(app.port(1), "dup/dup", "x");
      assert.equal(published.status, 200);
      // The module answers for every id as requested: the group form, the channel listed twice.
      parseGroup(published.text, [single("dup", 2, 2), single("dup", 2, 2)], 1);
      assertInfoReply(await request(app.port(1), pubPath("dup")), `${single("dup", 2, 2)}\r\n`);
      const info = await request(app.port(1), pubPath("dup/missing/dup"));
      assert.equal(info.status, 200);
      parseGroup(info.text, [single("dup", 2, 2), single("dup", 2, 2)], 1);
    });
  });

  test("DELETE of several channels deletes the existing ones", async () => {
    await withServer({}, async (app) => {
      await publish(app.port(1), "d1/d2", "x");
      assertRefusal(await request(app.port(1), pubPath("d1/missing/d2"), { method: "DELETE" }), 200, "Channel deleted.");
      assertRefusal(await request(app.port(1), pubPath("d1/d2"), { method: "GET" }), 404, "Channel not found.");
    });
  });

  test("normal publisher: DELETE → 405 Allow: GET, POST, PUT; the channel survives", async () => {
    await withServer({ pub: { publisher: "normal" } }, async (app) => {
      await publish(app.port(1), "kept", "x");
      const reply = await request(app.port(1), pubPath("kept"), { method: "DELETE" });
      assert.equal(reply.status, 405);
      assert.equal(reply.headers["allow"], "GET, POST, PUT");
      assert.equal(reply.body.length, 0);
      assert.equal(reply.headers["content-length"], "0");
      assert.equal(reply.headers["expires"], EXPIRES);
      assertInfoReply(await request(app.port(1), pubPath("kept")), `${single("kept", 1, 1)}\r\n`);
      for (const method of ["PATCH", "HEAD"]) {
        const other = await request(app.port(1), pubPath("kept"), { method });
        assert.equal(other.status, 405, method);
        assert.equal(other.headers["allow"], "GET, POST, PUT", method);
      }
    });
  });

  test("admin publisher: PATCH and HEAD → 405 Allow: GET, POST, PUT, DELETE; OPTIONS → 200 empty", async () => {
    await withServer({}, async (app) => {
      for (const method of ["PATCH", "HEAD", "TRACE"]) {
        const reply = await request(app.port(1), pubPath("m"), { method });
        assert.equal(reply.status, 405, method);
        assert.equal(reply.headers["allow"], "GET, POST, PUT, DELETE", method);
        assert.equal(reply.headers["content-length"], "0", method);
        assert.equal(reply.body.length, 0, method);
      }
      const options = await request(app.port(1), pubPath("m"), { method: "OPTIONS" });
      assert.equal(options.status, 200);
      assert.equal(options.headers["content-length"], "0");
      assert.equal(options.body.length, 0);
      assert.equal(options.headers[EXPLAIN], undefined);
      // OPTIONS does not need a channel id either.
      const bare = await request(app.port(1), "/bitrix/pub/", { method: "OPTIONS" });
      assert.equal(bare.status, 200);
      assert.equal(bare.headers["content-length"], "0");
      assert.equal(app.push.ctx.store.find("m"), undefined);
    });
  });
});

describe("publisher OPTIONS", () => {
  test("OPTIONS on a publisher location (normal and admin, with and without CORS): 200 empty with the no-cache pair, as the module sends", async () => {
    for (const pub of [{}, { publisher: "normal" }, { allowedOrigins: "*" }]) {
      await withServer({ pub }, async (app) => {
        const options = await request(app.port(1), pubPath("o"), { method: "OPTIONS" });
        assert.equal(options.status, 200, JSON.stringify(pub));
        assert.equal(options.body.length, 0);
        assertNoCache(options);
      });
    }
  });
});

describe("the catch-all location of the built-in layout", () => {
  test("the site's publisher path on the browsers' port: 403 saying no location serves it there, not an address denial", async () => {
    await withServer({}, async (app) => {
      assertRefusal(await request(app.port(0), pubPath("x"), { method: "POST", body: "x" }), 403, "No location serves this path on this port.");
      assertRefusal(await request(app.port(0), pubPath("x")), 403, "No location serves this path on this port.");
      assertRefusal(await request(app.port(1), "/bitrix/sub?CHANNEL_ID=x"), 403, "No location serves this path on this port.");
      assert.equal(app.push.ctx.store.find("x"), undefined);
    });
    // A location with a role keeps the address denial.
    await withServer({ pub: { allow: ["10.9.9.9"] } }, async (app) => {
      assertRefusal(await publish(app.port(1), "x", "y"), 403, "Access denied for this address.");
    });
  });
});

describe("publisher refusals (§13)", () => {
  test("no CHANNEL_ID → 400 No channel id provided.", async () => {
    await withServer({}, async (app) => {
      for (const path of ["/bitrix/pub/", "/bitrix/pub/?CHANNEL_ID=", "/bitrix/pub/?other=1", "/bitrix/pub/?CHANNEL_ID=/"]) {
        const post = await request(app.port(1), path, { method: "POST", body: "x" });
        assertRefusal(post, 400, "No channel id provided.");
        assert.equal(post.headers["expires"], EXPIRES);
        assertRefusal(await request(app.port(1), path), 400, "No channel id provided.");
      }
    });
  });

  test("id longer than maxChannelIdLength (32) → 400 Channel id is too large.; 32 is fine", async () => {
    await withServer({}, async (app) => {
      const ok = "f".repeat(32);
      assertInfoReply(await publish(app.port(1), ok, "x"), `${single(ok, 1, 1)}\r\n`);
      const long = "f".repeat(33);
      assertRefusal(await publish(app.port(1), long, "x"), 400, "Channel id is too large.");
      assertRefusal(await request(app.port(1), pubPath(long)), 400, "Channel id is too large.");
      assertRefusal(await publish(app.port(1), `${ok}/${long}`, "x"), 400, "Channel id is too large.");
      assert.equal(app.push.ctx.store.find(long), undefined);
      // The backtrack suffix is not part of the length.
      assertInfoReply(await publish(app.port(1), `${ok}.b5`, "y"), `${single(ok, 2, 2)}\r\n`);
    });
  });

  test("empty body POST/PUT → 400 Empty post requests are not allowed.", async () => {
    await withServer({}, async (app) => {
      assertRefusal(await request(app.port(1), pubPath("empty"), { method: "POST", body: "" }), 400, "Empty post requests are not allowed.");
      assertRefusal(await request(app.port(1), pubPath("empty"), { method: "POST" }), 400, "Empty post requests are not allowed.");
      assertRefusal(await request(app.port(1), pubPath("empty"), { method: "PUT", body: "" }), 400, "Empty post requests are not allowed.");
      const raw = await rawExchange(app.port(1), "POST /bitrix/pub/?CHANNEL_ID=empty HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      const head = parseHead(raw.text);
      assert.equal(head.status, 400);
      assert.equal(head.headers.get(EXPLAIN), "Empty post requests are not allowed.");
      assert.equal(head.body, "");
      // Nothing was published.
      const info = app.push.ctx.store.find("empty");
      assert.equal(info?.lastMessageId ?? 0, 0);
    });
  });

  test("maxNumberOfChannels reached → 403 Number of channels were exceeded.; existing channels still work", async () => {
    await withServer({ http: { maxNumberOfChannels: 2 } }, async (app) => {
      assert.equal((await publish(app.port(1), "c1", "x")).status, 200);
      assert.equal((await publish(app.port(1), "c2", "x")).status, 200);
      assertRefusal(await publish(app.port(1), "c3", "x"), 403, "Number of channels were exceeded.");
      assertRefusal(await publish(app.port(1), "c1/c3", "x"), 403, "Number of channels were exceeded.");
      assertInfoReply(await publish(app.port(1), "c2", "y"), `${single("c2", 2, 2)}\r\n`);
      assert.equal(app.push.ctx.store.find("c3"), undefined);
      // Deleting one frees a slot.
      assertRefusal(await request(app.port(1), pubPath("c1"), { method: "DELETE" }), 200, "Channel deleted.");
      assertInfoReply(await publish(app.port(1), "c3", "z"), `${single("c3", 1, 1)}\r\n`);
    });
  });

  test("more channels than maxChannelsPerRequest (3) → 400 Too many channels in one request.", async () => {
    await withServer({ pub: { maxChannelsPerRequest: 3 } }, async (app) => {
      assertRefusal(await publish(app.port(1), "a/b/c/d", "x"), 400, "Too many channels in one request.");
      assertRefusal(await request(app.port(1), pubPath("a/b/c/d")), 400, "Too many channels in one request.");
      assert.equal(app.push.ctx.store.channelCount, 0, "nothing created");
      const ok = await publish(app.port(1), "a/b/c", "x");
      assert.equal(ok.status, 200);
      parseGroup(ok.text, [single("a", 1, 1), single("b", 1, 1), single("c", 1, 1)], 3);
    });
  });
});

describe("body size (clientMaxBodySize)", () => {
  const TOO_LARGE = "Request body is larger than clientMaxBodySize.";

  test("a body over the limit → 413 with explain; exactly at the limit works", async () => {
    await withServer({ pub: { clientMaxBodySize: "1k" }, extraSubLocations: [pollLocation("~size~")] }, async (app) => {
      const over = await rawExchange(app.port(1), `POST /bitrix/pub/?CHANNEL_ID=big HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n${"x".repeat(1025)}`);
      const head = parseHead(over.text);
      assert.equal(head.status, 413);
      assert.equal(head.headers.get(EXPLAIN), TOO_LARGE);
      assert.equal(head.headers.get("content-length"), "0");
      assert.equal(head.body, "");
      assert.ok(over.closedByServer, "the server closes after 413");
      assert.equal(app.push.ctx.store.find("big")?.lastMessageId ?? 0, 0, "nothing published");

      const under = await publish(app.port(1), "big", "y".repeat(1023));
      assertInfoReply(under, `${single("big", 1, 1)}\r\n`);
      const limit = await publish(app.port(1), "big", "z".repeat(1024));
      assertInfoReply(limit, `${single("big", 2, 2)}\r\n`);
      const back = await request(app.port(0), "/poll?id=big.b2");
      assert.equal(back.text, "10231024");
    });
  });

  test("a chunked body (no Content-Length) over the limit → 413; a small chunked body publishes", async () => {
    await withServer({ pub: { clientMaxBodySize: "1k" }, extraSubLocations: [pollLocation("~text~")] }, async (app) => {
      const chunk = "a".repeat(700);
      const body = `${(700).toString(16)}\r\n${chunk}\r\n${(700).toString(16)}\r\n${chunk}\r\n0\r\n\r\n`;
      const over = await rawExchange(app.port(1), `POST /bitrix/pub/?CHANNEL_ID=chunky HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
      const head = parseHead(over.text);
      assert.equal(head.status, 413);
      assert.equal(head.headers.get(EXPLAIN), TOO_LARGE);
      assert.equal(head.body, "");
      assert.equal(app.push.ctx.store.find("chunky")?.lastMessageId ?? 0, 0, "nothing published");

      const small = await rawExchange(app.port(1), "POST /bitrix/pub/?CHANNEL_ID=chunky HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
      const ok = parseHead(small.text);
      assert.equal(ok.status, 200);
      assert.equal(ok.body, `${single("chunky", 1, 1)}\r\n`);
      assert.equal((await request(app.port(0), "/poll?id=chunky.b1")).text, "abcde");
    });
  });

  test("the limit is inclusive for any limit: exactly at and one under publish, one over → 413 (Content-Length and chunked)", async () => {
    for (const [limit, bytes] of [["100", 100], [undefined, 1048576]] as const) {
      const pub = limit === undefined ? {} : { clientMaxBodySize: limit };
      await withServer({ pub, extraSubLocations: [pollLocation("~size~,")] }, async (app) => {
        const chunked = (size: number): string => `${size.toString(16)}\r\n${"c".repeat(size)}\r\n0\r\n\r\n`;
        const post = (body: string, framing: string): Promise<{ text: string }> =>
          rawExchange(app.port(1), `POST /bitrix/pub/?CHANNEL_ID=edge HTTP/1.1\r\nHost: x\r\n${framing}Connection: close\r\n\r\n${body}`);
        for (const [size, status] of [[bytes - 1, 200], [bytes, 200], [bytes + 1, 413]] as const) {
          // Over a 1 MiB limit only the declared length is sent: the refusal comes from it, and a
          // megabyte left unread would make the server's close a reset that can eat the answer.
          const sent = status === 413 && size > 10_000 ? "" : "p".repeat(size);
          const plain = parseHead((await post(sent, `Content-Length: ${size}\r\n`)).text);
          assert.equal(plain.status, status, `limit ${bytes}, Content-Length ${size}`);
          const streamed = parseHead((await post(chunked(size), "Transfer-Encoding: chunked\r\n")).text);
          assert.equal(streamed.status, status, `limit ${bytes}, chunked ${size}`);
          if (status === 413) assert.equal(streamed.headers.get(EXPLAIN), TOO_LARGE);
        }
        assert.equal((await request(app.port(0), "/poll?id=edge.b4")).text, `${bytes - 1},${bytes - 1},${bytes},${bytes},`);
      });
    }
  });
});

describe("message content", () => {
  test("Event-Id / Event-Type request headers become the message's event id and type", async () => {
    await withServer({ extraSubLocations: [pollLocation("~event-id~|~event-type~|~text~")] }, async (app) => {
      await publish(app.port(1), "ev", "with", { "Event-Id": "evt-42", "Event-Type": "greeting" });
      assert.equal((await request(app.port(0), "/poll?id=ev.b1")).text, "evt-42|greeting|with");
      await publish(app.port(1), "ev", "without");
      assert.equal((await request(app.port(0), "/poll?id=ev.b1")).text, "||without");
      // Only the exact header names count (§4.2).
      await publish(app.port(1), "ev", "near", { "Event-Ids": "no", "Event-I": "no", "Event-Types": "no" });
      assert.equal((await request(app.port(0), "/poll?id=ev.b1")).text, "||near");
      // Names are case-insensitive.
      await publish(app.port(1), "ev", "lower", { "event-id": "e2", "EVENT-TYPE": "t2" });
      assert.equal((await request(app.port(0), "/poll?id=ev.b2")).text, "||neare2|t2|lower");
    });
  });

  test("all 256 byte values round-trip in a body (binary-safe)", async () => {
    await withServer({ extraSubLocations: [pollLocation("~text~")] }, async (app) => {
      const bytes = Buffer.alloc(256);
      for (let i = 0; i < 256; i++) bytes[i] = i;
      const body = Buffer.concat([bytes, Buffer.from(bytes).reverse()]);
      const reply = await request(app.port(1), pubPath("bin"), { method: "POST", body });
      assertInfoReply(reply, `${single("bin", 1, 1)}\r\n`);
      const back = await request(app.port(0), "/poll?id=bin.b1");
      assert.equal(back.status, 200);
      assert.equal(back.headers["content-length"], "512");
      assert.ok(back.body.equals(body), "the same 512 bytes come back");
    });
  });
});

describe("access and routing", () => {
  test("allow: [10.0.0.0/8], deny: all refuses 127.0.0.1 with 403 (nothing published)", async () => {
    await withServer({ pub: { allow: ["10.0.0.0/8"], deny: "all" } }, async (app) => {
      for (const method of ["POST", "GET", "DELETE", "OPTIONS"]) {
        const reply = await request(app.port(1), pubPath("sec"), { method, body: method === "POST" ? "x" : undefined });
        assert.equal(reply.status, 403, method);
        assert.equal(reply.body.length, 0, method);
        assert.equal(reply.headers["content-length"], "0", method);
      }
      assert.equal(app.push.ctx.store.find("sec"), undefined);
    });
  });

  test("{ path: \"/\", deny: \"all\" } → 403; a path matching no location → 404", async () => {
    await withServer({}, async (app) => {
      const denied = await request(app.port(1), "/other?CHANNEL_ID=x", { method: "POST", body: "x" });
      assert.equal(denied.status, 403);
      assert.equal(denied.body.length, 0);
      // /bitrix/pub without the trailing slash is not the publisher location either.
      assert.equal((await request(app.port(1), "/bitrix/pub?CHANNEL_ID=x", { method: "POST", body: "x" })).status, 403);
      assert.equal(app.push.ctx.store.find("x"), undefined);
    });
    const raw = bitrixLikeConfig();
    const servers = raw.servers as Array<{ locations: RawConfig[] }>;
    servers[1]!.locations = servers[1]!.locations.filter((l) => l.path !== "/");
    await withServer(raw, async (app) => {
      const missing = await request(app.port(1), "/nowhere?CHANNEL_ID=x", { method: "POST", body: "x" });
      assert.equal(missing.status, 404);
      assert.equal(missing.body.length, 0);
      assert.equal(missing.headers["content-length"], "0");
      assert.equal((await publish(app.port(1), "x", "y")).status, 200);
    });
  });

  test("CORS: allowedOrigins \"*\" adds the CORS headers to every publisher answer", async () => {
    await withServer({ pub: { allowedOrigins: "*" } }, async (app) => {
      const admin = "GET, POST, PUT, DELETE";
      const pub = await publish(app.port(1), "cors", "x");
      assertInfoReply(pub, `${single("cors", 1, 1)}\r\n`, ["access-control-allow-origin", "access-control-allow-methods", "access-control-allow-headers"]);
      assertCors(pub, admin);
      assertCors(await request(app.port(1), pubPath("cors")), admin);
      assertCors(await request(app.port(1), pubPath("unknown")), admin);
      assertCors(await request(app.port(1), "/bitrix/pub/", { method: "POST", body: "x" }), admin);
      assertCors(await request(app.port(1), pubPath("cors"), { method: "PATCH" }), admin);
      const options = await request(app.port(1), pubPath("cors"), { method: "OPTIONS" });
      assert.equal(options.status, 200);
      assertCors(options, admin);
      assertCors(await request(app.port(1), pubPath("cors"), { method: "DELETE" }), admin);
    });
    await withServer({ pub: { allowedOrigins: "*", publisher: "normal" } }, async (app) => {
      assertCors(await publish(app.port(1), "cors", "x"), "GET, POST, PUT");
    });
    await withServer({}, async (app) => {
      const plain = await publish(app.port(1), "cors", "x");
      assert.equal(plain.headers["access-control-allow-origin"], undefined);
      assert.equal(plain.headers["access-control-allow-methods"], undefined);
    });
  });
});
