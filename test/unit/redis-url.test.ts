import { test } from "node:test";
import assert from "node:assert/strict";
import { parseRedisUrl } from "../../src/config/redis.js";

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
