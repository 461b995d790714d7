import { isObject } from "./raw.js";
import { parseDuration } from "./units.js";

/** Where a Redis server is and how to log in (parsed from `redis://[user:password@]host[:port][/db]`). */
export interface RedisAddress {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  /**
   * Ask these Sentinels for the master named `name` before every connect (host and port above
   * are then only the last master found): after a failover the connection follows the promoted
   * replica.
   */
  sentinel?: { name: string; sentinels: ReadonlyArray<{ host: string; port: number }> };
}

/** A `redis://` URL as a RedisAddress; throws on anything else (the configuration check says why). */
export function parseRedisUrl(url: string): RedisAddress {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`not a URL: ${JSON.stringify(url)} (redis://host:port[/db])`);
  }
  if (parsed.protocol !== "redis:") throw new Error(`${JSON.stringify(url)}: only redis:// is supported (TLS to Redis is not)`);
  const address: RedisAddress = { host: parsed.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1", port: parsed.port ? Number(parsed.port) : 6379 };
  if (parsed.username) address.username = decodeURIComponent(parsed.username);
  if (parsed.password) address.password = decodeURIComponent(parsed.password);
  const path = parsed.pathname.replace(/^\//, "");
  if (path !== "") {
    if (!/^\d+$/.test(path)) throw new Error(`${JSON.stringify(url)}: the path must be a database number`);
    address.db = Number(path);
  }
  return address;
}

/** `broker: { redis: {...} }`: the nodes of a site share their channels through this Redis. */
export interface RedisBrokerConfig {
  /** redis://[user:password@]host[:port][/db]; with `sentinels`, only its login and database count. */
  url: string;
  /** Sentinels ("host:port") to ask where the master named `name` is; it is followed through failovers. */
  sentinels: string[];
  /** The master's name in the Sentinels' configuration. */
  name: string;
  /** Every key and the pub/sub channel start with it, so pushwire's keys sit apart from the site's. */
  keyPrefix: string;
  /** Seconds a Redis command may go unanswered before the connection is dropped and publishes are answered 503. */
  commandTimeout: number;
  /** Seconds the start waits for Redis before serving without it. */
  startTimeout: number;
  /**
   * Replicas that must have each publish before it is answered (Redis's WAIT; 0 = answer once the
   * master has it). Redis replicates asynchronously: a failover can lose what only the old master had.
   */
  waitReplicas: number;
  /** Seconds WAIT gives the replicas; a publish fewer replicas confirmed in time is answered 503. */
  waitTimeout: number;
}

export interface BrokerConfig {
  redis: RedisBrokerConfig;
}

export const REDIS_DEFAULTS = { url: "redis://127.0.0.1:6379", sentinels: [] as string[], name: "mymaster", keyPrefix: "pushwire:", commandTimeout: 5, startTimeout: 5, waitReplicas: 0, waitTimeout: 1 };

const REDIS_KEYS = ["url", "sentinels", "name", "keyPrefix", "commandTimeout", "startTimeout", "waitReplicas", "waitTimeout"];

/** Where the broker's Redis is: the URL's host, or the Sentinels' master. */
export function redisAddress(config: RedisBrokerConfig): RedisAddress {
  const address = parseRedisUrl(config.url);
  if (config.sentinels.length > 0) {
    address.sentinel = { name: config.name, sentinels: config.sentinels.map(parseHostPort) };
  }
  return address;
}

function parseHostPort(text: string): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(text);
  if (!match || Number(match[2]) < 1 || Number(match[2]) > 65535) throw new Error(`${JSON.stringify(text)}: must be "host:port"`);
  return { host: match[1]!, port: Number(match[2]) };
}

/** The `broker` block, checked; undefined (with errors pushed) when it is wrong. */
export function parseBroker(value: unknown, errors: string[], commentKey: string): BrokerConfig | undefined {
  if (!isObject(value) || !isObject(value["redis"])) {
    errors.push(`broker: must be an object like {"redis": {"url": "redis://127.0.0.1:6379"}}`);
    return undefined;
  }
  for (const key of Object.keys(value)) if (key !== "redis" && key !== commentKey) errors.push(`broker.${key}: unknown key (known: redis)`);
  const raw = value["redis"];
  const before = errors.length;
  for (const key of Object.keys(raw)) if (!REDIS_KEYS.includes(key) && key !== commentKey) errors.push(`broker.redis.${key}: unknown key (known: ${REDIS_KEYS.join(", ")})`);
  const config: RedisBrokerConfig = { ...REDIS_DEFAULTS, sentinels: [] };
  if (raw["url"] !== undefined) {
    if (typeof raw["url"] !== "string") errors.push("broker.redis.url: must be a redis:// URL");
    else config.url = raw["url"];
  }
  try {
    parseRedisUrl(config.url);
  } catch (error) {
    errors.push(`broker.redis.url: ${(error as Error).message}`);
  }
  if (raw["sentinels"] !== undefined) {
    const list = raw["sentinels"];
    if (!Array.isArray(list) || list.length === 0 || list.some((s) => typeof s !== "string")) errors.push(`broker.redis.sentinels: must be a non-empty list of "host:port"`);
    else {
      for (const s of list as string[]) {
        try {
          parseHostPort(s);
        } catch (error) {
          errors.push(`broker.redis.sentinels: ${(error as Error).message}`);
        }
      }
      config.sentinels = list as string[];
    }
  }
  if (raw["name"] !== undefined) {
    if (typeof raw["name"] !== "string" || raw["name"] === "") errors.push("broker.redis.name: must be the master's name in the Sentinels' configuration");
    else config.name = raw["name"];
  }
  if (raw["keyPrefix"] !== undefined) {
    if (typeof raw["keyPrefix"] !== "string" || raw["keyPrefix"] === "" || raw["keyPrefix"].length > 100) errors.push(`broker.redis.keyPrefix: must be a text of 1–100 characters (e.g. "pushwire:")`);
    else config.keyPrefix = raw["keyPrefix"];
  }
  if (raw["waitReplicas"] !== undefined) {
    const count = raw["waitReplicas"];
    if (typeof count !== "number" || !Number.isInteger(count) || count < 0 || count > 100) errors.push("broker.redis.waitReplicas: must be a whole number from 0 to 100");
    else config.waitReplicas = count;
  }
  for (const key of ["commandTimeout", "startTimeout", "waitTimeout"] as const) {
    if (raw[key] === undefined) continue;
    const seconds = parseDuration(raw[key]);
    if (seconds === undefined || seconds <= 0 || seconds > 3600) errors.push(`broker.redis.${key}: must be a duration from 1ms to 1h (e.g. "5s")`);
    else config[key] = seconds;
  }
  return errors.length > before ? undefined : { redis: config };
}
