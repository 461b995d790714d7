import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EPOCH, freePort, openRequest, request, sleep, start, waitFor, type RawConfig, type Reply, type Running } from "../support/helpers.js";
import { parseRedisUrl } from "../../src/config/redis.js";
import { RedisConnection } from "../../src/redis/redis-connection.js";
import { redisSkipReason, startRedis, startSentinel, type RunningRedis } from "../support/redis-server.js";
import { TcpProxy } from "../support/tcp-proxy.js";
import { RecordingLogger } from "../support/context.js";
import { metricValue } from "../support/dashboard.js";
import { WsClient } from "../support/ws-client.js";

/**
 * Several pushwire nodes sharing their channels through a real redis-server (issue 16): each
 * node runs in this process on its own ports with its own Redis connections. A node whose
 * network to Redis a test takes away talks to Redis through a TcpProxy.
 */

const skip = redisSkipReason();

function nodeConfig(redisPort: number, extra: RawConfig = {}, redis: RawConfig = {}): RawConfig {
  return {
    maxMessagesStoredPerChannel: 20,
    messageTtl: "1h",
    broker: { redis: { url: `redis://127.0.0.1:${redisPort}`, keyPrefix: "test:", commandTimeout: "1s", startTimeout: "3s", ...redis } },
    servers: [
      {
        listen: "127.0.0.1:0",
        locations: [
          { path: "/sub", subscriber: "long-polling", channelsPath: "$arg_id", longpollingConnectionTtl: "3s" },
          { path: "/ws", subscriber: "websocket", channelsPath: "$arg_id" },
          { path: "/pub", publisher: "admin", channelsPath: "$arg_id", storeMessages: true },
          { path: "/metrics", metrics: true },
        ],
      },
    ],
    ...extra,
  };
}

function publishTo(node: Running, channel: string, body: string, headers: Record<string, string> = {}): Promise<Reply> {
  return request(node.port(), `/pub?id=${channel}`, { method: "POST", body, headers });
}

async function publishedOn(node: Running, channel: string, body: string): Promise<Reply> {
  const reply = await publishTo(node, channel, body);
  assert.equal(reply.status, 200, `publish ${body} to ${channel}: ${reply.headers["x-nginx-pushstream-explain"] ?? ""}`);
  return reply;
}

/** Everything the channel stores, as a client with no cursor asks for it. */
function everything(node: Running, channel: string): Promise<Reply> {
  return request(node.port(), `/sub?id=${channel}`, { headers: { "If-Modified-Since": EPOCH, "If-None-Match": "0" } });
}

/** The cursor a long-poll client sends after `reply`: its Last-Modified and Etag. */
function cursorOf(reply: Reply): Record<string, string> {
  return { "If-Modified-Since": String(reply.headers["last-modified"]), "If-None-Match": String(reply.headers["etag"]) };
}

/** Long-polls held on `node` (it answers none until a message comes). */
async function hold(node: Running, channel: string, count: number, headers: Record<string, string> = {}): Promise<Array<Promise<Reply>>> {
  const before = node.push.ctx.held.size;
  const replies = Array.from({ length: count }, () => openRequest(node.port(), `/sub?id=${channel}`, { headers }).reply);
  await waitFor(() => node.push.ctx.held.size === before + count, 3000, `${count} long-polls held`);
  return replies;
}

/** The node's stored messages on a channel: id, time, tag, body. */
function storedOn(node: Running, channel: string): string[] {
  const found = node.push.ctx.store.find(channel);
  if (!found) return [];
  const list = node.push.ctx.history.read(found);
  return Array.from({ length: list.length }, (_, i) => {
    const m = list.at(i)!;
    return `${m.id}/${m.time}/${m.tag}/${m.text.toString()}`;
  });
}

