import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseRedisUrl } from "../../src/config/redis.js";
import { locateMaster, RedisConnection, RedisReplyError, RedisUnavailable } from "../../src/redis/redis-connection.js";
import { sleep, waitFor } from "../support/helpers.js";
import { redisSkipReason, startRedis, startSentinel, type RunningRedis } from "../support/redis-server.js";

/**
 * pushwire's own Redis client (src/redis/) against a real redis-server on a free port: pipelined
 * commands, subscribe mode, and what happens when Redis goes away and comes back.
 */

const skip = redisSkipReason();

function commands(port: number, extra: { onReady?: () => void; onDown?: (error: Error) => void } = {}, url = `redis://127.0.0.1:${port}`): RedisConnection {
  return new RedisConnection(parseRedisUrl(url), { name: "commands", mode: "commands", ...extra });
}

async function ready(connection: RedisConnection): Promise<void> {
  await waitFor(() => connection.state === "ready", 5000, `redis ${connection.address.port} ready`);
}

describe("redis connection", { skip }, () => {
  let redis: RunningRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  test("pipelined commands: 200 at once, each reply to its own command; an error reply rejects only its command", async () => {
    const connection = commands(redis.port);
    try {
      await ready(connection);
      const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => connection.command(["INCRBY", "pipelined", i + 1])));
      assert.deepEqual(replies, Array.from({ length: 200 }, (_, i) => ((i + 1) * (i + 2)) / 2));
      assert.equal(await connection.command(["SET", "binary", Buffer.from([0, 13, 10, 255])]), "OK");
      assert.deepEqual(await connection.command(["GET", "binary"]), Buffer.from([0, 13, 10, 255]));
      assert.equal(await connection.command(["GET", "missing"]), null);
      const [wrong, fine] = await Promise.allSettled([connection.command(["LPUSH", "binary", "x"]), connection.command(["PING"])]);
      assert.ok(wrong.status === "rejected" && wrong.reason instanceof RedisReplyError && wrong.reason.reply.code === "WRONGTYPE");
      assert.deepEqual(fine, { status: "fulfilled", value: "PONG" });
    } finally {
      connection.close();
    }
  });

  test("subscribe mode: a message published through another connection arrives with its bytes; unsubscribe stops it", async () => {
    const received: string[] = [];
    const subscriber = new RedisConnection(parseRedisUrl(`redis://127.0.0.1:${redis.port}`), {
      name: "subscriber", mode: "subscriber", onMessage: (channel, message) => received.push(`${channel.toString()}=${message.toString()}`),
    });
    const publisher = commands(redis.port);
    try {
      subscriber.subscribe(["news", "sport"]);
      await ready(subscriber);
      await ready(publisher);
      let listeners = 0;
      for (const until = Date.now() + 3000; Date.now() < until && listeners !== 1; await sleep(20)) {
        listeners = (await publisher.command(["PUBSUB", "NUMSUB", "sport"]) as [Buffer, number])[1];
      }
      assert.equal(listeners, 1, "the subscription reached Redis");
      assert.equal(await publisher.command(["PUBLISH", "news", "привет"]), 1);
      assert.equal(await publisher.command(["PUBLISH", "weather", "none"]), 0);
      await waitFor(() => received.length === 1, 2000, "the message");
      assert.deepEqual(received, ["news=привет"]);
      subscriber.unsubscribe(["news"]);
      await sleep(100);
      assert.equal(await publisher.command(["PUBLISH", "news", "gone"]), 0);
      await assert.rejects(subscriber.command(["PING"]), /a subscriber connection sends no commands/);
    } finally {
      subscriber.close();
      publisher.close();
    }
  });

  test("Redis stopped: commands are refused at once (RedisUnavailable), onDown once; restarted: onReady again and subscriptions restored", async () => {
    const local = await startRedis();
    const events: string[] = [];
    const received: string[] = [];
    const connection = commands(local.port, { onReady: () => events.push("ready"), onDown: () => events.push("down") });
    const subscriber = new RedisConnection(parseRedisUrl(`redis://127.0.0.1:${local.port}`), {
      name: "subscriber", mode: "subscriber", onMessage: (_channel, message) => received.push(message.toString()),
    });
    subscriber.subscribe(["kept"]);
    try {
      await ready(connection);
      await ready(subscriber);
      await local.stop();
      await waitFor(() => connection.state !== "ready" && subscriber.state !== "ready", 3000, "both to notice");
      const started = Date.now();
      await assert.rejects(connection.command(["PING"]), RedisUnavailable);
      assert.ok(Date.now() - started < 50, "refused at once, not after a timeout");
      await sleep(700); // several reconnect attempts fail meanwhile
      assert.deepEqual(events, ["ready", "down"], "one down per loss, however many retries");
      await local.restart();
      await ready(connection);
      await ready(subscriber);
      assert.deepEqual(events, ["ready", "down", "ready"]);
      let delivered = 0;
      for (const until = Date.now() + 3000; Date.now() < until && delivered === 0; await sleep(50)) {
        delivered = await connection.command(["PUBLISH", "kept", "after the restart"]) as number;
      }
      assert.equal(delivered, 1, "the subscriber subscribed again by itself");
      await waitFor(() => received.includes("after the restart"), 2000, "the message after the restart");
    } finally {
      connection.close();
      subscriber.close();
      await local.stop();
    }
  });

  test("a master demoted to a replica answers writes READONLY: that command is rejected and the connection starts over", async () => {
    const other = await startRedis();
    const events: string[] = [];
    const connection = commands(redis.port, { onReady: () => events.push("ready"), onDown: (error) => events.push(`down: ${error.message}`) });
    try {
      await ready(connection);
      assert.equal(await connection.command(["REPLICAOF", "127.0.0.1", other.port]), "OK");
      await assert.rejects(connection.command(["SET", "demoted", "1"]), (error: unknown) => error instanceof RedisReplyError && error.reply.code === "READONLY");
      await waitFor(() => events.length === 3, 3000, "down, then ready again");
      assert.equal(events[0], "ready");
      assert.match(events[1]!, /^down: READONLY/);
      assert.equal(events[2], "ready");
      assert.equal(await connection.command(["REPLICAOF", "NO", "ONE"]), "OK");
      assert.equal(await connection.command(["SET", "promoted", "1"]), "OK");
    } finally {
      connection.close();
      await other.stop();
    }
  });

  test("a password from the URL logs in; a wrong one is refused and retried, never ready", async () => {
    const secured = await startRedis(undefined, ["--requirepass", "s3cret"]);
    const good = commands(secured.port, {}, `redis://:s3cret@127.0.0.1:${secured.port}/2`);
    const downs: string[] = [];
    const bad = commands(secured.port, { onDown: (error) => downs.push(error.message) }, `redis://:wrong@127.0.0.1:${secured.port}`);
    try {
      await ready(good);
      assert.equal(await good.command(["SET", "in-db-2", "yes"]), "OK");
      assert.deepEqual(await good.command(["CLIENT", "INFO"]).then((info) => /db=2/.test(String(info))), true);
      await waitFor(() => downs.length > 0, 3000, "the refusal");
      assert.match(downs[0]!, /login refused: WRONGPASS/);
      assert.notEqual(bad.state, "ready");
    } finally {
      good.close();
      bad.close();
      await secured.stop();
    }
  });

  test("through a Sentinel: the connection finds the master, and after the master is killed follows the promoted replica", async () => {
    const master = await startRedis();
    const replica = await startRedis(undefined, ["--replicaof", "127.0.0.1", String(master.port)]);
    const sentinel = await startSentinel(master.port, "pw");
    const events: string[] = [];
    const address = { host: "", port: 0, sentinel: { name: "pw", sentinels: [{ host: "127.0.0.1", port: 1 }, { host: "127.0.0.1", port: sentinel.port }] } };
    const connection = new RedisConnection(address, { name: "commands", mode: "commands", onReady: () => events.push(`ready ${address.port}`), onDown: () => events.push("down") });
    const probe = commands(sentinel.port);
    try {
      await ready(connection);
      assert.equal(address.port, master.port, "the first Sentinel is unreachable; the second names the master");
      assert.equal(await connection.command(["SET", "before", "1"]), "OK");
      // Replication is asynchronous: WAIT until the replica has it, as a caller would for what it must not lose.
      assert.equal(await connection.command(["WAIT", 1, 10_000]), 1, "the replica acknowledged the write");
      // The Sentinel must know the replica before it can promote it (it learns it from the master's INFO).
      await ready(probe);
      let replicas = 0;
      for (const until = Date.now() + 15_000; Date.now() < until && replicas === 0; await sleep(100)) {
        replicas = (await probe.command(["SENTINEL", "replicas", "pw"]) as unknown[]).length;
      }
      assert.equal(replicas, 1, "the Sentinel found the replica");
      master.child.kill("SIGKILL");
      await waitFor(() => events.includes("down"), 5000, "the loss");
      await waitFor(() => connection.state === "ready" && address.port === replica.port, 20_000, "the connection to follow the promoted replica");
      assert.equal(await connection.command(["SET", "after", "2"]), "OK", "the promoted replica takes writes");
      assert.deepEqual(await connection.command(["GET", "before"]), Buffer.from("1"), "what the master had, the replica has");
      assert.deepEqual(events, [`ready ${master.port}`, "down", `ready ${replica.port}`]);
      assert.deepEqual(await locateMaster(address.sentinel), { host: "127.0.0.1", port: replica.port });
    } finally {
      connection.close();
      probe.close();
      await sentinel.stop();
      await replica.stop();
      await master.stop();
    }
  });
});
