import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseRedisUrl } from "../../src/config/redis.js";
import { RedisConnection } from "../../src/redis/redis-connection.js";
import { EPOCH, freePort, openRequest, request, sleep, waitFor, type RawConfig, type Reply } from "../support/helpers.js";
import { launch, type Launched } from "../support/launch.js";
import { redisSkipReason, startRedis, type RunningRedis } from "../support/redis-server.js";
import { WsClient } from "../support/ws-client.js";

/**
 * pushwire nodes as an admin runs them — `dist/pushwire.js --redis URL`, each its own process —
 * sharing a real redis-server: a node killed with kill -9 under load, a node that stops reading
 * (Redis's client-output-buffer-limit cuts it; the others go on), and a node with workers.
 */

const skip = redisSkipReason();

interface Node {
  app: Launched;
  port: number;
}

async function launchNode(redisPort: number, args: string[] = [], extra: RawConfig = {}): Promise<Node> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "pushwire-redis-node-"));
  const file = join(dir, "pushwire.json");
  writeFileSync(file, JSON.stringify({
    maxMessagesStoredPerChannel: 1000,
    messageTtl: "1h",
    servers: [{
      listen: `127.0.0.1:${port}`,
      locations: [
        { path: "/sub", subscriber: "long-polling", channelsPath: "$arg_id", longpollingConnectionTtl: "3s" },
        { path: "/ws", subscriber: "websocket", channelsPath: "$arg_id" },
        { path: "/pub", publisher: "admin", channelsPath: "$arg_id", storeMessages: true },
      ],
    }],
    ...extra,
  }));
  const app = await launch(["--config", file, "--redis", `redis://127.0.0.1:${redisPort}`, ...args]);
  // With workers, "started" may first be a worker's line: wait for the primary's and every worker's.
  if (args.includes("--workers")) {
    await app.waitFor(/ workers=\d+ pids=/, 15_000);
    await app.waitFor(/worker 2: pushwire [^\n]* started/, 15_000);
  }
  return { app, port };
}

function publishTo(node: Node, channel: string, body: string): Promise<Reply> {
  return request(node.port, `/pub?id=${channel}`, { method: "POST", body });
}

function everything(node: Node, channel: string): Promise<Reply> {
  return request(node.port, `/sub?id=${channel}`, { headers: { "If-Modified-Since": EPOCH, "If-None-Match": "0" } });
}

/** Reads `count` text messages from a WebSocket. */
async function texts(socket: WsClient, count: number, ms = 10_000): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(await socket.nextText(ms));
  return out;
}