describe("Redis broker: several nodes", { skip }, () => {
  let redis: RunningRedis;
  const nodes: Running[] = [];
  const proxies: TcpProxy[] = [];

  async function node(extra: RawConfig = {}, redisPort = redis.port, redisExtra: RawConfig = {}, log?: RecordingLogger): Promise<Running> {
    const running = await start(nodeConfig(redisPort, extra, redisExtra), log ? { log } : {});
    nodes.push(running);
    return running;
  }

  /** A node whose Redis connections go through a proxy the test can cut or stall. */
  async function proxiedNode(extra: RawConfig = {}): Promise<{ node: Running; proxy: TcpProxy }> {
    const proxy = await TcpProxy.start(redis.port);
    proxies.push(proxy);
    return { node: await node(extra, proxy.port), proxy };
  }

  /**
   * Publishes through `from` and waits until every node connected to Redis applied the message:
   * the answer says only that `from` has (the others get it over their own subscriptions).
   */
  async function published(from: Running, channel: string, body: string): Promise<Reply> {
    const reply = await publishedOn(from, channel, body);
    const id = from.push.ctx.store.find(channel)!.lastMessageId;
    const live = (n: Running): boolean => n.push.ctx.broker.shared?.live === true;
    await waitFor(() => nodes.every((n) => !live(n) || (n.push.ctx.store.find(channel)?.lastMessageId ?? 0) >= id), 3000, `every node to apply ${channel} ${id}`);
    return reply;
  }

  async function closeNodes(): Promise<void> {
    for (const running of nodes.splice(0)) await running.close();
    for (const proxy of proxies.splice(0)) await proxy.close();
  }

  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await closeNodes();
    await redis?.stop();
  });

  test("a publish on one node reaches held long-polls and WebSockets on every node once, with one id, time and tag", async () => {
    try {
      const [a, b, c] = [await node(), await node(), await node()];
      const held = [...(await hold(b, "news", 2)), ...(await hold(c, "news", 2))];
      const socket = await WsClient.upgrade(c.port(), "/ws?id=news");
      await waitFor(() => c.push.ctx.store.find("news")?.subscribers.size === 3, 2000, "the WebSocket subscribed");

      const reply = await published(a, "news", "hello nodes");
      assert.match(reply.text, /"stored_messages": 1/, "the publishing node answers after it applied the message itself");
      const replies = await Promise.all(held);
      for (const r of replies) {
        assert.equal(r.status, 200);
        assert.equal(r.text, "hello nodes");
        assert.equal(r.headers["etag"], replies[0]!.headers["etag"]);
        assert.equal(r.headers["last-modified"], replies[0]!.headers["last-modified"]);
      }
      assert.equal(await socket.nextText(), "hello nodes");
      await sleep(150);
      assert.equal(socket.buffer.length, 0, "exactly once");
      socket.socket.destroy();
      const everywhere = storedOn(a, "news");
      assert.equal(everywhere.length, 1);
      assert.deepEqual(storedOn(b, "news"), everywhere);
      assert.deepEqual(storedOn(c, "news"), everywhere);
    } finally {
      await closeNodes();
    }
  });

  test("publishes through several nodes at once come out in one order on every node", async () => {
    try {
      const [a, b, c] = [await node(), await node(), await node()];
      const socketOnA = await WsClient.upgrade(a.port(), "/ws?id=order");
      const socketOnC = await WsClient.upgrade(c.port(), "/ws?id=order");
      const sends: Array<Promise<Reply>> = [];
      for (let i = 0; i < 30; i++) sends.push(publishTo([a, b, c][i % 3]!, "order", `m${i}`));
      for (const reply of await Promise.all(sends)) assert.equal(reply.status, 200);
      const seenOnA: string[] = [];
      const seenOnC: string[] = [];
      for (let i = 0; i < 30; i++) {
        seenOnA.push(await socketOnA.nextText());
        seenOnC.push(await socketOnC.nextText());
      }
      assert.deepEqual(seenOnC, seenOnA, "one order everywhere");
      assert.deepEqual([...seenOnA].sort(), Array.from({ length: 30 }, (_, i) => `m${i}`).sort());
      const ids = storedOn(b, "order").map((s) => Number(s.split("/")[0]));
      assert.deepEqual(ids, Array.from({ length: 20 }, (_, i) => i + 11), "ids 1..30, the last 20 kept (maxMessagesStoredPerChannel)");
      assert.deepEqual(storedOn(a, "order"), storedOn(b, "order"));
      assert.deepEqual(storedOn(c, "order"), storedOn(b, "order"));
      socketOnA.socket.destroy();
      socketOnC.socket.destroy();
    } finally {
      await closeNodes();
    }
  });

  test("a client that reconnects to another node with its cursor gets exactly what it missed; a node started later catches up from Redis", async () => {
    try {
      const [a, b] = [await node(), await node()];
      await published(a, "resume", "first");
      const first = await everything(a, "resume");
      assert.equal(first.text, "first");
      await published(b, "resume", "second");
      await published(a, "resume", "third");
      const cursor = cursorOf(first);
      const onB = await request(b.port(), "/sub?id=resume", { headers: cursor });
      assert.equal(onB.status, 200);
      assert.equal(onB.text, "secondthird", "everything after the cursor, from the other node");

      const late = await node();
      assert.deepEqual(storedOn(late, "resume"), storedOn(a, "resume"), "a node started later serves the same stored messages");
      const onLate = await request(late.port(), "/sub?id=resume", { headers: cursor });
      assert.equal(onLate.text, "secondthird");
      assert.equal(onLate.headers["etag"], onB.headers["etag"]);
    } finally {
      await closeNodes();
    }
  });

  test("deleting a channel on one node ends it on every node: subscribers get the deleted message, stored messages are gone, ids restart", async () => {
    try {
      const [a, b] = [await node(), await node()];
      await published(a, "gone", "one");
      await published(a, "gone", "two");
      const socket = await WsClient.upgrade(b.port(), "/ws?id=gone");
      await waitFor(() => b.push.ctx.store.find("gone")?.subscribers.size === 1, 2000, "subscribed on b");
      const deleted = await request(a.port(), "/pub?id=gone", { method: "DELETE" });
      assert.equal(deleted.status, 200);
      assert.equal(await socket.nextText(), "Channel deleted");
      await waitFor(() => storedOn(b, "gone").length === 0, 2000, "b dropped the channel's messages");
      assert.deepEqual(storedOn(a, "gone"), []);
      await published(b, "gone", "again");
      assert.equal(storedOn(a, "gone")[0]!.split("/")[0], "1", "ids restart at 1 after a deletion");
      socket.socket.destroy();
    } finally {
      await closeNodes();
    }
  });

  test("with the message log: a node restarted on its log catches up from Redis with what was published while it was down, no message twice", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pushwire-redis-log-"));
    try {
      const own = { keyPrefix: "logged:" }; // apart from the other tests' channels
      const a = await node({}, redis.port, own);
      let logged = await node({ messageLog: { path: dir } }, redis.port, own);
      await published(a, "logged", "one");
      await published(logged, "logged", "two");
      await waitFor(() => storedOn(logged, "logged").length === 2, 2000, "the logged node has both");
      await logged.close();
      nodes.splice(nodes.indexOf(logged), 1);
      await published(a, "logged", "three");
      logged = await node({ messageLog: { path: dir } }, redis.port, own);
      assert.equal(logged.push.restored?.messages, 2, "two messages replayed from its log");
      assert.deepEqual(storedOn(logged, "logged"), storedOn(a, "logged"), "the third from Redis, none twice");
      assert.equal((await everything(logged, "logged")).text, "onetwothree");
      await published(logged, "logged", "four");
      assert.equal((await everything(a, "logged")).text, "onetwothreefour");
    } finally {
      await closeNodes();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a message's TTL (Message-Expiry) holds on every node and in Redis", async () => {
    try {
      const [a, b] = [await node(), await node()];
      await published(a, "short", "kept");
      const reply = await publishTo(a, "short", "brief", { "Message-Expiry": "1" });
      assert.equal(reply.status, 200);
      assert.equal((await everything(b, "short")).text, "keptbrief");
      await sleep(2300);
      assert.equal((await everything(b, "short")).text, "kept", "expired on b");
      const late = await node();
      assert.equal((await everything(late, "short")).text, "kept", "a node starting now skips what expired");
    } finally {
      await closeNodes();
    }
  });

  test("a node cut off from Redis answers publishes 503 with the reason, keeps its subscribers held, and on reconnecting catches up with what other nodes published", async () => {
    try {
      const a = await node();
      const { node: b, proxy } = await proxiedNode();
      await published(a, "cut", "before");
      const first = await everything(b, "cut");
      const cursor = cursorOf(first);
      const metric = async (name: string): Promise<number> => metricValue((await request(b.port(), "/metrics")).text, name);
      assert.equal(await metric("pushwire_redis_up"), 1);
      const catchUps = await metric("pushwire_redis_catch_ups_total");
      assert.equal(await metric("pushwire_redis_caught_up_messages_total"), 0, "the start's load is not counted");
      proxy.cut();
      await waitFor(() => b.push.ctx.broker.unavailable !== undefined, 3000, "b sees Redis gone");
      assert.equal(await metric("pushwire_redis_up"), 0, "/metrics says Redis is down");
      const refused = await publishTo(b, "cut", "refused");
      assert.equal(refused.status, 503);
      assert.match(String(refused.headers["x-nginx-pushstream-explain"]), /^Redis \(127\.0\.0\.1:\d+\) is unreachable; the message was not published\.$/);
      const held = await hold(b, "cut", 1, cursor);
      await published(a, "cut", "while b was away");
      await sleep(300);
      assert.equal(b.push.ctx.held.size, 1, "still held: b has not heard of it yet");
      proxy.restore();
      const caughtUp = await held[0]!;
      assert.equal(caughtUp.status, 200);
      assert.equal(caughtUp.text, "while b was away", "the held subscriber got what was published meanwhile");
      assert.equal(await metric("pushwire_redis_up"), 1);
      assert.equal(await metric("pushwire_redis_catch_ups_total"), catchUps + 1);
      assert.equal(await metric("pushwire_redis_caught_up_messages_total"), 1, "the one message b's subscriber missed");
      assert.deepEqual(storedOn(b, "cut"), storedOn(a, "cut"));
      await published(b, "cut", "b publishes again");
      assert.equal((await everything(a, "cut")).text, "beforewhile b was awayb publishes again");
      assert.ok(!(await everything(a, "cut")).text.includes("refused"), "the refused publish went nowhere");
    } finally {
      await closeNodes();
    }
  });

  test("channels deleted while a node was cut off are deleted there when it returns: its subscriber gets the deleted message; one deleted and published again keeps only the new message", async () => {
    try {
      const a = await node();
      const { node: b, proxy } = await proxiedNode();
      await published(a, "away", "one");
      await published(a, "away", "two");
      await published(a, "again", "old");
      await waitFor(() => storedOn(b, "away").length === 2 && storedOn(b, "again").length === 1, 2000, "b has both channels");
      const socket = await WsClient.upgrade(b.port(), "/ws?id=away");
      await waitFor(() => b.push.ctx.store.find("away")?.subscribers.size === 1, 2000, "subscribed on b");
      proxy.cut();
      await waitFor(() => b.push.ctx.broker.unavailable !== undefined, 3000, "b sees Redis gone");
      assert.equal((await request(a.port(), "/pub?id=away", { method: "DELETE" })).status, 200);
      assert.equal((await request(a.port(), "/pub?id=again", { method: "DELETE" })).status, 200);
      await published(a, "again", "fresh");
      await sleep(200);
      assert.equal(storedOn(b, "away").length, 2, "b has not heard of it yet");
      proxy.restore();
      assert.equal(await socket.nextText(5000), "Channel deleted");
      await waitFor(() => storedOn(b, "again").length === 1 && storedOn(b, "again")[0]!.endsWith("/fresh"), 5000, "b caught up on the channel published again");
      assert.deepEqual(storedOn(b, "away"), []);
      assert.deepEqual(storedOn(b, "again"), storedOn(a, "again"));
      assert.equal(storedOn(b, "again")[0]!.split("/")[0], "1", "ids restarted with the deletion");
      socket.socket.destroy();
    } finally {
      await closeNodes();
    }
  });

  test("a node that cannot reach Redis at start serves after startTimeout: publishes answered 503, /metrics says so", async () => {
    try {
      const nowhere = await freePort();
      const started = Date.now();
      const lonely = await node({}, nowhere, { startTimeout: "300ms" });
      const waited = Date.now() - started;
      assert.ok(waited >= 250 && waited < 3000, `started after the start timeout (${waited} ms)`);
      const refused = await publishTo(lonely, "none", "x");
      assert.equal(refused.status, 503);
      assert.equal(refused.headers["x-nginx-pushstream-explain"], `Redis (127.0.0.1:${nowhere}) is unreachable; the message was not published.`);
      assert.equal(metricValue((await request(lonely.port(), "/metrics")).text, "pushwire_redis_up"), 0);
      assert.equal((await request(lonely.port(), "/sub?id=none", { headers: { "If-Modified-Since": EPOCH } })).status, 304, "subscribers are served meanwhile");
    } finally {
      await closeNodes();
    }
  });

  test("Redis's script cache emptied (SCRIPT FLUSH): the next publish sends the script whole and goes through; bytes on the channel that are not entries are logged and skipped", async () => {
    const probe = new RedisConnection(parseRedisUrl(`redis://127.0.0.1:${redis.port}`), { name: "probe", mode: "commands" });
    try {
      const log = new RecordingLogger();
      const [a, b] = [await node(), await node({}, redis.port, {}, log)];
      await waitFor(() => probe.state === "ready", 5000, "probe ready");
      assert.equal(await probe.command(["SCRIPT", "FLUSH"]), "OK");
      await published(a, "flushed", "after the flush");
      assert.equal(await probe.command(["PUBLISH", "test:messages", "not an entry"]), 2, "both nodes listen");
      await published(a, "flushed", "and after the noise");
      assert.equal((await everything(b, "flushed")).text, "after the flushand after the noise");
      assert.ok(log.lines.some((line) => /^error redis: an unreadable entry on test:messages \(an entry of unknown kind "n"\); skipped$/.test(line)), log.lines.join("\n"));
    } finally {
      probe.close();
      await closeNodes();
    }
  });

  test("a Redis that stops answering: publishes get 503 after commandTimeout, held subscribers still get their 304 on time; when it answers again all is well", async () => {
    try {
      const a = await node();
      const { node: b, proxy } = await proxiedNode();
      await published(b, "slow", "one");
      const head = await everything(b, "slow");
      const cursor = cursorOf(head);
      proxy.stall();
      const started = Date.now();
      const [timedOut] = await hold(b, "slow", 1, cursor);
      const refused = await publishTo(b, "slow", "stuck");
      const waited = Date.now() - started;
      assert.equal(refused.status, 503);
      assert.match(String(refused.headers["x-nginx-pushstream-explain"]), /Redis did not take the message: .*no reply in 1000 ms/);
      assert.ok(waited >= 900 && waited < 3000, `refused after the command timeout (${waited} ms)`);
      assert.equal((await timedOut!).status, 304, "the held long-poll ended on its own timeout");
      proxy.flow();
      await waitFor(() => b.push.ctx.broker.unavailable === undefined, 5000, "b reconnected");
      await published(a, "slow", "two");
      await waitFor(() => storedOn(b, "slow").length === storedOn(a, "slow").length, 3000, "b caught up");
      assert.deepEqual(storedOn(b, "slow"), storedOn(a, "slow"));
    } finally {
      await closeNodes();
    }
  });

  test("Redis restarted empty: publishes answer 503 while it is down; afterwards ids and stamps continue above what the nodes hold, and every node delivers", async () => {
    const own = await startRedis();
    try {
      const [a, b] = [await node({}, own.port), await node({}, own.port)];
      await published(a, "restart", "one");
      await published(a, "restart", "two");
      const head = await everything(b, "restart");
      await own.stop();
      await waitFor(() => a.push.ctx.broker.unavailable !== undefined, 3000, "a sees Redis gone");
      assert.equal((await publishTo(a, "restart", "lost")).status, 503);
      const cursor = cursorOf(head);
      const [onB] = await hold(b, "restart", 1, cursor);
      await own.restart();
      await waitFor(() => a.push.ctx.broker.unavailable === undefined, 6000, "a reconnected");
      await waitFor(() => (a.push.ctx.broker as unknown as { live: boolean }).live && (b.push.ctx.broker as unknown as { live: boolean }).live, 6000, "both caught up");
      await published(a, "restart", "three");
      const reply = await onB!;
      assert.equal(reply.text, "three", "b's held subscriber got the first message after the restart");
      const ids = storedOn(b, "restart").map((s) => Number(s.split("/")[0]));
      assert.deepEqual(ids, [1, 2, 3], "the id continues above the node's copy though Redis forgot the channel");
      assert.deepEqual(storedOn(a, "restart"), storedOn(b, "restart"));
    } finally {
      await closeNodes();
      await own.stop();
    }
  });

  test("Sentinel failover: the master is killed, the replica promoted; every publish answered 200 before (waitReplicas: 1) survives, and the nodes go on through the new master (a publish no replica confirmed is answered 503)", async () => {
    const master = await startRedis();
    const replica = await startRedis(undefined, ["--replicaof", "127.0.0.1", String(master.port)]);
    const sentinel = await startSentinel(master.port, "pw");
    const probe = new RedisConnection(parseRedisUrl(`redis://127.0.0.1:${sentinel.port}`), { name: "probe", mode: "commands" });
    try {
      const viaSentinel = { sentinels: [`127.0.0.1:${sentinel.port}`], name: "pw", waitReplicas: 1, waitTimeout: "300ms" };
      const [a, b] = [await node({}, master.port, viaSentinel), await node({}, master.port, viaSentinel)];
      for (let i = 1; i <= 5; i++) await published(a, "failover", `before${i}`);
      const head = await everything(b, "failover");
      assert.equal(head.text, "before1before2before3before4before5");
      // The Sentinel must know the replica before it can promote it (it learns it from the master's INFO).
      await waitFor(() => probe.state === "ready", 5000, "probe ready");
      let replicas = 0;
      for (const until = Date.now() + 15_000; Date.now() < until && replicas === 0; await sleep(100)) {
        replicas = ((await probe.command(["SENTINEL", "replicas", "pw"])) as unknown[]).length;
      }
      assert.equal(replicas, 1, "the Sentinel found the replica");
      const cursor = cursorOf(head);
      const [onB] = await hold(b, "failover", 1, cursor);
      master.child.kill("SIGKILL");
      await waitFor(() => a.push.ctx.broker.unavailable !== undefined, 5000, "a sees the master gone");
      assert.equal((await publishTo(a, "failover", "during")).status, 503, "refused while there is no master");
      const live = (n: Running): boolean => (n.push.ctx.broker as unknown as { live: boolean }).live;
      await waitFor(() => live(a) && live(b), 25_000, "both nodes on the promoted replica");
      // No replica is left to confirm it: the publish is answered 503 with the reason, though delivered.
      const after = await publishTo(a, "failover", "after");
      assert.equal(after.status, 503);
      assert.equal(after.headers["x-nginx-pushstream-explain"], "Redis replicated the message to 0 of 1 replicas in 300 ms; it may be lost in a failover.");
      const reply = await onB!;
      assert.equal(reply.text, "after", "b's held subscriber got the first message through the new master");
      const stored = storedOn(b, "failover");
      assert.deepEqual(stored.map((s) => s.split("/").slice(0, 1).concat(s.split("/").slice(3)).join(" ")), ["1 before1", "2 before2", "3 before3", "4 before4", "5 before5", "6 after"]);
      assert.deepEqual(storedOn(a, "failover"), stored);
      const late = await node({}, replica.port, viaSentinel);
      assert.deepEqual(storedOn(late, "failover"), stored, "the promoted replica has every acknowledged message");
    } finally {
      probe.close();
      await closeNodes();
      await sentinel.stop();
      await replica.stop();
      await master.stop();
    }
  });
});
