import { test } from "node:test";
import assert from "node:assert/strict";
import { parseBroker, parseRedisUrl, redisAddress, REDIS_DEFAULTS } from "../../src/config/redis.js";

test("redis:// URLs: host, port (6379 by default), user and password (percent-decoded), database", () => {
  assert.deepEqual(parseRedisUrl("redis://10.0.0.5"), { host: "10.0.0.5", port: 6379 });
  assert.deepEqual(parseRedisUrl("redis://:p%40ss@redis.local:6380/3"), { host: "redis.local", port: 6380, password: "p@ss", db: 3 });
  assert.deepEqual(parseRedisUrl("redis://push:pw@[::1]:7000"), { host: "::1", port: 7000, username: "push", password: "pw" });
});

test("anything else is refused with the reason", () => {
  assert.throws(() => parseRedisUrl("localhost:6379"), /only redis:\/\/ is supported|not a URL/);
  assert.throws(() => parseRedisUrl("rediss://host"), /only redis:\/\/ is supported \(TLS to Redis is not\)/);
  assert.throws(() => parseRedisUrl("redis://host/db1"), /the path must be a database number/);
  assert.throws(() => parseRedisUrl("not a url"), /not a URL/);
});

const COMMENT = "//";

function broker(value: unknown): { config: ReturnType<typeof parseBroker>; errors: string[] } {
  const errors: string[] = [];
  return { config: parseBroker(value, errors, COMMENT), errors };
}

test("broker.redis: defaults for what is not given; Sentinels as host:port with the master's name", () => {
  assert.deepEqual(broker({ redis: {} }), { config: { redis: { ...REDIS_DEFAULTS, sentinels: [] } }, errors: [] });
  const { config } = broker({ redis: { url: "redis://:secret@10.0.0.9/2", sentinels: ["10.0.0.1:26379", "[::1]:26380"], name: "push", keyPrefix: "site1:", commandTimeout: "2s", waitReplicas: 1, waitTimeout: "500ms" } });
  assert.deepEqual(config!.redis, { url: "redis://:secret@10.0.0.9/2", sentinels: ["10.0.0.1:26379", "[::1]:26380"], name: "push", keyPrefix: "site1:", commandTimeout: 2, startTimeout: 5, waitReplicas: 1, waitTimeout: 0.5 });
  assert.deepEqual(redisAddress(config!.redis), {
    host: "10.0.0.9", port: 6379, password: "secret", db: 2,
    sentinel: { name: "push", sentinels: [{ host: "10.0.0.1", port: 26379 }, { host: "::1", port: 26380 }] },
  });
});

test("broker: every wrong value is named with what it should be", () => {
  assert.deepEqual(broker("redis://x").errors, ['broker: must be an object like {"redis": {"url": "redis://127.0.0.1:6379"}}']);
  assert.deepEqual(broker({ redis: {}, kafka: {} }).errors, ["broker.kafka: unknown key (known: redis)"]);
  assert.deepEqual(broker({ redis: { url: "http://x", sentinels: ["nohost"], name: "", keyPrefix: "", commandTimeout: "soon", waitReplicas: -1, hosts: 1 } }).errors, [
    "broker.redis.hosts: unknown key (known: url, sentinels, name, keyPrefix, commandTimeout, startTimeout, waitReplicas, waitTimeout)",
    'broker.redis.url: "http://x": only redis:// is supported (TLS to Redis is not)',
    'broker.redis.sentinels: "nohost": must be "host:port"',
    "broker.redis.name: must be the master's name in the Sentinels' configuration",
    'broker.redis.keyPrefix: must be a text of 1–100 characters (e.g. "pushwire:")',
    "broker.redis.waitReplicas: must be a whole number from 0 to 100",
    'broker.redis.commandTimeout: must be a duration from 1ms to 1h (e.g. "5s")',
  ]);
  assert.equal(broker({ redis: { sentinels: [] } }).errors[0], 'broker.redis.sentinels: must be a non-empty list of "host:port"');
});