describe("Redis broker: nodes as processes", { skip }, () => {
  let redis: RunningRedis;
  let probe: RedisConnection;
  const running: Launched[] = [];

  async function node(args: string[] = [], extra: RawConfig = {}): Promise<Node> {
    const started = await launchNode(redis.port, args, extra);
    running.push(started.app);
    return started;
  }

  before(async () => {
    // A subscriber that stops reading is cut once 256 KB wait for it (Redis's default for pub/sub is 32 MB).
    redis = await startRedis(undefined, ["--client-output-buffer-limit", "pubsub 256kb 0 0"]);
    probe = new RedisConnection(parseRedisUrl(`redis://127.0.0.1:${redis.port}`), { name: "probe", mode: "commands" });
    await waitFor(() => probe.state === "ready", 5000, "probe ready");
  });
  after(async () => {
    for (const app of running) {
      app.child.kill("SIGCONT");
      await app.stop();
    }
    probe?.close();
    await redis?.stop();
  });

  test("a node killed with kill -9 while 300 messages go through another: none is lost there, and the node started again serves all of them", async () => {
    const a = await node();
    let b = await node();
    const onA = await WsClient.upgrade(a.port, "/ws?id=load");
    const onB = await WsClient.upgrade(b.port, "/ws?id=load");
    const replies: Array<Promise<Reply>> = [];
    for (let i = 0; i < 300; i++) {
      replies.push(publishTo(a, "load", `m${i}`));
      if (i === 100) b.app.child.kill("SIGKILL");
      if (i % 20 === 0) await sleep(5);
    }
    for (const reply of await Promise.all(replies)) assert.equal(reply.status, 200);
    assert.deepEqual(await texts(onA, 300), Array.from({ length: 300 }, (_, i) => `m${i}`), "every message, in order, on the surviving node");
    assert.equal(await b.app.exited, null, "killed by a signal");
    onB.socket.destroy();
    onA.socket.destroy();
    b = await node();
    const fromB = await everything(b, "load");
    assert.equal(fromB.text, Array.from({ length: 300 }, (_, i) => `m${i}`).join(""));
    assert.equal(fromB.headers["etag"], (await everything(a, "load")).headers["etag"]);
  });

  test("a node that stops reading is cut by Redis's client-output-buffer-limit; the other nodes' subscribers get every message at once, and the slow node catches up when it reads again", async () => {
    const a = await node();
    const slow = await node();
    const onA = await WsClient.upgrade(a.port, "/ws?id=bulk");
    // Enough to fill the kernel's socket buffers on loopback (a few MB) and then Redis's 256 KB.
    const body = "x".repeat(50_000);
    const numsub = async (): Promise<number> => ((await probe.command(["PUBSUB", "NUMSUB", "pushwire:messages"])) as [Buffer, number])[1];
    const nodesSubscribed = await numsub();
    slow.app.child.kill("SIGSTOP");
    try {
      const started = Date.now();
      for (let i = 0; i < 300; i++) assert.equal((await publishTo(a, "bulk", `${i} ${body}`)).status, 200);
      const got = await texts(onA, 300, 5000);
      assert.equal(got.length, 300);
      assert.ok(Date.now() - started < 5000, "the stopped node did not hold anyone up");
      // Redis cut the stopped node's subscription (15 MB waited for it); every other node's stays.
      let subscribers = nodesSubscribed;
      for (const until = Date.now() + 5000; Date.now() < until && subscribers !== nodesSubscribed - 1; await sleep(50)) subscribers = await numsub();
      assert.equal(subscribers, nodesSubscribed - 1, "Redis dropped the node that did not read");
    } finally {
      slow.app.child.kill("SIGCONT");
    }
    const from = slow.app.output().length;
    await slow.app.waitFor(/redis: subscribed at [^\n]*, \d+ new to this node/, 10_000, from);
    const caughtUp = await everything(slow, "bulk");
    assert.equal(caughtUp.text.split(body).length - 1, 300, "every message, after catching up");
    onA.socket.destroy();
  });

  test("a node with workers shares one Redis subscription among them: publishes cross both ways, deletion too", async () => {
    const single = await node();
    const machine = await node(["--workers", "2"]);
    assert.match(machine.app.output(), /workers=2 [^\n]*this primary holds the Redis subscription/);
    const held = [openRequest(machine.port, "/sub?id=both").reply, openRequest(machine.port, "/sub?id=both").reply, openRequest(machine.port, "/sub?id=both").reply];
    await sleep(300);
    const onSingle = await WsClient.upgrade(single.port, "/ws?id=both");
    assert.equal((await publishTo(single, "both", "to the workers")).status, 200);
    for (const reply of await Promise.all(held)) assert.equal(reply.text, "to the workers");
    assert.equal(await onSingle.nextText(), "to the workers");
    const reply = await publishTo(machine, "both", "from the workers");
    assert.equal(reply.status, 200);
    assert.match(reply.text, /"stored_messages": 2/, "answered once the worker has it");
    assert.equal(await onSingle.nextText(), "from the workers");
    for (let i = 0; i < 4; i++) assert.equal((await everything(machine, "both")).text, "to the workersfrom the workers", "every worker has both");
    assert.equal((await request(machine.port, "/pub?id=both", { method: "DELETE" })).status, 200);
    assert.equal(await onSingle.nextText(), "Channel deleted");
    await sleep(200);
    for (let i = 0; i < 4; i++) assert.equal((await request(machine.port, "/pub?id=both")).status, 404, "gone on every worker");
    onSingle.socket.destroy();
  });
});
