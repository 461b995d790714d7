import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Refusal } from "../../src/core/refusal.js";
import type { Socket } from "node:net";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { StartOptions } from "../../src/app.js";
import { ManualClock } from "../../src/core/clock.js";
import { RecordingLogger } from "../support/context.js";
import {
  bitrixLikeConfig, lastStored, publishOk, request, sleep, start, waitFor, withServer,
  CACHE_CONTROL, EPOCH, EXPIRES, EXPLAIN, type RawConfig, type Running,
} from "../support/helpers.js";
import { closePayload, encodeFrame, handshakeRequest, OP, SAMPLE_ACCEPT, WsClient, type HandshakeOptions, type ParsedFrame } from "../support/ws-client.js";

/**
 * WebSocket subscribers end to end over real sockets (PROTOCOL.md §8.6, §9, §18; pushwire's
 * close codes from the transports brief). Each test runs BitrixVM's layout plus a /ws/ location
 * configured for it; the raw client in ws-client.ts checks the exact bytes.
 */

const KEY = "/mQoZf6pRiv8+6o72GncLQ==";
const ACCEPT = "RaIOIcQ6CBoc74B9EKdH0avYZnw=";
const TEMPLATE = "~id~:~channel~:~text~";

/** BitrixVM's layout with a /ws/ WebSocket location (template `~id~:~channel~:~text~`) plus `ws` overrides. */
function wsConfig(ws: RawConfig = {}, extra: RawConfig[] = []): RawConfig {
  return bitrixLikeConfig({
    extraSubLocations: [
      {
        path: "/ws/",
        subscriber: "websocket",
        channelsPath: "$arg_CHANNEL_ID",
        lastReceivedMessageTag: "$arg_tag",
        lastReceivedMessageTime: "$arg_time",
        messageTemplate: TEMPLATE,
        ...ws,
      },
      ...extra,
    ],
  });
}

/** withServer that first cuts every client socket a failing test left open (the server's close waits for them). */
async function serve(config: RawConfig, body: (app: Running) => Promise<void>, startOptions: StartOptions = {}): Promise<void> {
  await withServer(config, async (app) => {
    const sockets = trackSockets(app);
    try {
      await body(app);
    } finally {
      WsClient.destroyAll();
      // A socket the server forgot (a bug a test found) would keep close() waiting forever.
      for (const socket of sockets) socket.destroy();
    }
  }, startOptions);
}

/** Every socket the servers accept, so a test can cut what the server failed to close. */
function trackSockets(app: Running): Set<Socket> {
  const sockets = new Set<Socket>();
  for (const { server } of app.push.listeners) {
    server.on("connection", (socket: Socket) => {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
    });
  }
  return sockets;
}

/** Opens a WebSocket on /ws/ for `channels` (and an optional query tail), asserting the 101. */
function ws(app: Running, channels: string, tail = "", options: HandshakeOptions = {}): Promise<WsClient> {
  return WsClient.upgrade(app.port(0), `/ws/?CHANNEL_ID=${channels}${tail}`, options);
}

/** The publisher's channel info for one channel (GET on the admin publisher). */
async function channelInfo(app: Running, channel: string): Promise<{ published_messages: number; stored_messages: number; subscribers: number }> {
  const reply = await request(app.port(1), `/bitrix/pub/?CHANNEL_ID=${channel}`);
  assert.equal(reply.status, 200, `channel info of ${channel}: ${reply.text}`);
  return JSON.parse(reply.text);
}

/** Asserts that nothing keeps `ref`'s object alive: a full collection frees it. */
async function expectCollected(ref: WeakRef<object>, what: string): Promise<void> {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  for (let i = 0; i < 10 && ref.deref() !== undefined; i++) {
    await sleep(20); // let the close callbacks run and their stack frames go
    gc();
  }
  assert.equal(ref.deref(), undefined, `${what} is released`);
}

/** Subscribers of a channel (0 when it does not exist). */
function subscribers(app: Running, channel: string): number {
  return app.push.ctx.store.find(channel)?.subscribers.size ?? 0;
}

/** Open TCP connections on server `i` (upgraded sockets included). */
function connections(app: Running, i = 0): Promise<number> {
  const server = app.push.listeners[i]!.server;
  return new Promise((resolve, reject) => server.getConnections((error, n) => (error ? reject(error) : resolve(n))));
}

/**
 * Waits until server `i` has let every connection go (the client has already closed or been told to).
 * getConnections drops a socket when it is destroyed, a moment before its 'close' event releases
 * what was held on it: wait for the held set separately.
 */
async function expectNoConnections(app: Running, what: string, i = 0): Promise<void> {
  const until = Date.now() + 2000;
  let open = await connections(app, i);
  while (open > 0 && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    open = await connections(app, i);
  }
  assert.equal(open, 0, `${what}: the server closed its side too`);
}

/** Bytes of an unmasked final server frame. */
function serverFrame(opcode: number, payload: Buffer | string): Buffer {
  return encodeFrame(opcode, payload, { mask: false });
}

const hex = (frame: ParsedFrame): string => frame.raw.toString("hex");

/** Waits until the server has read everything sent so far: a ping round trip. */
async function sync(client: WsClient, token = "sync"): Promise<void> {
  client.send(OP.ping, token);
  const frame = await client.nextFrame();
  assert.equal(hex(frame), serverFrame(OP.pong, token).toString("hex"), "the pong of the sync ping");
}

