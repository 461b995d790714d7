import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Refusal } from "../../src/core/refusal.js";
import { ChannelSigner } from "../../src/bitrix-push2/signature.js";
import { midText } from "../../src/core/mid.js";
import { decodeResponseBatch, encodeRequestBatch, SENDER_BACKEND, SENDER_CLIENT, type OutgoingMessage, type Receiver } from "../../src/bitrix-push2/protobuf.js";
import { openRequest, request, sleep, start, waitFor, type Reply, type Running } from "../support/helpers.js";
import { phpExchange, Push2Channels, push2Config, Push2Site, SITE_KEY } from "../support/bitrix-push2-site.js";
import { eventBody } from "../support/bitrix-site.js";
import { encodeFrame, OP, WsClient } from "../support/ws-client.js";
import { RecordingLogger } from "../support/context.js";
import type { StartOptions } from "../../src/app.js";

/** Waits until the subscriber server has no socket open (upgraded ones included). */
async function waitForNoConnections(app: Running): Promise<void> {
  const server = app.push.listeners[0]!.server;
  const open = (): Promise<number> => new Promise((resolve, reject) => server.getConnections((error, n) => (error ? reject(error) : resolve(n))));
  const until = Date.now() + 2000;
  while ((await open()) > 0) {
    if (Date.now() > until) assert.fail("the server still holds a socket");
    await sleep(20);
  }
}

const signer = new ChannelSigner(SITE_KEY, "sha1");

function outgoing(reply: Reply | Buffer): OutgoingMessage[] {
  const bytes = Buffer.isBuffer(reply) ? reply : reply.body;
  return decodeResponseBatch(bytes).flatMap((r) => r.outgoingMessages ?? []);
}

const bodyOf = (m: OutgoingMessage): { params: Record<string, unknown> } => JSON.parse(m.body) as { params: Record<string, unknown> };

async function withPush2(options: Parameters<typeof push2Config>[0], body: (app: Running, site: Push2Site) => Promise<void>, startOptions: StartOptions = {}): Promise<void> {
  const app = await start(push2Config(options), startOptions);
  try {
    await body(app, new Push2Site(() => app.port(1)));
  } finally {
    WsClient.destroyAll();
    await app.close();
  }
}

const subPath = (channels: string, extra = "binaryMode=true"): string => `/bitrix/sub/?CHANNEL_ID=${encodeURIComponent(channels)}&${extra}&revision=19`;
const wsPath = (channels: string): string => `/bitrix/subws/?CHANNEL_ID=${encodeURIComponent(channels)}&binaryMode=true`;

/** A receiver as a browser names it: an id, public unless told, with a hex signature. */
const receiver = (id: string, signature: string, isPrivate = false): Receiver => ({ id: Buffer.from(id, "hex"), isPrivate, signature: Buffer.from(signature, "hex") });

/** A browser's RequestBatch: one message with this body to each receiver list. */
function clientPublish(...messages: Array<[string, Receiver[]]>): Buffer {
  return encodeRequestBatch([{ incomingMessages: messages.map(([body, receivers]) => ({ receivers, sender: undefined, body, expiry: 0, type: "" })) }]);
}

/** The next frame is a close with this code and, as Push server 2.0 sends it, `<code>: <text>` as the reason. */
async function assertClosedWith(ws: WsClient, code: number, reason: string): Promise<void> {
  const close = await ws.nextFrame();
  assert.equal(close.opcode, OP.close);
  assert.equal(close.closeCode, code);
  assert.equal(close.payload.subarray(2).toString(), reason);
}