/** Answers the server's close and expects the server to close the TCP connection. */
async function answerCloseAndExpectEnd(client: WsClient, code = 1000): Promise<void> {
  client.send(OP.close, closePayload(code));
  await client.waitEnd();
  assert.equal(client.buffer.length, 0, "nothing after the close frame");
  client.destroy();
}

/** Asserts the next frame is an unmasked close with `code` (any reason). */
async function expectCloseCode(client: WsClient, code: number): Promise<void> {
  const frame = await client.nextFrame();
  assert.equal(frame.opcode, OP.close, `a close frame, got ${hex(frame)}`);
  assert.equal(frame.closeCode, code, `close code (payload ${JSON.stringify(frame.payload.subarray(2).toString())})`);
  assert.equal(frame.masked, false);
  assert.ok(frame.payload.length <= 125);
}

describe("websocket: handshake", () => {
  test("101 with exactly Expires, Cache-Control, Upgrade, Connection and the accept key", async () => {
    await serve(wsConfig(), async (app) => {
      const client = await ws(app, "abc", "", { key: KEY });
      assert.equal(client.head,
        "HTTP/1.1 101 Switching Protocols\r\n"
        + `Expires: ${EXPIRES}\r\n`
        + `Cache-Control: ${CACHE_CONTROL}\r\n`
        + "Upgrade: WebSocket\r\n"
        + "Connection: Upgrade\r\n"
        + `Sec-WebSocket-Accept: ${ACCEPT}\r\n\r\n`);
      assert.equal(client.buffer.length, 0, "no frame before anything is published (no header template)");
      client.destroy();
    });
  });

  for (const version of ["8", "13"]) {
    test(`version ${version} is accepted`, async () => {
      await serve(wsConfig(), async (app) => {
        const client = await ws(app, "abc", "", { version, key: KEY });
        assert.equal(client.status, 101);
        assert.equal(client.headers.get("sec-websocket-accept"), ACCEPT);
        const sample = await ws(app, "abc", "", { version });
        assert.equal(sample.headers.get("sec-websocket-accept"), SAMPLE_ACCEPT, "RFC 6455 §1.3's example key");
        sample.destroy();
        client.destroy();
      });
    });
  }

  test("version 7 → 400 with Sec-WebSocket-Version: 8, 13 and the explain, then the connection closes", async () => {
    await serve(wsConfig(), async (app) => {
      const client = await WsClient.connect(app.port(0), "/ws/?CHANNEL_ID=abc", { version: "7" });
      assert.equal(client.status, 400, client.head);
      assert.equal(client.headers.get("sec-websocket-version"), "8, 13");
      assert.equal(client.headers.get(EXPLAIN), "Version not supported. Supported versions: 8, 13");
      assert.equal(client.headers.get("content-length"), "0");
      await client.waitEnd();
      assert.equal(client.received.length, 0, "no body, no frame");
      assert.equal(app.push.ctx.store.find("abc"), undefined, "no channel was created");
      await client.waitClosed();
      await expectNoConnections(app, "a 400 to an upgrade");
    });
  });

  const mandatory = "Don't have at least one of the mandatory headers: Connection, Upgrade, Sec-WebSocket-Key and Sec-WebSocket-Version";
  for (const missing of ["Sec-WebSocket-Key", "Sec-WebSocket-Version"]) {
    test(`missing ${missing} → 400 with the mandatory-headers explain`, async () => {
      await serve(wsConfig(), async (app) => {
        const client = await WsClient.connect(app.port(0), "/ws/?CHANNEL_ID=abc", { headers: { [missing]: null } });
        assert.equal(client.status, 400, client.head);
        assert.equal(client.headers.get(EXPLAIN), mandatory);
        await client.waitEnd();
      });
    });
  }

  test("a plain GET without Upgrade → 400 with the mandatory-headers explain", async () => {
    await serve(wsConfig(), async (app) => {
      const reply = await request(app.port(0), "/ws/?CHANNEL_ID=abc");
      assert.equal(reply.status, 400);
      assert.equal(reply.headers[EXPLAIN], mandatory);
      assert.equal(reply.body.length, 0);
    });
  });

  test("a plain GET with the WebSocket headers but Connection: keep-alive → 400, not a 101", async () => {
    await serve(wsConfig(), async (app) => {
      const client = await WsClient.connect(app.port(0), "/ws/?CHANNEL_ID=abc", { headers: { Connection: "keep-alive" } });
      assert.equal(client.status, 400, client.head);
      assert.equal(client.headers.get(EXPLAIN), "A WebSocket location needs an upgrade request (Connection: Upgrade).");
      client.destroy();
    });
  });

  test("POST → 405 with Allow: GET", async () => {
    await serve(wsConfig(), async (app) => {
      const client = await WsClient.connect(app.port(0), "/ws/?CHANNEL_ID=abc", { method: "POST", headers: { "Content-Length": "0" } });
      assert.equal(client.status, 405, client.head);
      assert.equal(client.headers.get("allow"), "GET");
      assert.equal(client.headers.get(EXPLAIN), "Method not allowed.");
      await client.waitEnd();
    });
  });

  test("an HTTP/1.0 upgrade works", async () => {
    await serve(wsConfig(), async (app) => {
      const client = await ws(app, "abc", "", { httpVersion: "1.0", key: KEY, headers: { Host: null } });
      assert.match(client.head, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
      assert.equal(client.headers.get("sec-websocket-accept"), ACCEPT);
      await publishOk(app, "abc", "hi");
      assert.equal(await client.nextText(), "1:abc:hi");
      client.destroy();
    });
  });

  test("deny → 403 as HTTP before any 101", async () => {
    await serve(wsConfig({ deny: "all" }), async (app) => {
      const client = await WsClient.connect(app.port(0), "/ws/?CHANNEL_ID=abc");
      assert.equal(client.status, 403, client.head);
      assert.equal(client.headers.get(EXPLAIN), "Access denied for this address.");
      await client.waitEnd();
      assert.equal(app.push.ctx.store.find("abc"), undefined);
    });
  });

  test("allow (another network) → 403; allow (loopback) → 101", async () => {
    await serve(wsConfig({ allow: ["10.0.0.0/8"], deny: "all" }), async (app) => {
      const client = await WsClient.connect(app.port(0), "/ws/?CHANNEL_ID=abc");
      assert.equal(client.status, 403, client.head);
      await client.waitEnd();
    });
    await serve(wsConfig({ allow: ["127.0.0.0/8"], deny: "all" }), async (app) => {
      const client = await ws(app, "abc");
      assert.equal(client.status, 101);
      client.destroy();
    });
  });

  test("rejectArgs → 400 as HTTP before any 101", async () => {
    await serve(wsConfig({ rejectArgs: ["callback"] }), async (app) => {
      const client = await WsClient.connect(app.port(0), "/ws/?CHANNEL_ID=abc&callback=f");
      assert.equal(client.status, 400, client.head);
      assert.equal(client.headers.get(EXPLAIN), "Argument callback is not allowed here.");
      await client.waitEnd();
    });
  });
});

describe("websocket: refusals after the 101", () => {
  test("authorizedChannelsOnly → exactly 88 49 03 F0 + the JSON explain; the TCP close follows the client's close", async () => {
    await serve(wsConfig(), async (app) => {
      // BitrixVM's own /bitrix/subws/ has authorizedChannelsOnly.
      const client = await WsClient.upgrade(app.port(0), "/bitrix/subws/?CHANNEL_ID=nochannel");
      const json = '{"http_status": 403, "explain":"Subscriber could not create channels."}';
      const expected = Buffer.concat([Buffer.from([0x88, 0x49, 0x03, 0xf0]), Buffer.from(json)]);
      assert.equal((await client.bytes(expected.length)).toString("hex"), expected.toString("hex"));
      assert.equal(app.push.ctx.store.find("nochannel"), undefined, "no channel was created");
      // Answer as browsers do; the server then closes TCP and lets the socket go.
      client.send(OP.close, closePayload(1008));
      await client.waitEnd();
      assert.equal(client.buffer.length, 0, "nothing after the close frame");
      await client.waitClosed();
      await expectNoConnections(app, "refused after the 101");
    });
  });

  test("no channel id → close 1008 with a 400 JSON explain", async () => {
    await serve(wsConfig(), async (app) => {
      const client = await WsClient.upgrade(app.port(0), "/ws/");
      const frame = await client.nextFrame();
      assert.equal(frame.opcode, OP.close);
      assert.equal(frame.closeCode, 1008);
      assert.equal(frame.payload.subarray(2).toString(), '{"http_status": 400, "explain":"No channel id provided."}');
      client.send(OP.close, closePayload(1008));
      await client.waitEnd();
      await client.waitClosed();
      await expectNoConnections(app, "refused after the 101");
    });
  });
});

describe("websocket: messages", () => {
  test("the header template is the first text frame", async () => {
    await serve(wsConfig({ headerTemplate: "HEADER_TEMPLATE" }), async (app) => {
      const client = await ws(app, "abc");
      assert.equal(hex(await client.nextFrame()), Buffer.concat([Buffer.from([0x81, 0x0f]), Buffer.from("HEADER_TEMPLATE")]).toString("hex"));
      await publishOk(app, "abc", "m");
      assert.equal(await client.nextText(), "1:abc:m");
      client.destroy();
    });
  });

  test("live messages: one text frame per message, payload exactly the template", async () => {
    await serve(wsConfig({ messageTemplate: '{"id":~id~,"channel":"~channel~","text":~text~,"event":"~event-id~"}' }), async (app) => {
      const client = await ws(app, "abc");
      await publishOk(app, "abc", '{"n":1}');
      await publishOk(app, "abc", '{"n":2}', { "Event-Id": "e2" });
      const first = await client.nextFrame();
      assert.equal(hex(first), serverFrame(OP.text, '{"id":1,"channel":"abc","text":{"n":1},"event":""}').toString("hex"));
      const second = await client.nextFrame();
      assert.equal(hex(second), serverFrame(OP.text, '{"id":2,"channel":"abc","text":{"n":2},"event":"e2"}').toString("hex"));
      assert.equal((await client.quietFor(100)).length, 0);
      client.destroy();
    });
  });

  test("catch-up by tag and time arguments: the messages after the cursor, then live", async () => {
    await serve(wsConfig(), async (app) => {
      await publishOk(app, "abc", "a1");
      const cursor = lastStored(app, "abc");
      await publishOk(app, "abc", "a2");
      await publishOk(app, "abc", "a3");
      const time = encodeURIComponent(new Date(cursor.time * 1000).toUTCString());
      const client = await ws(app, "abc", `&tag=${cursor.tag}&time=${time}`);
      assert.equal(await client.nextText(), "2:abc:a2");
      assert.equal(await client.nextText(), "3:abc:a3");
      await publishOk(app, "abc", "a4");
      assert.equal(await client.nextText(), "4:abc:a4");
      client.destroy();

      const all = await ws(app, "abc", `&tag=0&time=${encodeURIComponent(EPOCH)}`);
      for (let n = 1; n <= 4; n++) assert.equal(await all.nextText(), `${n}:abc:a${n}`);
      assert.equal((await all.quietFor(100)).length, 0);
      all.destroy();

      const none = await ws(app, "abc");
      assert.equal((await none.quietFor(150)).length, 0, "no cursor, no catch-up");
      none.destroy();
    });
  });

  test("catch-up by .bN backtrack", async () => {
    await serve(wsConfig(), async (app) => {
      for (let n = 1; n <= 4; n++) await publishOk(app, "abc", `a${n}`);
      const client = await ws(app, "abc.b2");
      assert.equal(await client.nextText(), "3:abc:a3");
      assert.equal(await client.nextText(), "4:abc:a4");
      assert.equal((await client.quietFor(100)).length, 0);
      client.destroy();
    });
  });

  for (const [length, header] of [
    [125, [0x81, 0x7d]],
    [126, [0x81, 0x7e, 0x00, 0x7e]],
    [65535, [0x81, 0x7e, 0xff, 0xff]],
    [65536, [0x81, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]],
  ] as const) {
    test(`a ${length}-byte message has the length header ${Buffer.from(header).toString("hex")}`, async () => {
      await serve(wsConfig({ messageTemplate: "~text~" }), async (app) => {
        const client = await ws(app, "abc");
        const body = "x".repeat(length - 1) + "!";
        await publishOk(app, "abc", body);
        const bytes = await client.bytes(header.length + length);
        assert.equal(bytes.subarray(0, header.length).toString("hex"), Buffer.from(header).toString("hex"));
        assert.equal(bytes.subarray(header.length).toString(), body);
        assert.equal((await client.quietFor(50)).length, 0);
        client.destroy();
      });
    });
  }

  test("several channels on one socket", async () => {
    await serve(wsConfig(), async (app) => {
      const client = await ws(app, "aa/bb");
      await publishOk(app, "aa", "x");
      await publishOk(app, "bb", "y");
      await publishOk(app, "aa", "z");
      assert.equal(await client.nextText(), "1:aa:x");
      assert.equal(await client.nextText(), "1:bb:y");
      assert.equal(await client.nextText(), "2:aa:z");
      assert.equal((await channelInfo(app, "aa")).subscribers, 1);
      assert.equal((await channelInfo(app, "bb")).subscribers, 1);
      client.destroy();
    });
  });

  test("two sockets get identical bytes for one message", async () => {
    await serve(wsConfig({ messageTemplate: '{"id":~id~,"tag":"~tag~","time":"~time~","text":~text~}' }), async (app) => {
      const one = await ws(app, "abc");
      const two = await ws(app, "abc");
      await publishOk(app, "abc", '"same"');
      const a = await one.nextFrame();
      const b = await two.nextFrame();
      assert.equal(hex(a), hex(b));
      assert.match(a.payload.toString(), /^\{"id":1,"tag":"\d+","time":"[^"]+ GMT","text":"same"\}$/);
      one.destroy();
      two.destroy();
    });
  });
});

describe("websocket: pings", () => {
  test("an empty ping frame 89 00 after pingMessageInterval of silence", async () => {
    await serve(wsConfig({ pingMessageInterval: "1s" }), async (app) => {
      const client = await ws(app, "abc");
      const opened = Date.now();
      const frame = await client.nextFrame(2500);
      const waited = Date.now() - opened;
      assert.equal(hex(frame), "8900");
      assert.ok(waited >= 850 && waited < 2000, `ping after ${waited} ms`);
      assert.equal(hex(await client.nextFrame(2500)), "8900", "and again after another interval");
      client.destroy();
    });
  });

  test("no ping while messages keep flowing; one after they stop", async () => {
    await serve(wsConfig({ pingMessageInterval: "1s" }), async (app) => {
      const client = await ws(app, "abc");
      const started = Date.now();
      let sent = 0;
      while (Date.now() - started < 2000) {
        await publishOk(app, "abc", `m${++sent}`);
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      const frames: ParsedFrame[] = [];
      for (let n = 0; n < sent; n++) frames.push(await client.nextFrame());
      assert.deepEqual(frames.map((f) => f.payload.toString()), Array.from({ length: sent }, (_, i) => `${i + 1}:abc:m${i + 1}`));
      assert.ok(frames.every((f) => f.opcode === OP.text), "no ping among the messages");
      assert.equal(client.buffer.length, 0, "nothing else arrived");
      assert.equal(hex(await client.nextFrame(2000)), "8900", "a ping once the traffic stopped");
      client.destroy();
    });
  });
});

describe("websocket: end of connection", () => {
  test("subscriberConnectionTtl: footer frame, close 1000; the server closes TCP after the client's close", async () => {
    await serve(wsConfig({ subscriberConnectionTtl: "1s", footerTemplate: "FOOTER" }), async (app) => {
      const client = await ws(app, "abc");
      const opened = Date.now();
      assert.equal(hex(await client.nextFrame(2500)), serverFrame(OP.text, "FOOTER").toString("hex"));
      const waited = Date.now() - opened;
      assert.ok(waited >= 850 && waited < 2000, `TTL end after ${waited} ms`);
      assert.equal(hex(await client.nextFrame()), "880203e8");
      assert.equal(app.push.ctx.store.find("abc")!.subscribers.size, 0, "left the channel with the close");
      await answerCloseAndExpectEnd(client);
    });
  });

  test("channel deleted: id -2 frame, stays open on the other channel; the last one → footer + close 1000", async () => {
    await serve(wsConfig({ footerTemplate: "FOOTER" }), async (app) => {
      const client = await ws(app, "aa/bb");
      const deleted = await request(app.port(1), "/bitrix/pub/?CHANNEL_ID=aa", { method: "DELETE" });
      assert.equal(deleted.status, 200);
      assert.equal(hex(await client.nextFrame()), serverFrame(OP.text, "-2:aa:Channel deleted").toString("hex"));
      await publishOk(app, "bb", "still");
      assert.equal(await client.nextText(), "1:bb:still");
      assert.equal(client.ended, false);

      await request(app.port(1), "/bitrix/pub/?CHANNEL_ID=bb", { method: "DELETE" });
      assert.equal(await client.nextText(), "-2:bb:Channel deleted");
      assert.equal(await client.nextText(), "FOOTER");
      assert.equal(hex(await client.nextFrame()), "880203e8");
      await answerCloseAndExpectEnd(client);
    });
  });

  test("channel deleted with a DELETE body: the id -2 frame carries that text", async () => {
    await serve(wsConfig(), async (app) => {
      const client = await ws(app, "aa/bb");
      await request(app.port(1), "/bitrix/pub/?CHANNEL_ID=aa", { method: "DELETE", body: "gone away", headers: { "Content-Length": "9" } } /* node sends no framing for a DELETE by itself */);
      assert.equal(await client.nextText(), "-2:aa:gone away");
      client.destroy();
    });
  });

  test("shutdown: footer, then close 1001", async () => {
    const app = await start(wsConfig({ footerTemplate: "FOOTER" }));
    let closing: Promise<void> | undefined;
    try {
      const client = await ws(app, "abc");
      closing = app.push.close(2000);
      assert.equal(await client.nextText(), "FOOTER");
      const frame = await client.nextFrame();
      assert.equal(frame.opcode, OP.close);
      assert.equal(frame.closeCode, 1001);
      await client.waitEnd();
      client.destroy();
    } finally {
      WsClient.destroyAll();
      await (closing ?? app.close());
    }
  });

  test("PushServer.close() finishes within its grace even while a WebSocket waits for the client's close", async () => {
    const app = await start(wsConfig());
    const sockets = trackSockets(app);
    let closing: Promise<void> | undefined;
    try {
      const client = await ws(app, "abc");
      client.send(OP.binary, Buffer.from([1]));
      await expectCloseCode(client, 1003);
      // The client never answers the close; the server's close must still end.
      closing = app.push.close(300);
      const outcome = await Promise.race([closing.then(() => "closed"), new Promise((resolve) => setTimeout(resolve, 2000, "still open"))]);
      assert.equal(outcome, "closed");
    } finally {
      WsClient.destroyAll();
      for (const socket of sockets) socket.destroy();
      await (closing ?? app.close());
    }
  });

  test("abrupt close (socket destroyed): the subscription is gone", async () => {
    await serve(wsConfig(), async (app) => {
      const client = await ws(app, "abc");
      assert.equal((await channelInfo(app, "abc")).subscribers, 1);
      client.destroy();
      await waitFor(() => app.push.ctx.store.find("abc")?.subscribers.size === 0, 2000, "the subscriber to leave");
      assert.equal((await channelInfo(app, "abc")).subscribers, 0);
      await publishOk(app, "abc", "after"); // nothing breaks
    });
  });
});

describe("websocket: client frames", () => {
  test("a ping with a payload → a pong echoing it", async () => {
    await serve(wsConfig(), async (app) => {
      const client = await ws(app, "abc");
      client.send(OP.ping, "hello");
      assert.equal(hex(await client.nextFrame()), "8a0568656c6c6f");
      client.send(OP.ping);
      assert.equal(hex(await client.nextFrame()), "8a00");
      client.send(OP.pong, "ignored");
      await sync(client);
      client.destroy();
    });
  });

  test("a ping between two fragments: pong first; with websocketAllowPublish the text goes to every channel, the sender included", async () => {
    await serve(wsConfig({ websocketAllowPublish: true }), async (app) => {
      const client = await ws(app, "aa/bb");
      const other = await ws(app, "bb");
      client.send(OP.text, "Hel", { fin: false });
      client.send(OP.ping, "between");
      assert.equal(hex(await client.nextFrame()), serverFrame(OP.pong, "between").toString("hex"));
      client.send(OP.continuation, "lo", { fin: true });
      assert.equal(await client.nextText(), "1:aa:Hello");
      assert.equal(await client.nextText(), "1:bb:Hello");
      assert.equal(await other.nextText(), "1:bb:Hello");
      assert.equal((await channelInfo(app, "aa")).published_messages, 1);
      assert.equal((await channelInfo(app, "bb")).published_messages, 1);
      client.destroy();
      other.destroy();
    });
  });

  test("several frames coalesced in one TCP write are all handled", async () => {
    await serve(wsConfig({ websocketAllowPublish: true }), async (app) => {
      const client = await ws(app, "abc");
      await client.write(Buffer.concat([
        encodeFrame(OP.ping, "1"),
        encodeFrame(OP.text, "first"),
        encodeFrame(OP.ping, "2"),
        encodeFrame(OP.text, "sec", { fin: false }),
        encodeFrame(OP.continuation, "ond"),
        encodeFrame(OP.close, closePayload(1000)),
      ]));
      assert.equal(hex(await client.nextFrame()), serverFrame(OP.pong, "1").toString("hex"));
      assert.equal(await client.nextText(), "1:abc:first");
      assert.equal(hex(await client.nextFrame()), serverFrame(OP.pong, "2").toString("hex"));
      assert.equal(await client.nextText(), "2:abc:second");
      assert.equal(hex(await client.nextFrame()), "880203e8");
      await client.waitEnd();
    });
  });

  test("while the message log cannot write, a published frame is dropped (it has no answer to carry the refusal); once it writes, frames publish again", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pushwire-ws-log-"));
    try {
      await serve({ ...wsConfig({ websocketAllowPublish: true }), messageLog: { path: dir } }, async (app) => {
        const client = await ws(app, "abc");
        const log = app.push.ctx.messageLog!;
        log.failure = new Refusal(507, "Message log cannot write (ENOSPC); publish refused.");
        await client.write(encodeFrame(OP.text, "dropped"));
        await client.write(encodeFrame(OP.ping, "after"));
        assert.equal(hex(await client.nextFrame()), serverFrame(OP.pong, "after").toString("hex"), "the frame was read, and nothing came back for it");
        log.failure = undefined;
        await client.write(encodeFrame(OP.text, "kept"));
        assert.equal(await client.nextText(), "1:abc:kept", "the dropped frame took no id");
        client.destroy();
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a frame written byte by byte is handled", async () => {
    await serve(wsConfig({ websocketAllowPublish: true }), async (app) => {
      const client = await ws(app, "abc");
      await client.writeSplit(encodeFrame(OP.text, "slow"), 1, 1);
      assert.equal(await client.nextText(), "1:abc:slow");
      client.destroy();
    });
  });

  test("frames sent in the same write as the handshake are handled after the 101", async () => {
    await serve(wsConfig({ headerTemplate: "H" }), async (app) => {
      const client = await WsClient.connect(app.port(0), "/ws/?CHANNEL_ID=abc", {}, encodeFrame(OP.ping, "early"));
      assert.equal(client.status, 101, client.head);
      assert.equal(await client.nextText(), "H");
      assert.equal(hex(await client.nextFrame()), serverFrame(OP.pong, "early").toString("hex"));
      client.destroy();
    });
  });

  test("a text message of exactly websocketMaxFrameSize bytes is published", async () => {
    await serve(wsConfig({ websocketAllowPublish: true, websocketMaxFrameSize: 1000, messageTemplate: "~text~" }), async (app) => {
      const client = await ws(app, "abc");
      const text = "k".repeat(1000);
      client.sendText(text);
      assert.equal(await client.nextText(), text);
      client.destroy();
    });
  });

  test("the client half-closes TCP without a close frame: the server closes too and the subscription ends", async () => {
    await serve(wsConfig(), async (app) => {
      const client = await ws(app, "abc");
      client.end();
      await client.waitEnd();
      assert.equal(client.buffer.length, 0);
      await waitFor(() => app.push.ctx.store.find("abc")?.subscribers.size === 0, 2000, "the subscriber to leave");
    });
  });

  test("client close 1000 → the server echoes 88 02 03 E8 and closes", async () => {
    await serve(wsConfig(), async (app) => {
      const client = await ws(app, "abc");
      client.send(OP.close, closePayload(1000, "bye"));
      assert.equal(hex(await client.nextFrame()), "880203e8");
      await client.waitEnd();
      assert.equal(client.buffer.length, 0);
      await waitFor(() => app.push.ctx.store.find("abc")?.subscribers.size === 0, 2000, "the subscriber to leave");
    });
  });

  test("an empty client close → 88 00", async () => {
    await serve(wsConfig(), async (app) => {
      const client = await ws(app, "abc");
      client.send(OP.close);
      assert.equal(hex(await client.nextFrame()), "8800");
      await client.waitEnd();
      assert.equal(client.buffer.length, 0);
    });
  });

  const violations: Array<[string, () => Buffer, number, RawConfig?]> = [
    ["an unmasked frame", () => encodeFrame(OP.text, "plain", { mask: false }), 1002],
    ["a binary frame", () => encodeFrame(OP.binary, Buffer.from([1, 2, 3])), 1003],
    ["a reserved opcode", () => encodeFrame(0x3, "x"), 1002],
    ["RSV1 set", () => encodeFrame(OP.text, "x", { rsv: 0b100 }), 1002],
    ["a message over websocketMaxFrameSize", () => encodeFrame(OP.text, "o".repeat(1001)), 1009, { websocketMaxFrameSize: 1000 }],
    ["fragments over websocketMaxFrameSize", () => Buffer.concat([encodeFrame(OP.text, "o".repeat(600), { fin: false }), encodeFrame(OP.continuation, "o".repeat(600))]), 1009, { websocketMaxFrameSize: 1000 }],
    ["invalid UTF-8", () => encodeFrame(OP.text, Buffer.from([0x68, 0xc3, 0x28])), 1007],
    ["an invalid close code", () => encodeFrame(OP.close, closePayload(1005)), 1002],
  ];
  for (const [what, bytes, code, config] of violations) {
    test(`${what} → close ${code}, and the subscription ends`, async () => {
      await serve(wsConfig({ websocketAllowPublish: true, ...config }), async (app) => {
        const client = await ws(app, "abc");
        await client.write(bytes());
        await expectCloseCode(client, code);
        assert.equal(app.push.ctx.store.find("abc")!.subscribers.size, 0);
        assert.equal(app.push.ctx.store.find("abc")!.lastMessageId, 0, "nothing was published");
      });
    });
  }

  test("after a protocol-error close the server closes TCP once the client answers (not after its 5 s close wait)", async () => {
    await serve(wsConfig(), async (app) => {
      const client = await ws(app, "abc");
      client.send(OP.binary, Buffer.from([1]));
      await expectCloseCode(client, 1003);
      client.send(OP.close, closePayload(1003));
      await client.waitEnd(1500);
    });
  });

  test("an oversize message is refused from its header, before its payload arrives", async () => {
    await serve(wsConfig({ websocketAllowPublish: true, websocketMaxFrameSize: 1000 }), async (app) => {
      const client = await ws(app, "abc");
      await client.write(encodeFrame(OP.text, "", { declaredLength: 1n << 40n }).subarray(0, 10));
      await expectCloseCode(client, 1009);
    });
  });

  test("websocketAllowPublish off: a text frame is not published", async () => {
    await serve(wsConfig(), async (app) => {
      const client = await ws(app, "abc");
      await publishOk(app, "abc", "one");
      assert.equal(await client.nextText(), "1:abc:one");
      client.sendText("from the client");
      await sync(client);
      assert.equal((await channelInfo(app, "abc")).published_messages, 1);
      assert.equal((await client.quietFor(100)).length, 0);
      client.destroy();
    });
  });
});

describe("websocket: slow readers", () => {
  test("a client that stops reading is dropped past subscriberMaxBacklog; the others get every message", async () => {
    await serve(wsConfig({ messageTemplate: "~text~", subscriberMaxBacklog: "64k" }), async (app) => {
      const slow = await ws(app, "abc");
      slow.socket.pause();
      const normal = await ws(app, "abc");
      const body = (n: number): string => String(n).padStart(5, "0") + "z".repeat(16 * 1024 - 5);
      const subscribers = (): number => app.push.ctx.store.find("abc")?.subscribers.size ?? 0;
      let received = 0;
      let wrong = 0;
      let published = 0;
      let done = false;
      // The normal reader drains its socket as frames arrive.
      const reading = (async () => {
        while (!done || received < published) {
          if (received >= published) {
            await new Promise((resolve) => setTimeout(resolve, 5));
            continue;
          }
          const frame = await normal.nextFrame(5000);
          if (frame.payload.toString() !== body(received + 1)) wrong++;
          received++;
        }
      })();
      // Loopback buffers hold a few MB of a paused reader's data before the server's own backlog grows;
      // publish 16 KB messages until the slow reader is dropped (bounded), then 20 more.
      const max = 1000;
      while (published < max && subscribers() === 2) await publishOk(app, "abc", body(++published));
      assert.equal(subscribers(), 1, `the slow reader dropped within ${max} messages of 16 KB`);
      if (process.env.WS_DEBUG) console.log(`slow reader dropped after ${published} messages`);
      for (let n = 0; n < 20; n++) await publishOk(app, "abc", body(++published));
      done = true;
      await reading;
      assert.equal(received, published);
      assert.equal(wrong, 0, "every message intact and in order");
      slow.socket.resume();
      await slow.waitEnd(5000);
      assert.ok(slow.receivedLength < published * 16 * 1024, `the slow reader got ${slow.receivedLength} bytes, not everything`);
      assert.equal(normal.ended, false, "the normal reader stays connected");
      normal.destroy();
    });
  });
});

describe("websocket: clients that send but never read", () => {
  test("a client that pings and never reads is cut once its pongs pass subscriberMaxBacklog; its socket is let go", async () => {
    const log = new RecordingLogger();
    await serve(wsConfig({ subscriberMaxBacklog: "64k", websocketMaxControlFramesPerSecond: 0 }), async (app) => {
      let serverSocket: WeakRef<Socket> | undefined;
      app.push.listeners[0]!.server.once("connection", (socket: Socket) => (serverSocket = new WeakRef(socket)));
      const client = await ws(app, "abc");
      await waitFor(() => subscribers(app, "abc") === 1, 2000, "the subscription");
      // Loopback buffers take several MB of pongs before the server's own backlog grows.
      const sent = await client.floodPingsWithoutReading(() => subscribers(app, "abc") === 0, 48 << 20);
      await waitFor(() => subscribers(app, "abc") === 0, 2000, "the client to be dropped");
      assert.ok(sent < 48 << 20, `dropped after ${sent} bytes of pings`);
      assert.ok(log.lines.some((l) => /^warn websocket subscriber \S+ dropped: \d+ bytes not read \(subscriberMaxBacklog 65536\)$/.test(l)), log.lines.join("\n"));
      await expectNoConnections(app, "a client over its backlog");
      await waitFor(() => app.push.ctx.held.size === 0, 1000, "nothing of the client to be held");
      client.destroy();
      await expectCollected(serverSocket!, "the server's socket of the dropped client");
    }, { log });
  });

  test("a client that half-closes and never reads what it is owed is cut after the 5 s close wait", async () => {
    const clock = new ManualClock();
    await serve(wsConfig({ messageTemplate: "~text~", subscriberMaxBacklog: "64M" }), async (app) => {
      const client = await ws(app, "abc");
      client.socket.pause();
      // More than loopback buffers hold, so some stays in the server's socket.
      for (let n = 0; n < 40; n++) await publishOk(app, "abc", "m".repeat(512 * 1024));
      client.end();
      await waitFor(() => subscribers(app, "abc") === 0, 2000, "the client to leave the channel");
      await sleep(100);
      assert.equal(await connections(app), 1, "within the close wait the server still tries to deliver");
      clock.advance(5000);
      await expectNoConnections(app, "a half-closed client that does not read");
      await waitFor(() => app.push.ctx.held.size === 0, 1000, "nothing of the client to be held");
    }, { clock });
  });

  test("more than websocketMaxControlFramesPerSecond pings in a second: the pongs up to the cap, then close 1008, logged", async () => {
    const log = new RecordingLogger();
    const clock = new ManualClock();
    await serve(wsConfig({ websocketMaxControlFramesPerSecond: 5 }), async (app) => {
      const client = await ws(app, "abc");
      const pings = (n: number): Buffer => Buffer.concat(Array.from({ length: n }, (_, i) => encodeFrame(OP.ping, `p${i}`)));
      await client.write(pings(5));
      for (let i = 0; i < 5; i++) assert.equal(hex(await client.nextFrame()), serverFrame(OP.pong, `p${i}`).toString("hex"));
      clock.advance(1000); // a new second: the count starts again
      await client.write(pings(6));
      for (let i = 0; i < 5; i++) assert.equal(hex(await client.nextFrame()), serverFrame(OP.pong, `p${i}`).toString("hex"));
      const close = await client.nextFrame();
      assert.equal(close.closeCode, 1008);
      assert.equal(close.payload.subarray(2).toString(), "Too many control frames.");
      assert.equal(subscribers(app, "abc"), 0, "the client left its channel");
      assert.ok(log.lines.some((l) => /^warn websocket \S+: closed with 1008: more than 5 control frames in a second \(websocketMaxControlFramesPerSecond\)$/.test(l)), log.lines.join("\n"));
      await answerCloseAndExpectEnd(client, 1008);
    }, { log, clock });
  });
});

describe("websocket: upgrade requests elsewhere", () => {
  const longPolling = { path: "/lp/", subscriber: "long-polling", channelsPath: "$arg_CHANNEL_ID", lastReceivedMessageTag: "$arg_tag", lastReceivedMessageTime: "$arg_time", longpollingConnectionTtl: "1s", messageTemplate: "~text~" };

  test("on a long-polling location: catch-up answered 200 as HTTP, then the connection closes", async () => {
    await serve(wsConfig({}, [longPolling]), async (app) => {
      await publishOk(app, "abc", "stored");
      const client = await WsClient.connect(app.port(0), `/lp/?CHANNEL_ID=abc&tag=0&time=${encodeURIComponent(EPOCH)}`);
      assert.equal(client.status, 200, client.head);
      await client.waitEnd();
      assert.match(client.received.toString(), /stored/);
      const reply = await request(app.port(0), `/lp/?CHANNEL_ID=abc&tag=0&time=${encodeURIComponent(EPOCH)}`);
      assert.equal(reply.status, 200, "the server still answers");
      await client.waitClosed();
      await expectNoConnections(app, "a 200 to an upgrade");
    });
  });

  test("on a long-polling location: held, then 304, then the connection closes", async () => {
    await serve(wsConfig({}, [longPolling]), async (app) => {
      const client = await WsClient.connect(app.port(0), "/lp/?CHANNEL_ID=abc");
      assert.equal(client.status, 304, client.head);
      await client.waitEnd();
      assert.equal(client.received.length, 0);
      await client.waitClosed();
      await expectNoConnections(app, "a 304 to an upgrade");
    });
  });

  test("on a long-polling location: a publish answers the held upgrade request", async () => {
    await serve(wsConfig({}, [longPolling]), async (app) => {
      const pending = WsClient.connect(app.port(0), "/lp/?CHANNEL_ID=abc");
      await waitFor(() => (app.push.ctx.store.find("abc")?.subscribers.size ?? 0) === 1, 2000, "the long-poll to be held");
      await publishOk(app, "abc", "live");
      const client = await pending;
      assert.equal(client.status, 200, client.head);
      await client.waitEnd();
      assert.match(client.received.toString(), /live/);
    });
  });

  test("on a long-polling location: a held upgrade request whose client goes away leaves the channel", async () => {
    await serve(wsConfig({}, [{ ...longPolling, longpollingConnectionTtl: "2s" }]), async (app) => {
      const pending = WsClient.open(app.port(0), handshakeRequest("/lp/?CHANNEL_ID=abc"));
      await waitFor(() => (app.push.ctx.store.find("abc")?.subscribers.size ?? 0) === 1, 2000, "the long-poll to be held");
      (await pending).destroy();
      await waitFor(() => app.push.ctx.store.find("abc")?.subscribers.size === 0, 1500, "the held long-poll to leave");
    });
  });

  // After an upgrade node stops parsing the body (it arrives as raw bytes), so pushwire refuses such a
  // request outright rather than serve it half-read; nothing is published.
  test("on the publisher: a POST with Upgrade headers and a body gets 400, nothing is published", async () => {
    await serve(wsConfig(), async (app) => {
      const client = await WsClient.open(app.port(1), handshakeRequest("/bitrix/pub/?CHANNEL_ID=abc", { method: "POST", headers: { "Content-Length": "5" } }) + "hello");
      await client.waitHead();
      assert.equal(client.status, 400, client.head);
      assert.match(client.head, /\r\nX-Nginx-PushStream-Explain: An upgrade request cannot carry a body\.\r\n/);
      await client.waitEnd();
      assert.equal(app.push.ctx.store.find("abc"), undefined);
    });
  });
});