describe("bitrix-push2 publisher and long polling", () => {
  test("a protobuf publish reaches a held binary long-poll as a ResponseBatch with mid, body, expiry and the backend sender", async () => {
    await withPush2({}, async (app, site) => {
      const c = new Push2Channels(signer);
      const poll = openRequest(app.port(0), subPath(`${c.pair}/${c.shared}`), { headers: { Origin: "http://site.example" } });
      await waitFor(() => (app.push.ctx.store.find(c.privateId)?.subscribers.size ?? 0) === 1);
      await site.publish([c.privateId], "message", { n: 1 });
      const reply = await poll.reply;
      assert.equal(reply.status, 200);
      assert.equal(reply.headers["content-type"], "application/octet-stream");
      assert.equal(reply.headers["access-control-allow-origin"], "*");
      assert.equal(reply.headers["access-control-expose-headers"], "Last-Message-Id");
      const [message, ...rest] = outgoing(reply);
      assert.equal(rest.length, 0);
      assert.match(midText(message!.id), /^\d{26}$/);
      assert.deepEqual(bodyOf(message!).params, { n: 1 });
      assert.equal(message!.expiry, 86400);
      assert.ok(Math.abs(message!.created - Date.now() / 1000) < 5);
      assert.equal(message!.sender!.type, SENDER_BACKEND);
    });
  });

  test("batching: messages published within 400 ms of the first come in the same long-poll answer", async () => {
    await withPush2({}, async (app, site) => {
      const c = new Push2Channels(signer);
      const poll = openRequest(app.port(0), subPath(`${c.pair}/${c.shared}`));
      await waitFor(() => (app.push.ctx.store.find(c.privateId)?.subscribers.size ?? 0) === 1);
      const started = Date.now();
      await site.publish([c.privateId], "message", { n: 1 }, 0);
      await site.publish([c.sharedId, c.privateId], "message", { n: 2 }, 0);
      await site.publish([c.sharedId], "message", { n: 3 }, 0);
      const reply = await poll.reply;
      assert.deepEqual(outgoing(reply).map((m) => bodyOf(m).params["n"]), [1, 2, 3]);
      assert.ok(Date.now() - started >= 350, "answered at the end of the window");
    });
  });

  test("text mode: the Push server 2.0 envelope with mid, id = the mid's counter, channel \"-\"", async () => {
    await withPush2({}, async (app) => {
      const c = new Push2Channels(signer);
      const poll = openRequest(app.port(0), subPath(c.shared, "tag=1"));
      await waitFor(() => (app.push.ctx.store.find(c.sharedId)?.subscribers.size ?? 0) === 1);
      const pub = await phpExchange(app.port(1), "POST", `/bitrix/pub/?CHANNEL_ID=${c.sharedId}`, Buffer.from('{"module_id":"im","command":"x","params":{"n":2}}'), ["Message-Expiry: 60"]);
      assert.equal(pub.status, 200);
      assert.equal(pub.body, "", "answered at once with an empty body");
      const reply = await poll.reply;
      assert.equal(reply.status, 200);
      assert.match(reply.headers["content-type"]!, /^text\/plain/);
      const m = /^#!NGINXNMS!#(.*)#!NGINXNME!#$/.exec(reply.text);
      assert.ok(m, reply.text);
      const envelope = JSON.parse(m[1]!) as { id: number; mid: string; channel: string; tag: string; time: string; text: { params: unknown } };
      assert.match(envelope.mid, /^\d{26}$/);
      assert.equal(envelope.id, Number(envelope.mid.slice(10)));
      assert.equal(envelope.channel, "-");
      assert.match(envelope.time, /GMT$/);
      assert.deepEqual(envelope.text.params, { n: 2 });
    });
  });

  test("timeout: 304 with Last-Message-Id (newest stored mid, or the client's) and the 1973 Expires marker", async () => {
    await withPush2({ hold: "1s" }, async (app, site) => {
      const c = new Push2Channels(signer);
      const first = await request(app.port(0), subPath(c.shared), { headers: { Origin: "http://x" } });
      assert.equal(first.status, 304);
      assert.equal(first.headers["expires"], "Thu, 01 Jan 1973 11:11:01 GMT");
      assert.equal(first.headers["last-message-id"], "");
      assert.equal(first.headers["access-control-expose-headers"], "Last-Message-Id");
      await site.publish([c.sharedId], "message", { n: 1 });
      const stored = midText(outgoing(await request(app.port(0), subPath(c.shared, "binaryMode=true&mid=00000000000000000000000000")))[0]!.id);
      const second = await request(app.port(0), subPath(c.shared));
      assert.equal(second.status, 304);
      assert.equal(second.headers["last-message-id"], stored);
    });
  });

  test("wrong channel ids: 400 '4010: Wrong Channel Id.' (unsigned with a key, bad signature, unsigned pair, garbage, none)", async () => {
    await withPush2({}, async (app) => {
      const c = new Push2Channels(signer);
      for (const channels of [c.privateId, `${c.privateId}:${c.publicId}`, c.pair.slice(0, -1) + (c.pair.endsWith("0") ? "1" : "0"), "nothex", `${c.shared}/bad`, ""]) {
        const reply = await request(app.port(0), subPath(channels));
        assert.equal(reply.status, 400, channels);
        assert.equal(reply.text, "4010: Wrong Channel Id.", channels);
        assert.equal(reply.headers["access-control-allow-origin"], "*");
      }
    });
  });

  test("resume by mid: messages stored after it, oldest first, across channels; messages without expiry are not stored", async () => {
    await withPush2({}, async (app, site) => {
      const c = new Push2Channels(signer);
      await site.publish([c.privateId], "message", { n: 1 });
      await site.publish([c.sharedId], "message", { n: 2 });
      await site.publish([c.privateId], "message", { n: 3 }, 0); // no expiry: live subscribers only
      await site.publish([c.privateId, c.sharedId], "message", { n: 4 });
      const all = outgoing(await request(app.port(0), subPath(`${c.pair}/${c.shared}`, `binaryMode=true&mid=${"0".repeat(26)}`)));
      assert.deepEqual(all.map((m) => bodyOf(m).params["n"]), [1, 2, 4], "one message to two of the client's channels comes once");
      const after = outgoing(await request(app.port(0), subPath(`${c.pair}/${c.shared}`, `binaryMode=true&mid=${midText(all[0]!.id)}`)));
      assert.deepEqual(after.map((m) => bodyOf(m).params["n"]), [2, 4]);
      const mids = all.map((m) => midText(m.id));
      assert.deepEqual([...mids].sort(), mids, "mids increase");
    });
  });

  test("resume returns at most 100 per channel, the newest", async () => {
    await withPush2({}, async (app, site) => {
      const c = new Push2Channels(signer);
      for (let n = 1; n <= 105; n++) await site.publish([c.sharedId], "message", { n });
      const got = outgoing(await request(app.port(0), subPath(c.shared, `binaryMode=true&mid=${"0".repeat(26)}`)));
      assert.equal(got.length, 100);
      assert.equal(bodyOf(got[0]!).params["n"], 6);
    });
  });

  test("text publish limits: empty body 400, over clientMaxBodySize 413, bad CHANNEL_ID 400; malformed protobuf 400", async () => {
    await withPush2({}, async (app) => {
      const c = new Push2Channels(signer);
      const empty = await phpExchange(app.port(1), "POST", `/bitrix/pub/?CHANNEL_ID=${c.privateId}`, Buffer.alloc(0));
      assert.equal(empty.status, 400);
      assert.equal(empty.body, "Empty post requests are not allowed.");
      const big = await phpExchange(app.port(1), "POST", `/bitrix/pub/?CHANNEL_ID=${c.privateId}`, Buffer.alloc(1024 * 1024 + 1, 0x61));
      assert.equal(big.status, 413);
      const bad = await phpExchange(app.port(1), "POST", "/bitrix/pub/?CHANNEL_ID=zzz", Buffer.from("{}"));
      assert.equal(bad.status, 400);
      const garbage = await phpExchange(app.port(1), "POST", "/bitrix/pub/?binaryMode=true", Buffer.from([0x0a, 0x05, 0x00]));
      assert.equal(garbage.status, 400);
      assert.equal(garbage.body, "Malformed protobuf RequestBatch.");
      // The server is fine afterwards.
      const ok = await phpExchange(app.port(1), "POST", "/bitrix/pub/?binaryMode=true", encodeRequestBatch([{ serverStats: true }]));
      assert.equal(ok.status, 200);
      assert.equal(JSON.parse(decodeResponseBatch(ok.raw)[0]!.serverStats!)[0].pid, process.pid);
    });
  });

  test("while the message log cannot write: text, binary and browser publishes are refused with its status and explain, nothing is published", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pushwire-push2-log-"));
    try {
      await withPush2({ http: { messageLog: { path: dir } } }, async (app) => {
        const { alice, bob, goodSig } = await bobLongPolling(app);
        const full = new Refusal(507, "Message log cannot write (ENOSPC); publish refused.");
        app.push.ctx.messageLog!.failure = full;
        const text = await phpExchange(app.port(1), "POST", `/bitrix/pub/?CHANNEL_ID=${bob.privateId}`, Buffer.from('{"n":1}'));
        const binary = await phpExchange(app.port(1), "POST", "/bitrix/pub/?binaryMode=true", encodeRequestBatch([{ incomingMessages: [
          { receivers: [{ id: Buffer.from(bob.privateId, "hex"), isPrivate: true, signature: Buffer.alloc(0) }], sender: undefined, body: '{"n":2}', expiry: 60, type: "" },
        ] }]));
        const rest = await request(app.port(0), `/bitrix/rest/?CHANNEL_ID=${encodeURIComponent(alice.pair)}`, { method: "POST", body: clientPublish(['{"n":3}', [receiver(bob.publicId, goodSig!)]]) });
        for (const [reply, explain] of [[text, text.headers.get("x-nginx-pushstream-explain")], [binary, binary.headers.get("x-nginx-pushstream-explain")], [rest, rest.headers["x-nginx-pushstream-explain"]]] as const) {
          assert.equal(reply.status, 507);
          assert.equal(explain, full.explain);
        }
        assert.equal(app.push.ctx.broker.publishedMessages, 0, "nothing reached a channel");
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("presence: online while polling and for onlineTtl after the last poll ended (GET infos and protobuf channelStats)", async () => {
    await withPush2({ hold: "1s", http: { onlineTtl: "2s" } }, async (app, site) => {
      const c = new Push2Channels(signer);
      const other = new Push2Channels(signer);
      const online = async (): Promise<string[]> => {
        const reply = await phpExchange(app.port(1), "GET", `/bitrix/pub/?CHANNEL_ID=${c.privateId}/${other.privateId}`, Buffer.from(`${c.privateId}/${other.privateId}`));
        return (JSON.parse(reply.body) as { infos: Array<{ channel: string; subscribers: number }> }).infos.map((i) => `${i.channel}:${i.subscribers}`);
      };
      assert.deepEqual(await online(), []);
      const poll = openRequest(app.port(0), subPath(c.pair));
      await waitFor(() => (app.push.ctx.store.find(c.privateId)?.subscribers.size ?? 0) === 1);
      assert.deepEqual(await online(), [`${c.privateId}:1`]);
      assert.equal((await poll.reply).status, 304);
      assert.deepEqual(await online(), [`${c.privateId}:1`], "between polls, still online");
      const stats = await site.channelStats([c.privateId, other.privateId]);
      assert.deepEqual([...stats], [[c.privateId, true], [other.privateId, false]]);
      await sleep(2200);
      assert.deepEqual(await online(), [], "offline once the grace is over");
      assert.equal((await site.channelStats([c.privateId])).get(c.privateId), false);
    });
  });

  test("/server-stat/: one JSON object for the process with its connections", async () => {
    await withPush2({}, async (app) => {
      const c = new Push2Channels(signer);
      const poll = openRequest(app.port(0), subPath(c.shared));
      await waitFor(() => (app.push.ctx.store.find(c.sharedId)?.subscribers.size ?? 0) === 1);
      const reply = await request(app.port(1), "/server-stat/");
      assert.equal(reply.status, 200);
      const [stat] = JSON.parse(reply.text) as Array<Record<string, unknown>>;
      assert.equal(stat!["pid"], process.pid);
      assert.equal(stat!["pollings"], 1);
      assert.equal(stat!["websockets"], 0);
      assert.equal((stat!["limits"] as Record<string, unknown>)["maxConnPerChannel"], 100, "Push server 2.0's default");
      poll.reply.catch(() => {});
      poll.abort();
    });
  });
});

/** Two users; bob long-polls his pair, held; his public channel's signature for receivers. */
async function bobLongPolling(app: Running) {
  const alice = new Push2Channels(signer);
  const bob = new Push2Channels(signer);
  const poll = openRequest(app.port(0), subPath(bob.pair));
  await waitFor(() => (app.push.ctx.store.find(`public:${bob.publicId}`)?.subscribers.size ?? 0) === 1);
  const [, goodSig] = bob.signedPublic.split(".");
  return { alice, bob, poll, goodSig };
}

describe("bitrix-push2 /bitrix/rest/ (browser publishing)", () => {
  test("a public channel with a valid public: signature gets the message, with the client sender (never the backend's it claims)", async () => {
    await withPush2({}, async (app) => {
      const { alice, bob, poll, goodSig } = await bobLongPolling(app);
      const batch = encodeRequestBatch([{ incomingMessages: [
        { receivers: [receiver(bob.publicId, goodSig!)], sender: { type: SENDER_BACKEND, id: new Uint8Array(0) }, body: '{"n":"hello"}', expiry: 0, type: "" },
      ] }]);
      const rest = `/bitrix/rest/?CHANNEL_ID=${encodeURIComponent(`${alice.pair}/${alice.shared}`)}`;
      const sent = await request(app.port(0), rest, { method: "POST", body: batch, headers: { Origin: "http://x" } });
      assert.equal(sent.status, 200);
      assert.equal(sent.body.length, 0);
      assert.equal(sent.headers["access-control-allow-origin"], "*");
      const [message, ...more] = outgoing(await poll.reply);
      assert.equal(more.length, 0);
      assert.equal(message!.body, '{"n":"hello"}');
      assert.equal(message!.sender!.type, SENDER_CLIENT, "a browser cannot claim to be the backend");
      assert.equal(Buffer.from(message!.sender!.id).toString("hex"), alice.publicId);
    });
  });

  test("one bad receiver refuses the whole request, nothing is published: 400 '4021: Channel has an invalid signature.' / '4020: Private channel is not allowed.'", async () => {
    await withPush2({}, async (app) => {
      const { alice, bob, poll, goodSig } = await bobLongPolling(app);
      const good = receiver(bob.publicId, goodSig!);
      const rest = `/bitrix/rest/?CHANNEL_ID=${encodeURIComponent(alice.pair)}`;
      const refusals: Array<[Buffer, string]> = [
        [clientPublish(['{"n":"before the forged one"}', [good]], ['{"n":"forged"}', [good, receiver(bob.publicId, "00".repeat(20))]]), "4021: Channel has an invalid signature."],
        [clientPublish(['{"n":"unsigned"}', [receiver(bob.publicId, "")]]), "4021: Channel has an invalid signature."],
        [clientPublish(['{"n":"private"}', [good, receiver(bob.privateId, goodSig!, true)]]), "4020: Private channel is not allowed."],
        [encodeRequestBatch([{ channelStats: [receiver(bob.privateId, "", true)] }]), "4020: Private channel is not allowed."],
        [encodeRequestBatch([{ serverStats: true }]), "4014: Request command is not allowed."],
      ];
      for (const [body, text] of refusals) {
        const refused = await request(app.port(0), rest, { method: "POST", body, headers: { Origin: "http://x" } });
        assert.equal(refused.status, 400, text);
        assert.equal(refused.text, text);
        assert.equal(refused.headers["access-control-allow-origin"], "*");
      }
      await sleep(450); // past the poll's batching window: a message published by a refused request would be answered now
      assert.equal((await request(app.port(0), rest, { method: "POST", body: clientPublish(['{"n":"valid"}', [good]]) })).status, 200);
      assert.deepEqual(outgoing(await poll.reply).map((m) => m.body), ['{"n":"valid"}'], "only the request without a bad receiver was published");
    });
  });

  test("Push server 2.0's texts: no signed pair in CHANNEL_ID → 400 '4012: Public Channel Id is Required.'; not a RequestBatch → 400 '4013: Wrong Request Data.'", async () => {
    await withPush2({}, async (app) => {
      const alice = new Push2Channels(signer);
      const noPair = await request(app.port(0), `/bitrix/rest/?CHANNEL_ID=${alice.shared}`, { method: "POST", body: encodeRequestBatch([]) });
      assert.equal(noPair.status, 400);
      assert.equal(noPair.text, "4012: Public Channel Id is Required.");
      const garbage = await request(app.port(0), `/bitrix/rest/?CHANNEL_ID=${encodeURIComponent(alice.pair)}`, { method: "POST", body: Buffer.from([0x0a, 0x05, 0x00]) });
      assert.equal(garbage.status, 400);
      assert.equal(garbage.text, "4013: Wrong Request Data.");
    });
  });

  test("rate limit: clientRequestsPerSecond per address, then 429", async () => {
    await withPush2({ rest: { clientRequestsPerSecond: 3 } }, async (app) => {
      const alice = new Push2Channels(signer);
      const path = `/bitrix/rest/?CHANNEL_ID=${encodeURIComponent(alice.pair)}`;
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await request(app.port(0), path, { method: "POST", body: encodeRequestBatch([]) })).status);
      assert.deepEqual(statuses.slice(0, 3), [200, 200, 200]);
      assert.equal(statuses[4], 429);
    });
  });
});

describe("bitrix-push2 WebSocket", () => {
  afterEach(() => WsClient.destroyAll());

  test("binary mode: messages published within 400 ms leave in one ResponseBatch frame; resume by mid first", async () => {
    await withPush2({}, async (app, site) => {
      const c = new Push2Channels(signer);
      await site.publish([c.privateId], "message", { n: 1 });
      const [stored] = outgoing(await request(app.port(0), subPath(c.pair, `binaryMode=true&mid=${"0".repeat(26)}`)));
      await site.publish([c.privateId], "message", { n: 2 });
      const ws = await WsClient.upgrade(app.port(0), `/bitrix/subws/?CHANNEL_ID=${encodeURIComponent(`${c.pair}/${c.shared}`)}&binaryMode=true&mid=${midText(stored!.id)}`);
      const replay = await ws.nextFrame();
      assert.equal(replay.opcode, OP.binary);
      assert.deepEqual(outgoing(replay.payload).map((m) => bodyOf(m).params["n"]), [2]);
      await site.publish([c.privateId, c.sharedId], "message", { n: 3 });
      await site.publish([c.sharedId], "message", { n: 4 });
      const batch = await ws.nextFrame();
      assert.deepEqual(outgoing(batch.payload).map((m) => bodyOf(m).params["n"]), [3, 4], "one frame, one copy of a message sent to two of its channels");
      assert.equal((await ws.quietFor(600)).length, 0);
      assert.equal(app.push.ctx.store.find(c.privateId)!.subscribers.size, 1);
    });
  });

  test("text mode over WebSocket: envelopes with mid", async () => {
    await withPush2({}, async (app, site) => {
      const c = new Push2Channels(signer);
      const ws = await WsClient.upgrade(app.port(0), `/bitrix/subws/?CHANNEL_ID=${c.shared}`);
      await waitFor(() => (app.push.ctx.store.find(c.sharedId)?.subscribers.size ?? 0) === 1);
      await site.publish([c.sharedId], "message", { n: 7 });
      const text = await ws.nextText();
      assert.match(text, /^#!NGINXNMS!#\{"id":\d+,"mid":"\d{26}","channel":"-",.*"text":\{"module_id":"im".*\}#!NGINXNME!#$/);
    });
  });

  test("one path serves both transports (BitrixVM's nginx rewrites /bitrix/sub/ to /bitrix/subws/): a GET there long-polls, an upgrade on /bitrix/sub/ is a WebSocket", async () => {
    await withPush2({ hold: "1s" }, async (app, site) => {
      const c = new Push2Channels(signer);
      const poll = openRequest(app.port(0), `/bitrix/subws/?CHANNEL_ID=${c.shared}&binaryMode=true`);
      const ws = await WsClient.upgrade(app.port(0), `/bitrix/sub/?CHANNEL_ID=${c.shared}&binaryMode=true`);
      await waitFor(() => (app.push.ctx.store.find(c.sharedId)?.subscribers.size ?? 0) === 2);
      await site.publish([c.sharedId], "message", { n: 1 });
      const reply = await poll.reply;
      assert.equal(reply.status, 200);
      assert.deepEqual(outgoing(reply).map((m) => bodyOf(m).params["n"]), [1]);
      const frame = await ws.nextFrame();
      assert.equal(frame.opcode, OP.binary);
      assert.deepEqual(outgoing(frame.payload).map((m) => bodyOf(m).params["n"]), [1]);
    });
  });

  test("wrong channel ids: the socket is accepted and closed with 4010 \"4010: Wrong Channel Id.\" (Push server 2.0's reason)", async () => {
    await withPush2({}, async (app) => {
      const c = new Push2Channels(signer);
      const ws = await WsClient.upgrade(app.port(0), `/bitrix/subws/?CHANNEL_ID=${c.privateId}&binaryMode=true`);
      await assertClosedWith(ws, 4010, "4010: Wrong Channel Id.");
    });
  });

  test("pings every pingMessageInterval; a client that does not answer one is dropped, one that does stays", async () => {
    await withPush2({ ws: { pingMessageInterval: "1s" } }, async (app) => {
      const c = new Push2Channels(signer);
      const silent = await WsClient.upgrade(app.port(0), `/bitrix/subws/?CHANNEL_ID=${c.shared}&binaryMode=true`);
      const polite = await WsClient.upgrade(app.port(0), `/bitrix/subws/?CHANNEL_ID=${c.pair}&binaryMode=true`);
      assert.equal((await silent.nextFrame(2000)).opcode, OP.ping);
      assert.equal((await polite.nextFrame(2000)).opcode, OP.ping);
      polite.send(OP.pong);
      await silent.waitClosed(3000);
      assert.equal((await polite.nextFrame(2000)).opcode, OP.ping, "the answering client is pinged again, not dropped");
      assert.equal(app.push.ctx.store.find(c.sharedId)?.subscribers.size ?? 0, 0);
      assert.equal(app.push.ctx.store.find(c.privateId)!.subscribers.size, 1);
    });
  });

  test("a client that pings and never reads is cut once its pongs pass subscriberMaxBacklog, and its socket let go", async () => {
    const log = new RecordingLogger();
    await withPush2({ ws: { subscriberMaxBacklog: "64k", websocketMaxControlFramesPerSecond: 0 } }, async (app) => {
      const c = new Push2Channels(signer);
      const ws = await WsClient.upgrade(app.port(0), `/bitrix/subws/?CHANNEL_ID=${c.shared}&binaryMode=true`);
      const subscribed = (): boolean => (app.push.ctx.store.find(c.sharedId)?.subscribers.size ?? 0) === 1;
      await waitFor(subscribed, 2000, "the subscription");
      const sent = await ws.floodPingsWithoutReading(() => !subscribed(), 48 << 20);
      await waitFor(() => !subscribed(), 2000, "the client to be dropped");
      assert.ok(sent < 48 << 20, `dropped after ${sent} bytes of pings`);
      assert.ok(log.lines.some((l) => /^warn websocket subscriber \S+ dropped: \d+ bytes not read \(subscriberMaxBacklog 65536\)$/.test(l)), log.lines.join("\n"));
      await waitForNoConnections(app);
      assert.equal(app.push.ctx.held.size, 0);
    }, { log });
  });

  test("more than websocketMaxControlFramesPerSecond pongs in a second close with 1008 \"Too many control frames.\"", async () => {
    await withPush2({ ws: { websocketMaxControlFramesPerSecond: 3 } }, async (app) => {
      const c = new Push2Channels(signer);
      const ws = await WsClient.upgrade(app.port(0), `/bitrix/subws/?CHANNEL_ID=${c.shared}&binaryMode=true`);
      await ws.write(Buffer.concat(Array.from({ length: 4 }, () => encodeFrame(OP.pong))));
      const close = await ws.nextFrame();
      assert.equal(close.opcode, OP.close);
      assert.equal(close.closeCode, 1008);
      assert.equal(close.payload.subarray(2).toString(), "Too many control frames.");
      assert.equal(app.push.ctx.store.find(c.sharedId)?.subscribers.size ?? 0, 0, "the client left its channel");
    });
  });

  test("a client RequestBatch on the socket publishes to a signed public channel (as /bitrix/rest/ does)", async () => {
    await withPush2({}, async (app) => {
      const alice = new Push2Channels(signer);
      const bob = new Push2Channels(signer);
      const bobWs = await WsClient.upgrade(app.port(0), `/bitrix/subws/?CHANNEL_ID=${encodeURIComponent(bob.pair)}&binaryMode=true`);
      const aliceWs = await WsClient.upgrade(app.port(0), `/bitrix/subws/?CHANNEL_ID=${encodeURIComponent(alice.pair)}&binaryMode=true`);
      await waitFor(() => app.push.ctx.held.size === 2);
      const [pub, sig] = bob.signedPublic.split(".");
      aliceWs.send(OP.binary, encodeRequestBatch([{ incomingMessages: [{ receivers: [{ id: Buffer.from(pub!, "hex"), isPrivate: false, signature: Buffer.from(sig!, "hex") }], sender: undefined, body: JSON.stringify(JSON.parse(eventBody("im", "typing", { n: 1 }))), expiry: 0, type: "" }] }]));
      const [message] = outgoing((await bobWs.nextFrame()).payload);
      assert.equal(bodyOf(message!).params["n"], 1);
      assert.equal(message!.sender!.type, SENDER_CLIENT);
    });
  });

  test("a client RequestBatch with one bad receiver closes the socket with 4021 / 4020 and publishes nothing", async () => {
    await withPush2({}, async (app) => {
      const alice = new Push2Channels(signer);
      const bob = new Push2Channels(signer);
      const bobWs = await WsClient.upgrade(app.port(0), wsPath(bob.pair));
      const [, goodSig] = bob.signedPublic.split(".");
      const good = receiver(bob.publicId, goodSig!);
      const cases: Array<[Buffer, number, string]> = [
        [clientPublish(['{"n":1}', [good]], ['{"n":2}', [receiver(bob.publicId, "00".repeat(20)), good]]), 4021, "4021: Channel has an invalid signature."],
        [clientPublish(['{"n":3}', [good, receiver(bob.privateId, goodSig!, true)]]), 4020, "4020: Private channel is not allowed."],
      ];
      for (const [batch, code, reason] of cases) {
        const aliceWs = await WsClient.upgrade(app.port(0), wsPath(alice.pair));
        await waitFor(() => (app.push.ctx.store.find(alice.privateId)?.subscribers.size ?? 0) === 1);
        aliceWs.send(OP.binary, batch);
        await assertClosedWith(aliceWs, code, reason);
        await waitFor(() => (app.push.ctx.store.find(alice.privateId)?.subscribers.size ?? 0) === 0, 2000, "the closed socket to leave its channels");
      }
      assert.equal((await bobWs.quietFor(600)).length, 0, "nothing reached the valid receiver");
    });
  });

  test("Push server 2.0's close reasons for client frames: no signed pair → 4012 '4012: Public Channel Id is Required.'; not a RequestBatch → 4013 '4013: Wrong Request Data.'", async () => {
    await withPush2({}, async (app) => {
      const c = new Push2Channels(signer);
      const sharedOnly = await WsClient.upgrade(app.port(0), wsPath(c.shared));
      await waitFor(() => (app.push.ctx.store.find(c.sharedId)?.subscribers.size ?? 0) === 1);
      sharedOnly.send(OP.binary, encodeRequestBatch([]));
      await assertClosedWith(sharedOnly, 4012, "4012: Public Channel Id is Required.");
      const paired = await WsClient.upgrade(app.port(0), wsPath(c.pair));
      await waitFor(() => (app.push.ctx.store.find(c.privateId)?.subscribers.size ?? 0) === 1);
      paired.send(OP.binary, Buffer.from([0x0a, 0x05, 0x00]));
      await assertClosedWith(paired, 4013, "4013: Wrong Request Data.");
    });
  });
});

describe("bitrix-push2 connections per channel (maxConnPerChannel)", () => {
  afterEach(() => WsClient.destroyAll());

  test("a user's private channel holds maxConnPerChannel connections: one more closes the oldest (WebSocket 4029, long-poll 429 '4029: Too many connections'); the shared channel is unlimited", async () => {
    await withPush2({ hold: "4s", http: { maxConnPerChannel: 2 } }, async (app, site) => {
      const c = new Push2Channels(signer);
      const subscribers = (key: string): number => app.push.ctx.store.find(key)?.subscribers.size ?? 0;
      const oldest = await WsClient.upgrade(app.port(0), wsPath(`${c.pair}/${c.shared}`));
      await waitFor(() => subscribers(c.privateId) === 1);
      const poll = openRequest(app.port(0), subPath(c.pair), { headers: { Origin: "http://x" } });
      await waitFor(() => subscribers(c.privateId) === 2);
      const newest = await WsClient.upgrade(app.port(0), wsPath(c.pair));
      await assertClosedWith(oldest, 4029, "4029: Too many connections");
      assert.equal(subscribers(c.privateId), 2);
      assert.equal(subscribers(c.sharedId), 0, "the closed socket left all its channels");

      // The long-poll is the oldest now: the next connection pushes it out.
      const latest = openRequest(app.port(0), subPath(c.pair));
      const evicted = await poll.reply;
      assert.equal(evicted.status, 429);
      assert.equal(evicted.text, "4029: Too many connections");
      assert.equal(evicted.headers["access-control-allow-origin"], "*");
      await waitFor(() => subscribers(c.privateId) === 2);

      await site.publish([c.privateId], "message", { n: 1 });
      assert.deepEqual(outgoing((await newest.nextFrame()).payload).map((m) => bodyOf(m).params["n"]), [1]);
      assert.deepEqual(outgoing(await latest.reply).map((m) => bodyOf(m).params["n"]), [1], "the newer connections stay");

      const shared = [];
      for (let i = 0; i < 3; i++) shared.push(await WsClient.upgrade(app.port(0), wsPath(c.shared)));
      await waitFor(() => subscribers(c.sharedId) === 3);
      for (const ws of shared) assert.equal((await ws.quietFor(50)).length, 0, "no socket of the shared channel is closed");
    });
  });
});
